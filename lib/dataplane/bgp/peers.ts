import { isIPv6 } from 'node:net';
import { NextHopMode, ResolvedBgpPeer } from '../../model/calico/bgp';
import { canonicalAddress } from './wire/address';
import { BgpFilterSpec } from './rib/filter';
import { BgpPeerConfig } from './speaker';

/** A cluster node as the BGP layer needs it (Calico Node: spec.bgp and the RR cluster id). */
export interface BgpNode {
  readonly name: string;
  /** IPv4 address (no prefix length): its IPv4 sessions' address and its router id. */
  readonly address: string;
  /** IPv6 address (no prefix length; Node spec.bgp.ipv6Address): its IPv6 sessions' address. @default no IPv6 sessions */
  readonly address6?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Per-node AS (Calico Node spec.bgp.asNumber). @default the cluster AS */
  readonly asNumber?: number;
  /** Set on route reflectors (spec.bgp.routeReflectorClusterID). @default not a reflector */
  readonly routeReflectorClusterId?: string;
}

/** The cluster's BGP configuration (BGPConfiguration `default` plus the BGPPeer resources). */
export interface ClusterBgpConfig {
  /** @default 64512 */
  readonly asNumber?: number;
  /** @default true */
  readonly nodeToNodeMeshEnabled?: boolean;
  /** Port every node listens on (BGPConfiguration listenPort); node-to-node sessions connect to it. @default 179 */
  readonly listenPort?: number;
  /** Graceful-restart time advertised on mesh sessions. @default the speaker's (120) */
  readonly nodeMeshMaxRestartTime?: number;
  readonly peers?: readonly ResolvedBgpPeer[];
  /** BGPFilter resources by name. @default none */
  readonly filters?: Readonly<Record<string, BgpFilterSpec>>;
  /** Service CIDRs every node advertises (serviceClusterIPs, serviceExternalIPs, serviceLoadBalancerIPs). @default none */
  readonly serviceCidrs?: readonly string[];
}

export interface NodeBgpPlan {
  readonly routerId: string;
  readonly asn: number;
  readonly clusterId?: string;
  /** One session per peer address: IPv4 sessions (IPv4 unicast) and, on a node with an IPv6 address, IPv6 sessions (IPv6 unicast). */
  readonly peers: BgpPeerConfig[];
}

function passwordField(secret: string, key: string, passwordOf: (secretName: string, key: string) => string | undefined): { password: string } | { refuse: string } {
  const password = passwordOf(secret, key);
  return password ? { password } : { refuse: `password Secret ${secret} (key ${key}) is missing or unreadable` };
}

/** `ip`, `ip:port`, `[v6]:port` → address (canonical text) and port. */
export function splitPeerIp(text: string): { address: string; port?: number } {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (v6) return { address: canonicalAddress(v6[1]), port: Number(v6[2]) };
  const v4 = /^([\d.]+):(\d+)$/.exec(text);
  if (v4) return { address: v4[1], port: Number(v4[2]) };
  return { address: canonicalAddress(text) };
}

/**
 * Calico's mesh rule (confd's bird.cfg.template, bgp_processor.go): a node is passive towards a
 * peer whose address compares greater, as text, so each pair has one connecting side. Text
 * comparison is Calico's; keeping it lets these speakers mesh with real calico-node/BIRD nodes.
 * IPv6 sessions compare the IPv6 addresses (canonical text, as Calico's net.IP.String() writes them).
 */
export function meshPassive(localAddress: string, peerAddress: string): boolean {
  return peerAddress > localAddress;
}

/**
 * Who this node peers with (Calico semantics, calico.md §4): the full mesh with every other
 * non-reflector node when enabled and this node is not a reflector; BGPPeers selecting this node
 * (all nodes, `node`, or `nodeSelector`), towards an external `peerIP` or towards the nodes
 * `peerSelector` matches; from a reflector, same-AS nodes without its cluster id are its clients.
 * A later peering of an address already present is ignored (explicit peers come first).
 *
 * Per family, as confd writes bird.cfg and bird6.cfg: node peerings (mesh, peerSelector, their
 * reverse) are made over IPv4 between the nodes' IPv4 addresses and, where both nodes have an
 * IPv6 address, over IPv6 between those, sourced from this node's IPv6 address; a `peerIP` is one
 * session of its own family (an IPv6 one only from a node with an IPv6 address). The passive rule
 * compares the addresses of the session's family.
 */
export function planNodePeers(
  localName: string, nodes: readonly BgpNode[], cluster: ClusterBgpConfig,
  passwordOf: (secretName: string, key: string) => string | undefined = () => undefined,
): NodeBgpPlan {
  const found = nodes.find((n) => n.name === localName);
  if (!found) throw new Error(`bgp: node ${localName} is not registered (no BGP address)`);
  const local = withCanonicalAddresses(found);
  const clusterAs = cluster.asNumber ?? 64512;
  const asn = local.asNumber ?? clusterAs;
  const clusterId = local.routeReflectorClusterId;
  const peers = new Map<string, BgpPeerConfig>();
  const add = (p: BgpPeerConfig) => {
    if (p.address !== local.address && p.address !== local.address6 && !peers.has(p.address)) peers.set(p.address, p);
  };
  const filtersOf = (names: readonly string[]) => names.map((n) => cluster.filters?.[n]).filter((f): f is BgpFilterSpec => f !== undefined);
  const selectsLocal = (p: ResolvedBgpPeer) => (p.node !== undefined ? p.node === localName
    : p.nodeSelector !== undefined ? p.nodeSelector.matches(local.labels ?? {}) : true);
  /** The sessions with another node: over IPv4, and over IPv6 when both have an IPv6 address. */
  const addNode = (other: BgpNode, extra: Partial<BgpPeerConfig>): void => {
    const n = withCanonicalAddresses(other);
    const peerAs = n.asNumber ?? clusterAs;
    const client = clusterId !== undefined && peerAs === asn && n.routeReflectorClusterId !== clusterId;
    const port = cluster.listenPort !== undefined && cluster.listenPort !== 179 ? { port: cluster.listenPort } : {};
    const common = { ...port, asn: peerAs, ...(client ? { rrClient: true } : {}) };
    add({ address: n.address, ...common, passive: meshPassive(local.address, n.address), ...extra });
    if (local.address6 !== undefined && n.address6 !== undefined) {
      add({ address: n.address6, ...common, passive: meshPassive(local.address6, n.address6), localAddress: local.address6, ...extra });
    }
  };

  for (const p of cluster.peers ?? []) {
    // Node-to-node peerings are symmetric (Calico's confd): the nodes a peerSelector picks peer back
    // with every node the nodeSelector picks, which is how route reflectors learn their clients.
    const selectedAsPeer = p.peerSelector !== undefined && p.peerIp === undefined && p.peerSelector.matches(local.labels ?? {});
    if (!selectsLocal(p) && !selectedAsPeer) continue;
    const common: Partial<BgpPeerConfig> = {
      ...(p.nextHopMode !== NextHopMode.AUTO ? { nextHopMode: p.nextHopMode as 'Self' | 'Keep' } : {}),
      ...(p.maxRestartTimeSeconds !== undefined ? { maxRestartTime: p.maxRestartTimeSeconds } : {}),
      ...(p.filters.length ? { filters: filtersOf(p.filters) } : {}),
      // A password we cannot read refuses the peer loudly: never unauthenticated, never a wrong key.
      ...(p.password ? passwordField(p.password.secretName, p.password.key, passwordOf) : {}),
    };
    if (p.peerIp !== undefined) {
      const { address, port } = splitPeerIp(p.peerIp);
      const v6 = isIPv6(address);
      if (v6 && local.address6 === undefined) continue; // no IPv6 address to run an IPv6 session from
      add({ address, ...(port !== undefined ? { port } : {}), asn: p.asNumber ?? clusterAs, ...(v6 ? { localAddress: local.address6 } : {}), ...common });
    } else if (p.peerSelector) {
      const selects = (n: BgpNode) => (p.node !== undefined ? p.node === n.name : p.nodeSelector !== undefined ? p.nodeSelector.matches(n.labels ?? {}) : true);
      for (const n of nodes) {
        if (n.name === localName) continue;
        if ((selectsLocal(p) && p.peerSelector.matches(n.labels ?? {})) || (selectedAsPeer && selects(n))) addNode(n, common);
      }
    }
  }
  if ((cluster.nodeToNodeMeshEnabled ?? true) && clusterId === undefined) {
    for (const n of nodes) {
      if (n.name === localName || n.routeReflectorClusterId !== undefined) continue;
      addNode(n, cluster.nodeMeshMaxRestartTime !== undefined ? { maxRestartTime: cluster.nodeMeshMaxRestartTime } : {});
    }
  }
  return { routerId: local.address, asn, ...(clusterId ? { clusterId } : {}), peers: [...peers.values()] };
}

function withCanonicalAddresses(n: BgpNode): BgpNode {
  return n.address6 === undefined ? n : { ...n, address6: canonicalAddress(n.address6) };
}
