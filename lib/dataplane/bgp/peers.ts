import { NextHopMode, ResolvedBgpPeer } from '../../model/calico/bgp';
import { BgpFilterSpec } from './rib/filter';
import { BgpPeerConfig } from './speaker';

/** A cluster node as the BGP layer needs it (Calico Node: spec.bgp and the RR cluster id). */
export interface BgpNode {
  readonly name: string;
  /** IPv4 address (no prefix length). */
  readonly address: string;
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
  readonly peers: BgpPeerConfig[];
  /** The node's IPv6 address, next hop of its IPv6 routes (dual-stack). @default none */
  readonly ipv6NextHop?: string;
}

function passwordField(secret: string, key: string, passwordOf: (secretName: string, key: string) => string | undefined): { password: string } | { refuse: string } {
  const password = passwordOf(secret, key);
  return password ? { password } : { refuse: `password Secret ${secret} (key ${key}) is missing or unreadable` };
}

/** `ip`, `ip:port`, `[v6]:port` → address and port. */
export function splitPeerIp(text: string): { address: string; port?: number } {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (v6) return { address: v6[1], port: Number(v6[2]) };
  const v4 = /^([\d.]+):(\d+)$/.exec(text);
  if (v4) return { address: v4[1], port: Number(v4[2]) };
  return { address: text };
}

/**
 * Calico's mesh rule (confd's bird.cfg.template): a node is passive towards a peer whose address
 * compares greater, as text, so each pair has one connecting side. Text comparison is Calico's;
 * keeping it lets these speakers mesh with real calico-node/BIRD nodes.
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
 */
export function planNodePeers(
  localName: string, nodes: readonly BgpNode[], cluster: ClusterBgpConfig,
  passwordOf: (secretName: string, key: string) => string | undefined = () => undefined,
): NodeBgpPlan {
  const local = nodes.find((n) => n.name === localName);
  if (!local) throw new Error(`bgp: node ${localName} is not registered (no BGP address)`);
  const clusterAs = cluster.asNumber ?? 64512;
  const asn = local.asNumber ?? clusterAs;
  const clusterId = local.routeReflectorClusterId;
  const peers = new Map<string, BgpPeerConfig>();
  const add = (p: BgpPeerConfig) => {
    if (p.address !== local.address && !peers.has(p.address)) peers.set(p.address, p);
  };
  const filtersOf = (names: readonly string[]) => names.map((n) => cluster.filters?.[n]).filter((f): f is BgpFilterSpec => f !== undefined);
  const selectsLocal = (p: ResolvedBgpPeer) => (p.node !== undefined ? p.node === localName
    : p.nodeSelector !== undefined ? p.nodeSelector.matches(local.labels ?? {}) : true);
  const nodePeer = (n: BgpNode, extra: Partial<BgpPeerConfig>): BgpPeerConfig => {
    const peerAs = n.asNumber ?? clusterAs;
    const client = clusterId !== undefined && peerAs === asn && n.routeReflectorClusterId !== clusterId;
    const port = cluster.listenPort !== undefined && cluster.listenPort !== 179 ? { port: cluster.listenPort } : {};
    return { address: n.address, ...port, asn: peerAs, passive: meshPassive(local.address, n.address), ...(client ? { rrClient: true } : {}), ...extra };
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
      add({ address, ...(port !== undefined ? { port } : {}), asn: p.asNumber ?? clusterAs, ...common });
    } else if (p.peerSelector) {
      const selects = (n: BgpNode) => (p.node !== undefined ? p.node === n.name : p.nodeSelector !== undefined ? p.nodeSelector.matches(n.labels ?? {}) : true);
      for (const n of nodes) {
        if (n.name === localName) continue;
        if ((selectsLocal(p) && p.peerSelector.matches(n.labels ?? {})) || (selectedAsPeer && selects(n))) add(nodePeer(n, common));
      }
    }
  }
  if ((cluster.nodeToNodeMeshEnabled ?? true) && clusterId === undefined) {
    for (const n of nodes) {
      if (n.name === localName || n.routeReflectorClusterId !== undefined) continue;
      add(nodePeer(n, cluster.nodeMeshMaxRestartTime !== undefined ? { maxRestartTime: cluster.nodeMeshMaxRestartTime } : {}));
    }
  }
  return { routerId: local.address, asn, ...(clusterId ? { clusterId } : {}), peers: [...peers.values()] };
}
