import { isIPv4, isIP } from 'node:net';
import { ValidationError } from '../../model/errors';
import { canonicalPrefix } from './wire/address';
import { BgpPeerConfig, BgpSpeakerConfig } from './speaker';
import { BgpFilterSpec } from './rib/filter';
import { BgpPeerSpec, resolvePeer } from '../../model/calico/bgp';
import { ClusterBgpConfig } from './peers';

/** The standalone speaker's JSON configuration: `BgpSpeakerConfig` without the kernel. */
export type SpeakerFileConfig = Omit<BgpSpeakerConfig, 'kernel'>;

const SPEAKER_KEYS = ['routerId', 'asn', 'clusterId', 'listenAddress', 'listenPort', 'peers', 'localRoutes', 'gracefulRestartTime', 'holdTime', 'connectRetryTime', 'families', 'routeProtocol', 'routeMetric', 'kernelBatchMs', 'kernelResyncSeconds'];
const PEER_KEYS = ['address', 'port', 'asn', 'passive', 'rrClient', 'nextHopMode', 'password', 'maxRestartTime', 'filters', 'localAddress', 'families'];

function record(field: string, value: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValidationError(field, value, 'an object');
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new ValidationError(`${field}.${key}`, (value as Record<string, unknown>)[key], `one of the known keys (${keys.join(', ')})`);
  }
  return value as Record<string, unknown>;
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new ValidationError(field, value, `a whole number from ${min} to ${max}`);
  return value;
}

function optional<T>(value: unknown, check: (v: unknown) => T): T | undefined {
  return value === undefined ? undefined : check(value);
}

function ipv4(field: string, value: unknown): string {
  if (typeof value !== 'string' || !isIPv4(value)) throw new ValidationError(field, value, 'an IPv4 address');
  return value;
}

function ip(field: string, value: unknown): string {
  if (typeof value !== 'string' || !isIP(value)) throw new ValidationError(field, value, 'an IPv4 or IPv6 address');
  return value;
}

const asn = (field: string, v: unknown) => integer(field, v, 1, 4294967295);

function families(field: string, v: unknown): ('ipv4' | 'ipv6')[] {
  if (!Array.isArray(v) || !v.length || v.some((f) => f !== 'ipv4' && f !== 'ipv6')) throw new ValidationError(field, v, 'a non-empty list of ipv4, ipv6');
  return v as ('ipv4' | 'ipv6')[];
}

function peer(field: string, value: unknown): BgpPeerConfig {
  const p = record(field, value, PEER_KEYS);
  const nextHopMode = optional(p.nextHopMode, (v) => {
    if (v !== 'Auto' && v !== 'Self' && v !== 'Keep') throw new ValidationError(`${field}.nextHopMode`, v, 'Auto, Self or Keep');
    return v;
  });
  return {
    address: ip(`${field}.address`, p.address),
    asn: asn(`${field}.asn`, p.asn),
    port: optional(p.port, (v) => integer(`${field}.port`, v, 1, 65535)),
    passive: optional(p.passive, (v) => { if (typeof v !== 'boolean') throw new ValidationError(`${field}.passive`, v, 'true or false'); return v; }),
    rrClient: optional(p.rrClient, (v) => { if (typeof v !== 'boolean') throw new ValidationError(`${field}.rrClient`, v, 'true or false'); return v; }),
    nextHopMode,
    password: optional(p.password, (v) => { if (typeof v !== 'string' || !v) throw new ValidationError(`${field}.password`, '(hidden)', 'a non-empty string'); return v; }),
    maxRestartTime: optional(p.maxRestartTime, (v) => integer(`${field}.maxRestartTime`, v, 1, 4095)),
    filters: optional(p.filters, (v) => { if (!Array.isArray(v)) throw new ValidationError(`${field}.filters`, v, 'a list of BGPFilter specs'); return v as BgpFilterSpec[]; }),
    localAddress: optional(p.localAddress, (v) => ip(`${field}.localAddress`, v)),
    families: optional(p.families, (v) => families(`${field}.families`, v)),
  };
}

/** Validates the standalone speaker's configuration; every error names the field, the value and what is expected. */
export function parseSpeakerConfig(value: unknown, field = 'bgp'): SpeakerFileConfig {
  const c = record(field, value, SPEAKER_KEYS);
  if (!Array.isArray(c.peers)) throw new ValidationError(`${field}.peers`, c.peers, 'a list of peers');
  const localRoutes = optional(c.localRoutes, (v) => {
    if (!Array.isArray(v)) throw new ValidationError(`${field}.localRoutes`, v, 'a list of CIDRs');
    return v.map((r, i) => canonicalPrefix(typeof r === 'string' ? r : '') ?? (() => { throw new ValidationError(`${field}.localRoutes[${i}]`, r, 'a CIDR such as 10.244.1.0/26'); })());
  });
  return {
    routerId: ipv4(`${field}.routerId`, c.routerId),
    asn: asn(`${field}.asn`, c.asn),
    clusterId: optional(c.clusterId, (v) => ipv4(`${field}.clusterId`, v)),
    listenAddress: optional(c.listenAddress, (v) => ip(`${field}.listenAddress`, v)),
    listenPort: optional(c.listenPort, (v) => integer(`${field}.listenPort`, v, 0, 65535)),
    peers: c.peers.map((p, i) => peer(`${field}.peers[${i}]`, p)),
    localRoutes,
    gracefulRestartTime: optional(c.gracefulRestartTime, (v) => integer(`${field}.gracefulRestartTime`, v, 1, 4095)),
    holdTime: optional(c.holdTime, (v) => {
      const n = integer(`${field}.holdTime`, v, 0, 65535);
      if (n === 1 || n === 2) throw new ValidationError(`${field}.holdTime`, v, '0 or at least 3 seconds');
      return n;
    }),
    connectRetryTime: optional(c.connectRetryTime, (v) => integer(`${field}.connectRetryTime`, v, 1, 65535)),
    families: optional(c.families, (v) => families(`${field}.families`, v)),
    routeProtocol: optional(c.routeProtocol, (v) => integer(`${field}.routeProtocol`, v, 5, 255)),
    routeMetric: optional(c.routeMetric, (v) => integer(`${field}.routeMetric`, v, 0, 4294967295)),
    kernelResyncSeconds: optional(c.kernelResyncSeconds, (v) => integer(`${field}.kernelResyncSeconds`, v, 1, 86400)),
    kernelBatchMs: optional(c.kernelBatchMs, (v) => integer(`${field}.kernelBatchMs`, v, 0, 10000)),
  };
}

const CLUSTER_KEYS = ['asNumber', 'nodeToNodeMeshEnabled', 'listenPort', 'nodeMeshMaxRestartTime', 'serviceCidrs', 'peers', 'filters', 'speaker'];
const SERVICE_SPEAKER_KEYS = ['listenAddress', 'gracefulRestartTime', 'holdTime', 'connectRetryTime', 'families', 'routeProtocol', 'routeMetric', 'kernelBatchMs', 'kernelResyncSeconds'];

/**
 * The Calico-mode speaker's cluster file: BGPConfiguration fields, BGPPeers as the model writes
 * them (`BgpPeerSpec`), BGPFilters by name, and speaker timers.
 */
export function parseClusterFile(value: unknown, field = 'bgp'): { cluster: ClusterBgpConfig; speaker: Partial<SpeakerFileConfig> } {
  const c = record(field, value, CLUSTER_KEYS);
  const peers = optional(c.peers, (v) => {
    if (!Array.isArray(v)) throw new ValidationError(`${field}.peers`, v, 'a list of BGP peers');
    return v.map((p, i) => resolvePeer(p as BgpPeerSpec, `${field}.peers[${i}]`));
  });
  const serviceCidrs = optional(c.serviceCidrs, (v) => {
    if (!Array.isArray(v)) throw new ValidationError(`${field}.serviceCidrs`, v, 'a list of CIDRs');
    return v.map((r, i) => canonicalPrefix(typeof r === 'string' ? r : '') ?? (() => { throw new ValidationError(`${field}.serviceCidrs[${i}]`, r, 'a CIDR such as 10.96.0.0/12'); })());
  });
  const filters = optional(c.filters, (v) => {
    if (!Array.isArray(v)) throw new ValidationError(`${field}.filters`, v, 'a list of BGPFilter specs');
    return Object.fromEntries((v as BgpFilterSpec[]).map((f) => [f.name, f]));
  });
  const speakerFields = record(`${field}.speaker`, c.speaker ?? {}, SERVICE_SPEAKER_KEYS);
  // Validate the speaker timers with the speaker's own rules (a stand-in identity fills the required fields).
  const checked = parseSpeakerConfig({ ...speakerFields, routerId: '127.0.0.1', asn: 1, peers: [] }, field);
  const { routerId: _r, asn: _a, peers: _p, localRoutes: _l, ...speaker } = checked;
  return {
    // Only the fields the file sets: the rest comes from the datastore.
    cluster: {
      asNumber: optional(c.asNumber, (v) => asn(`${field}.asNumber`, v)),
      nodeToNodeMeshEnabled: optional(c.nodeToNodeMeshEnabled, (v) => { if (typeof v !== 'boolean') throw new ValidationError(`${field}.nodeToNodeMeshEnabled`, v, 'true or false'); return v; }),
      listenPort: optional(c.listenPort, (v) => integer(`${field}.listenPort`, v, 1, 65535)),
      nodeMeshMaxRestartTime: optional(c.nodeMeshMaxRestartTime, (v) => integer(`${field}.nodeMeshMaxRestartTime`, v, 1, 4095)),
      serviceCidrs, peers, filters,
    },
    speaker,
  };
}
