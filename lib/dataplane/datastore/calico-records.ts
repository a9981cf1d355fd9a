import { Cidr, isIpAddress } from '../../model/cidr';
import { ValidationError } from '../../model/errors';
import {
  BlockAffinitySpec, IpReservationSpec, IpamBlockSpec, IpamConfig, IpamConfigSpec, IpamHandleSpec, IpPoolSpec, Pool,
  checkBlock, resolveIpamConfig, resolvePool, reservedTest,
} from '../ipam/block-model';
import { CalicoNodeValue } from './kube/calico-node';
import { RecordKind } from './record-schemas';
import { RECORD_VALIDATORS } from './record-validators.generated';
import { BadRecordError, checkSchema, decodeJsonObject } from './records';
import { KeyValue } from './types';

/**
 * The one decoder of Calico records read from etcd or the Kubernetes API (values are the resource's
 * spec, keys `<plural>/<name>`): JSON, then the spec schema of the resource's own CRD
 * (`lib/crds/calico.ts`, so etcd mode is held to what the API server enforces; validators compiled
 * ahead of time, record-schemas.ts), then the checks a schema cannot express (the model's). A bad
 * record is a BadRecordError naming the key and field.
 */

type RecordText = Pick<KeyValue, 'key' | 'value'>;

function nameOf(kv: RecordText): string {
  return kv.key.slice(kv.key.indexOf('/') + 1);
}

/**
 * Runs a model check, turning its ValidationError into a BadRecordError of `key` (with
 * `fieldPrefix` taken off the field, so it is relative to the record).
 */
export function refuse<T>(key: string, check: () => T, fieldPrefix = ''): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ValidationError) {
      const field = fieldPrefix && error.field.startsWith(fieldPrefix) ? error.field.slice(fieldPrefix.length) : error.field;
      throw new BadRecordError(key, field, error.value, error.expected);
    }
    throw error;
  }
}

/** A record's spec checked against the CRD schema of `kind`. */
export function decodeCalicoSpec(kind: RecordKind, kv: RecordText): Record<string, unknown> {
  const value = decodeJsonObject(kv);
  checkSchema(kv.key, value, RECORD_VALIDATORS[kind]);
  return value;
}

/** IPPool: schema, then a network-address CIDR, a blockSize its family allows, known modes. */
export function decodePool(kv: RecordText): Pool {
  const spec = decodeCalicoSpec('IPPool', kv) as unknown as IpPoolSpec;
  const name = nameOf(kv);
  return refuse(kv.key, () => resolvePool(name, spec), `ippools/${name}.`);
}

/**
 * IPAMBlock: schema, then `checkBlock` (CIDR matching its name, allocations/unallocated consistent;
 * with `pools`, inside one of them with its blockSize).
 */
export function decodeBlock(kv: RecordText, pools?: readonly Pool[]): IpamBlockSpec {
  const spec = decodeCalicoSpec('IPAMBlock', kv) as unknown as IpamBlockSpec;
  refuse(kv.key, () => checkBlock(nameOf(kv), spec, pools));
  return spec;
}

export function decodeAffinity(kv: RecordText): BlockAffinitySpec {
  const spec = decodeCalicoSpec('BlockAffinity', kv) as unknown as BlockAffinitySpec;
  refuse(kv.key, () => checkCidrs('cidr', [spec.cidr]));
  return spec;
}

export function decodeHandle(kv: RecordText): IpamHandleSpec {
  const spec = decodeCalicoSpec('IPAMHandle', kv) as unknown as IpamHandleSpec;
  refuse(kv.key, () => checkCidrs('block', Object.keys(spec.block)));
  return spec;
}

export function decodeIpamConfig(kv: RecordText): IpamConfig {
  return resolveIpamConfig(decodeCalicoSpec('IPAMConfig', kv) as IpamConfigSpec);
}

export function decodeReservation(kv: RecordText): IpReservationSpec {
  const spec = decodeCalicoSpec('IPReservation', kv) as unknown as IpReservationSpec;
  refuse(kv.key, () => reservedTest([spec]), 'ipreservations.');
  return { reservedCIDRs: spec.reservedCIDRs ?? [] };
}

/** The etcd-mode Calico Node (`nodes/<name>`; Kubernetes mode: the store's view of the Node's annotations). */
export function decodeCalicoNode(kv: RecordText): CalicoNodeValue {
  const spec = decodeCalicoSpec('Node', kv) as CalicoNodeValue;
  const address = (field: string, text: string | undefined, family: 4 | 6, prefixed: boolean) => {
    if (text === undefined) return;
    const [ip, prefix, extra] = text.split('/');
    const okPrefix = prefixed ? prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)) : prefix === undefined;
    if (!isIpAddress(ip, family) || !okPrefix || extra !== undefined) {
      throw new BadRecordError(kv.key, field, text, `an IPv${family} address${prefixed ? ' (with its prefix length)' : ''}`);
    }
  };
  address('bgp.ipv4Address', spec.bgp?.ipv4Address, 4, true);
  address('bgp.ipv6Address', spec.bgp?.ipv6Address, 6, true);
  address('ipv4VXLANTunnelAddr', spec.ipv4VXLANTunnelAddr, 4, false);
  address('ipv6VXLANTunnelAddr', spec.ipv6VXLANTunnelAddr, 6, false);
  return spec;
}

function checkCidrs(field: string, cidrs: readonly string[]): void {
  for (const cidr of cidrs) Cidr.parse(cidr, field === 'block' ? `block[${JSON.stringify(cidr)}]` : field);
}
