import { Cidr, IpFamily, bigIntToAddress, addressToBigInt } from '../../model/cidr';
import { ValidationError } from '../../model/errors';
import { JsonObject, JsonValue } from '../datastore/types';

/**
 * flannel's `net-conf.json` (`pkg/subnet/config.go`): parsed, defaulted and validated the way
 * flannel's `ParseConfig` + `CheckNetworkConfig` do it, with these deliberate differences:
 * - A missing `Backend` means **vxlan** (flannel's code picks udp although its docs say vxlan).
 * - The subnet rules are checked in both datastore modes (flannel checks them only in etcd mode);
 *   a config that is wrong for one mode is wrong.
 * - `Network` must be a network address (flannel silently masks host bits), `SubnetMin` must not be
 *   above `SubnetMax`, and unknown or unsupported keys (`Networks`, `IPv6Networks`) are rejected
 *   instead of ignored: a typo must not silently change the network.
 * Field names are matched case-insensitively, as Go's encoding/json does.
 */
export interface FlannelNetConfig {
  /** Present when IPv4 is enabled (`EnableIPv4`, default true). */
  readonly ipv4?: SubnetRange;
  /** Present when IPv6 is enabled (`EnableIPv6`, default false). */
  readonly ipv6?: SubnetRange;
  /** `EnableNFTables` (default false): masquerade with nftables instead of iptables. */
  readonly enableNFTables: boolean;
  readonly backend: BackendConfig;
}

/** One family's pod network and the range node subnets are allocated from (etcd mode). */
export interface SubnetRange {
  readonly network: Cidr;
  /** Prefix length of one node's subnet. */
  readonly subnetLen: number;
  /** The lowest node subnet that may be allocated (default: the second one; the first is skipped). */
  readonly subnetMin: Cidr;
  /** The highest node subnet that may be allocated (default: the last one). */
  readonly subnetMax: Cidr;
}

export interface BackendConfig {
  /** Lower-cased backend type, e.g. `vxlan`, `host-gw`. */
  readonly type: string;
  /** The Backend object without `Type` (e.g. `{ VNI: 1, Port: 8472, DirectRouting: true }`). */
  readonly options: JsonObject;
}

/** flannel's default when `Backend` is omitted is udp; cnikit uses vxlan (what flannel documents). */
export const DEFAULT_BACKEND_TYPE = 'vxlan';

const KNOWN_KEYS = ['Network', 'IPv6Network', 'EnableIPv4', 'EnableIPv6', 'EnableNFTables', 'SubnetLen',
  'SubnetMin', 'SubnetMax', 'IPv6SubnetLen', 'IPv6SubnetMin', 'IPv6SubnetMax', 'Backend'] as const;
type KnownKey = (typeof KNOWN_KEYS)[number];

/**
 * Parses `text` (the content of net-conf.json or of etcd's `<prefix>/config`). Throws a
 * ValidationError whose field is `<source>.<Key>`.
 */
export function parseNetConfig(text: string, source = 'net-conf.json'): FlannelNetConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ValidationError(source, truncate(text), `a JSON object (${(error as Error).message})`);
  }
  if (!isObject(parsed)) throw new ValidationError(source, parsed, 'a JSON object such as {"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}');
  return netConfigFromObject(parsed, source);
}

/** Same as `parseNetConfig` for an already parsed object. */
export function netConfigFromObject(raw: JsonObject, source = 'net-conf.json'): FlannelNetConfig {
  const fields = normalizeKeys(raw, source);
  const enableIPv4 = optionalBoolean(fields, 'EnableIPv4', source) ?? true;
  const enableIPv6 = optionalBoolean(fields, 'EnableIPv6', source) ?? false;
  if (!enableIPv4 && !enableIPv6) {
    throw new ValidationError(`${source}.EnableIPv4`, false, 'IPv4 or IPv6 (EnableIPv6: true) to be enabled');
  }
  return {
    ipv4: enableIPv4 ? subnetRange(fields, 4, source) : undefined,
    ipv6: enableIPv6 ? subnetRange(fields, 6, source) : undefined,
    enableNFTables: optionalBoolean(fields, 'EnableNFTables', source) ?? false,
    backend: backendConfig(fields.Backend, `${source}.Backend`),
  };
}

/** The JSON object flannel would read for this config (defaults made explicit). */
export function netConfigToJson(config: FlannelNetConfig): JsonObject {
  const out: JsonObject = {};
  if (config.ipv4) {
    out.Network = config.ipv4.network.toString();
    out.SubnetLen = config.ipv4.subnetLen;
    out.SubnetMin = config.ipv4.subnetMin.address();
    out.SubnetMax = config.ipv4.subnetMax.address();
  } else {
    out.EnableIPv4 = false;
  }
  if (config.ipv6) {
    out.EnableIPv6 = true;
    out.IPv6Network = config.ipv6.network.toString();
    out.IPv6SubnetLen = config.ipv6.subnetLen;
    out.IPv6SubnetMin = config.ipv6.subnetMin.address();
    out.IPv6SubnetMax = config.ipv6.subnetMax.address();
  }
  if (config.enableNFTables) out.EnableNFTables = true;
  out.Backend = { Type: config.backend.type, ...config.backend.options };
  return out;
}

/** True when `subnet` is one flannel may allocate: right length, inside [SubnetMin, SubnetMax]. */
export function isSubnetInRange(range: SubnetRange, subnet: Cidr): boolean {
  return subnet.family === range.network.family && subnet.prefix === range.subnetLen
    && range.network.contains(subnet)
    && subnet.network >= range.subnetMin.network && subnet.network <= range.subnetMax.network;
}

function subnetRange(fields: Partial<Record<KnownKey, JsonValue>>, family: IpFamily, source: string): SubnetRange {
  const v6 = family === 6;
  const key = (name: 'Network' | 'SubnetLen' | 'SubnetMin' | 'SubnetMax'): KnownKey => (v6 ? `IPv6${name}` : name) as KnownKey;
  const networkField = `${source}.${key('Network')}`;
  const rawNetwork = fields[key('Network')];
  if (rawNetwork === undefined || rawNetwork === null || rawNetwork === '') {
    throw new ValidationError(networkField, rawNetwork ?? undefined,
      v6 ? 'an IPv6 CIDR such as fd00:10:244::/56 (EnableIPv6 is true)' : 'an IPv4 CIDR such as 10.244.0.0/16');
  }
  if (typeof rawNetwork !== 'string') throw new ValidationError(networkField, rawNetwork, v6 ? 'an IPv6 CIDR string' : 'an IPv4 CIDR string');
  const network = Cidr.parse(rawNetwork, networkField, family);
  const bits = v6 ? 128 : 32;
  const smallest = v6 ? 124 : 28; // four subnets of four addresses each
  const largestSubnetLen = v6 ? 126 : 30; // room for a gateway and a pod
  const defaultLen = v6 ? 64 : 24;

  const lenField = `${source}.${key('SubnetLen')}`;
  const rawLen = fields[key('SubnetLen')];
  let subnetLen: number;
  if (rawLen === undefined || rawLen === null || rawLen === 0) {
    if (network.prefix > smallest) {
      throw new ValidationError(networkField, rawNetwork, `a network of /${smallest} or larger (flannel needs at least four subnets of four addresses)`);
    }
    subnetLen = network.prefix <= defaultLen - 2 ? defaultLen : network.prefix + 2;
  } else {
    if (typeof rawLen !== 'number' || !Number.isInteger(rawLen) || rawLen < 0 || rawLen > bits) {
      throw new ValidationError(lenField, rawLen, `an integer prefix length between ${network.prefix + 2} and ${largestSubnetLen}`);
    }
    if (rawLen > largestSubnetLen) throw new ValidationError(lenField, rawLen, `at most ${largestSubnetLen} (each subnet needs a gateway and pods)`);
    if (rawLen < network.prefix + 2) {
      throw new ValidationError(lenField, rawLen, `at least ${network.prefix + 2}: the network ${network} must hold at least four subnets (the first is never used)`);
    }
    subnetLen = rawLen;
  }

  const size = 1n << BigInt(bits - subnetLen);
  const subnetMin = boundary(fields[key('SubnetMin')], `${source}.${key('SubnetMin')}`, network, subnetLen, network.network + size);
  const subnetMax = boundary(fields[key('SubnetMax')], `${source}.${key('SubnetMax')}`, network, subnetLen, network.last + 1n - size);
  if (subnetMin.network > subnetMax.network) {
    throw new ValidationError(`${source}.${key('SubnetMin')}`, subnetMin.address(), `an address not above ${key('SubnetMax')} ${subnetMax.address()}`);
  }
  return { network, subnetLen, subnetMin, subnetMax };
}

function boundary(raw: JsonValue | undefined, field: string, network: Cidr, subnetLen: number, fallback: bigint): Cidr {
  if (raw === undefined || raw === null || raw === '') return Cidr.fromBigInt(network.family, fallback, subnetLen);
  const family = network.family;
  const example = bigIntToAddress(family, network.network + (1n << BigInt(network.bits - subnetLen)));
  if (typeof raw !== 'string' || raw.includes('/') || (raw.includes(':') !== (family === 6))) {
    throw new ValidationError(field, raw, `an IPv${family} address inside ${network}, such as ${example}`);
  }
  const value = addressToBigInt(raw);
  if (value === undefined) throw new ValidationError(field, raw, `an IPv${family} address inside ${network}, such as ${example}`);
  if (!network.containsAddress(raw)) throw new ValidationError(field, raw, `an address inside the network ${network}`);
  const subnet = Cidr.fromBigInt(family, value, subnetLen);
  if (subnet.network !== value) throw new ValidationError(field, raw, `an address on a /${subnetLen} boundary, such as ${subnet.address()}`);
  return subnet;
}

function backendConfig(raw: JsonValue | undefined, field: string): BackendConfig {
  if (raw === undefined || raw === null) return { type: DEFAULT_BACKEND_TYPE, options: {} };
  if (!isObject(raw)) throw new ValidationError(field, raw, 'an object such as {"Type": "vxlan"}');
  let type: string | undefined;
  const options: JsonObject = {};
  for (const [name, value] of Object.entries(raw)) {
    if (name.toLowerCase() === 'type') {
      if (typeof value !== 'string' || value.trim() === '') throw new ValidationError(`${field}.Type`, value, 'a backend type such as "vxlan" or "host-gw"');
      type = value.trim().toLowerCase();
    } else {
      options[name] = value;
    }
  }
  if (type === undefined) throw new ValidationError(`${field}.Type`, undefined, 'a backend type such as "vxlan" or "host-gw"');
  return { type, options };
}

function normalizeKeys(raw: JsonObject, source: string): Partial<Record<KnownKey, JsonValue>> {
  const out: Partial<Record<KnownKey, JsonValue>> = {};
  for (const [name, value] of Object.entries(raw)) {
    const known = KNOWN_KEYS.find((k) => k.toLowerCase() === name.toLowerCase());
    if (!known) {
      const hint = /^(ipv6)?networks$/i.test(name) ? `no ${name} (multiple cluster CIDRs are not supported; use Network/IPv6Network)`
        : `only the keys ${KNOWN_KEYS.join(', ')}`;
      throw new ValidationError(`${source}.${name}`, value, hint);
    }
    out[known] = value;
  }
  return out;
}

function optionalBoolean(fields: Partial<Record<KnownKey, JsonValue>>, key: KnownKey, source: string): boolean | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw new ValidationError(`${source}.${key}`, value, 'true or false');
  return value;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
