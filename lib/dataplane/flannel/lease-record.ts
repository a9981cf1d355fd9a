import { Cidr, addressToBigInt, isIpAddress } from '../../model/cidr';
import { BadRecordError, decodeJsonObject } from '../datastore/records';
import { JsonValue } from '../datastore/types';
import { Lease, LeaseAttrs } from './lease';
import { FlannelNetConfig, SubnetRange } from './net-config';

/**
 * flannel's etcd lease encoding (`pkg/subnet/etcd/registry.go`, `pkg/lease`): the key under
 * `<prefix>/subnets/` and the JSON value. Pure functions; the etcd lease manager uses them.
 *
 * Key: `10.5.52.0-24`, dual-stack `10.5.52.0-24&fd00:5:52::-64`, IPv6-only `0.0.0.0-0&fd00::-64`.
 * Value: `{"PublicIP":"192.168.1.10","PublicIPv6":"fd00::10","BackendType":"vxlan",
 *          "BackendData":{"VNI":1,"VtepMAC":"…"},"BackendV6Data":{…}}` (PublicIP always present,
 *          `0.0.0.0` when unset; the others omitted when empty, as Go's `omitempty` does).
 */

export function subnetKey(subnet: Cidr | undefined, ipv6Subnet: Cidr | undefined): string {
  const v4 = subnet ? `${subnet.address()}-${subnet.prefix}` : '0.0.0.0-0';
  return ipv6Subnet ? `${v4}&${ipv6Subnet.address()}-${ipv6Subnet.prefix}` : v4;
}

/** The subnets a key names, or undefined when the key is not a subnet key. */
export function parseSubnetKey(key: string): { subnet?: Cidr; ipv6Subnet?: Cidr } | undefined {
  const [v4Text, v6Text, extra] = key.split('&');
  if (extra !== undefined) return undefined;
  const v4 = parsePart(v4Text, 4);
  if (v4 === undefined) return undefined;
  if (v6Text === undefined) return v4 === null ? undefined : { subnet: v4 };
  const v6 = parsePart(v6Text, 6);
  if (!v6) return undefined;
  return v4 === null ? { ipv6Subnet: v6 } : { subnet: v4, ipv6Subnet: v6 };
}

export function encodeLeaseAttrs(attrs: LeaseAttrs): string {
  const value: Record<string, JsonValue> = { PublicIP: attrs.publicIp ?? '0.0.0.0' };
  if (attrs.publicIpv6) value.PublicIPv6 = attrs.publicIpv6;
  if (attrs.backendType) value.BackendType = attrs.backendType;
  if (attrs.backendData !== undefined && attrs.backendData !== null) value.BackendData = attrs.backendData;
  if (attrs.backendV6Data !== undefined && attrs.backendV6Data !== null) value.BackendV6Data = attrs.backendV6Data;
  return JSON.stringify(value);
}

/** Decodes a lease value; a value that is not flannel's lease JSON is a BadRecordError naming `key` and the field. */
export function decodeLeaseAttrs(text: string, key: string): LeaseAttrs {
  const raw = decodeJsonObject({ key, value: text });
  const fields = new Map(Object.entries(raw as Record<string, JsonValue>).map(([k, v]) => [k.toLowerCase(), v]));
  const ip = (name: string, family: 4 | 6): string | undefined => {
    const value = fields.get(name.toLowerCase());
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string' || !isIpAddress(value, family)) throw new BadRecordError(key, name, value, `an IPv${family} address`);
    return addressToBigInt(value) === 0n ? undefined : value;
  };
  const backendType = fields.get('backendtype');
  if (backendType !== undefined && backendType !== null && typeof backendType !== 'string') {
    throw new BadRecordError(key, 'BackendType', backendType, 'a string');
  }
  const data = (name: string): JsonValue | undefined => {
    const value = fields.get(name);
    return value === null ? undefined : value;
  };
  return {
    publicIp: ip('PublicIP', 4),
    publicIpv6: ip('PublicIPv6', 6),
    backendType: (backendType ?? '').toLowerCase(),
    backendData: data('backenddata'),
    backendV6Data: data('backendv6data'),
  };
}

/**
 * Checks that a lease's subnets belong to the configured network: each must lie inside Network
 * (IPv6Network) and be a /SubnetLen (/IPv6SubnetLen); a family the config does not enable is not
 * looked at. Otherwise a BadRecordError naming `key` and the field.
 */
export function checkLeaseNetwork(config: FlannelNetConfig, key: string, lease: Pick<Lease, 'subnet' | 'ipv6Subnet'>): void {
  const check = (range: SubnetRange | undefined, subnet: Cidr | undefined, field: string, network: string): void => {
    if (!range || !subnet) return;
    if (subnet.family === range.network.family && subnet.prefix === range.subnetLen && range.network.contains(subnet)) return;
    throw new BadRecordError(key, field, subnet.toString(), `a /${range.subnetLen} inside ${network} ${range.network}`);
  };
  check(config.ipv4, lease.subnet, 'subnet', 'Network');
  check(config.ipv6, lease.ipv6Subnet, 'IPv6 subnet', 'IPv6Network');
}

/** `null` means the IPv4 placeholder `0.0.0.0-0` of an IPv6-only key; `undefined` means invalid. */
function parsePart(text: string, family: 4 | 6): Cidr | null | undefined {
  const dash = text.lastIndexOf('-');
  if (dash <= 0) return undefined;
  const address = text.slice(0, dash);
  const prefix = text.slice(dash + 1);
  if (family === 4 && address === '0.0.0.0' && prefix === '0') return null;
  if (!/^\d{1,3}$/.test(prefix) || !isIpAddress(address, family)) return undefined;
  try {
    return Cidr.parse(`${address}/${prefix}`, 'subnet key', family);
  } catch {
    return undefined;
  }
}
