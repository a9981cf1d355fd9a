import { decodeCalicoSpec, refuse } from '../datastore/calico-records';
import { RecordReader } from '../datastore/records';
import { KeyValue, KeyValueStore, ListResult } from '../datastore/types';
import { BgpPeerSpec, NextHopMode, resolvePeer } from '../../model/calico/bgp';
import { canonicalPrefix } from './wire/address';
import { BgpFilterRule, BgpFilterSpec } from './rib/filter';
import { ClusterBgpConfig } from './peers';

/** Where Calico keeps its BGP resources (same `<plural>/<name>` → spec layout as the IPAM keys). */
export const BGP_KEYS = {
  configurations: 'bgpconfigurations/',
  peers: 'bgppeers/',
  filters: 'bgpfilters/',
} as const;

type Json = Record<string, unknown>;
const EMPTY_LIST: ListResult = { items: [], revision: '0' };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** Calico durations (`120s`, `2m`, `1h30m`) in whole seconds; undefined when absent or unreadable. */
export function durationSeconds(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(h|m|s|ms)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== v) return undefined;
  const unit = { h: 3600, m: 60, s: 1, ms: 0.001 } as const;
  return Math.round(parts.reduce((n, p) => n + Number(p[1]) * unit[p[2] as keyof typeof unit], 0));
}

/** A BGPPeer spec as stored (Calico's wire field names) in the model's terms. */
export function peerFromResource(name: string, spec: Json): BgpPeerSpec {
  const password = spec.password as { secretKeyRef?: { name?: string; key?: string } } | undefined;
  return {
    name,
    ...(str(spec.peerIP) ? { peerIp: str(spec.peerIP) } : {}),
    ...(str(spec.peerSelector) ? { peerSelector: str(spec.peerSelector) } : {}),
    ...(num(spec.asNumber) !== undefined ? { asNumber: num(spec.asNumber) } : {}),
    ...(str(spec.node) ? { node: str(spec.node) } : {}),
    ...(str(spec.nodeSelector) ? { nodeSelector: str(spec.nodeSelector) } : {}),
    ...(password?.secretKeyRef?.name ? { passwordSecretName: password.secretKeyRef.name, passwordSecretKey: password.secretKeyRef.key ?? 'password' } : {}),
    ...(str(spec.nextHopMode) ? { nextHopMode: str(spec.nextHopMode) as NextHopMode } : {}),
    ...(durationSeconds(spec.maxRestartTime) !== undefined ? { maxRestartTimeSeconds: durationSeconds(spec.maxRestartTime) } : {}),
    ...(Array.isArray(spec.filters) ? { filters: spec.filters.filter((f): f is string => typeof f === 'string') } : {}),
  };
}

function filterFromResource(name: string, spec: Json): BgpFilterSpec {
  const rules = (v: unknown): BgpFilterRule[] | undefined => (Array.isArray(v) ? v.map((r) => r as BgpFilterRule) : undefined);
  return { name, exportV4: rules(spec.exportV4), importV4: rules(spec.importV4), exportV6: rules(spec.exportV6), importV6: rules(spec.importV6) };
}

/**
 * The cluster's BGP configuration from the datastore: BGPConfiguration `default`, every BGPPeer
 * and BGPFilter, each decoded against its CRD schema (then the model's checks for peers). A bad
 * record goes to `records` (reported once per revision, with one line naming the key and field),
 * which stands in its last good version when it saw one, so a peer corrupted in place keeps its
 * session and one bad peer never stops the others. `errors` has the kinds that could not be read.
 */
export async function readClusterBgpConfig(
  store: KeyValueStore, records: RecordReader = new RecordReader(() => undefined),
): Promise<{ cluster: ClusterBgpConfig; errors: string[] }> {
  const errors: string[] = [];
  // A datastore without one of these kinds (e.g. no BGPFilter CRD) still yields the others.
  const tolerant = <T>(what: string, read: () => Promise<T>, empty: T): Promise<T> => read().catch((e: Error) => {
    errors.push(`${what}: ${e.message.split('\n')[0]}`);
    return empty;
  });
  const [config, peers, filters] = await Promise.all([
    tolerant(BGP_KEYS.configurations, () => store.get(`${BGP_KEYS.configurations}default`), undefined),
    tolerant(BGP_KEYS.peers, () => store.list(BGP_KEYS.peers), EMPTY_LIST),
    tolerant(BGP_KEYS.filters, () => store.list(BGP_KEYS.filters), EMPTY_LIST),
  ]);
  const c = config ? records.decode(config, (kv) => decodeCalicoSpec('BGPConfiguration', kv), true) ?? {} : {};
  const cidrs = (v: unknown) => (Array.isArray(v) ? v.map((e) => canonicalPrefix(String((e as Json)?.cidr ?? ''))).filter((x): x is string => x !== undefined) : []);
  const resolvedPeers = records.read(BGP_KEYS.peers, peers.items, (kv: KeyValue) => {
    const name = kv.key.slice(BGP_KEYS.peers.length);
    const spec = decodeCalicoSpec('BGPPeer', kv);
    return refuse(kv.key, () => resolvePeer(peerFromResource(name, spec), `bgppeers/${name}.spec`), `bgppeers/${name}.spec.`);
  });
  const filterMap: Record<string, BgpFilterSpec> = {};
  for (const f of records.read(BGP_KEYS.filters, filters.items, (kv: KeyValue) => {
    const name = kv.key.slice(BGP_KEYS.filters.length);
    return filterFromResource(name, decodeCalicoSpec('BGPFilter', kv));
  })) filterMap[f.name] = f;
  return {
    cluster: {
      ...(num(c.asNumber) !== undefined ? { asNumber: num(c.asNumber) } : {}),
      ...(typeof c.nodeToNodeMeshEnabled === 'boolean' ? { nodeToNodeMeshEnabled: c.nodeToNodeMeshEnabled } : {}),
      ...(num(c.listenPort) !== undefined ? { listenPort: num(c.listenPort) } : {}),
      ...(durationSeconds(c.nodeMeshMaxRestartTime) !== undefined ? { nodeMeshMaxRestartTime: durationSeconds(c.nodeMeshMaxRestartTime) } : {}),
      serviceCidrs: [...cidrs(c.serviceClusterIPs), ...cidrs(c.serviceExternalIPs), ...cidrs(c.serviceLoadBalancerIPs)],
      peers: resolvedPeers,
      filters: filterMap,
    },
    errors,
  };
}
