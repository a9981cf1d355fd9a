import { createHash } from 'node:crypto';
import { Cidr } from '../../model/cidr';
import { DesiredDataplane, Refusal } from '../flannel/backend';
import { IpamBlockSpec, Pool, blockAllocations, blockHost } from '../ipam/block-model';
import { CalicoNodeValue } from '../datastore/kube/calico-node';
import { FdbEntry, LinkSpec, Neighbour, Route, RuleSet } from '../kernel/types';

/**
 * The Calico-style routing layer as a pure function: from pools, blocks (with affinities and
 * borrowed addresses) and registered nodes to the kernel objects Felix would program. Applied by
 * the flannel reconciler (same diff rules: only owned links and protocol-80 routes change).
 */

/** Felix's route protocol (`proto 80`): every route of the agent carries it, and only those are touched. */
export const CALICO_ROUTE_PROTOCOL = 80;
export const VXLAN_DEVICE = 'vxlan.calico';
/**
 * Felix's IPv6 VXLAN device (dataplanedefs.VXLANIfaceNameV6): IPv6 pools in VXLAN mode are carried
 * over the nodes' IPv6 addresses, with the same VNI and UDP port as vxlan.calico (Felix has one
 * `vxlanVNI` and one `vxlanPort`; the kernel tells the two devices apart by their underlay family).
 */
export const VXLAN_DEVICE_V6 = 'vxlan-v6.calico';
/** Felix's default VXLAN network identifier (FelixConfiguration `vxlanVNI`; felix-config.ts). */
export const DEFAULT_VXLAN_VNI = 4096;
/** Felix's default VXLAN UDP port (FelixConfiguration `vxlanPort`). */
export const DEFAULT_VXLAN_PORT = 4789;
export const VXLAN_OVERHEAD = 50;
/** VXLAN over an IPv6 underlay (Felix's vxlanV6MTUOverhead): outer IPv6 header 40 + UDP 8 + VXLAN 8 + inner Ethernet 14. */
export const VXLAN_OVERHEAD_V6 = 70;
export const IPIP_DEVICE = 'tunl0';
export const NAT_RULESET = 'cnikit-calico';

/** Calico's Node spec (plus labels), as registered by each agent (`nodes/<name>`; Kubernetes: the Node's annotations). */
export type CalicoNodeSpec = CalicoNodeValue;

export interface CalicoNode {
  readonly name: string;
  readonly spec: CalicoNodeSpec;
}

export interface RoutingInput {
  readonly node: string;
  /** This node's address with its subnet prefix, e.g. `10.0.1.2/24` (CrossSubnet decides on it). */
  readonly nodeAddress: string;
  /** The interface that holds `nodeAddress` (unencapsulated routes and the VXLAN underlay). */
  readonly uplink: string;
  readonly uplinkMtu: number;
  readonly pools: readonly Pool[];
  readonly blocks: readonly IpamBlockSpec[];
  readonly nodes: readonly CalicoNode[];
  /** This node's VXLAN tunnel address (when a pool uses VXLAN). */
  readonly vxlanTunnelAddress?: string;
  /**
   * This node's IPv6 address with its prefix, e.g. `fd00:99::11/64` (IP6=autodetect): the underlay of
   * vxlan-v6.calico and what CrossSubnet compares for IPv6 pools. @default none: no IPv6 VXLAN, and
   * IPv6 blocks of other nodes are routed only by BGP
   */
  readonly nodeAddress6?: string;
  /** The interface that holds `nodeAddress6`. @default uplink */
  readonly uplink6?: string;
  /** Its MTU. @default uplinkMtu */
  readonly uplinkMtu6?: number;
  /** This node's IPv6 VXLAN tunnel address (from its IPv6 block, when an IPv6 pool uses VXLAN). */
  readonly vxlanTunnelAddress6?: string;
  /**
   * This node's IPIP tunnel address, set only when the kernel has the `ipip` module (the agent
   * refuses IPIP pools at start-up otherwise): `tunl0` is the module's own device.
   */
  readonly ipipTunnelAddress?: string;
  /**
   * CALICO_NETWORKING_BACKEND=bird: remote blocks of unencapsulated pools are learned and
   * programmed by the BGP speaker (lib/dataplane/bgp, proto 186), as BIRD does beside Felix. @default false
   */
  readonly bgp?: boolean;
  /** FelixConfiguration `vxlanVNI` (effectiveFelixSettings().settings.vxlanVni). @default DEFAULT_VXLAN_VNI */
  readonly vxlanVni?: number;
  /** FelixConfiguration `vxlanPort`. @default DEFAULT_VXLAN_PORT */
  readonly vxlanPort?: number;
  /** FelixConfiguration `vxlanMTU`: the MTU of vxlan.calico; 0 = uplinkMtu − VXLAN_OVERHEAD. @default 0 */
  readonly vxlanMtu?: number;
  /** FelixConfiguration `vxlanMTUV6`: the MTU of vxlan-v6.calico; 0 = uplinkMtu6 − VXLAN_OVERHEAD_V6. @default 0 */
  readonly vxlanMtu6?: number;
  /**
   * FelixConfiguration `vxlanEnabled`: false = no vxlan.calico and no IPv4 VXLAN routes, whatever
   * the pools say. IPv6 VXLAN follows the IPv6 pools only, as in Felix (its VXLANEnabledV6 is
   * computed from the pools and ignores this field). @default undefined: follow the pools (Felix's default)
   */
  readonly vxlanEnabled?: boolean;
  /** FelixConfiguration `ipipEnabled`: false = no tunl0 address and no IPIP routes. @default undefined: follow the pools */
  readonly ipipEnabled?: boolean;
}

/**
 * A stable, locally administered VTEP MAC per node and device (Felix stores a random one or hashes
 * the node name, `<node>-v6` for IPv6; a hash needs no state). IPv4 and IPv6 MACs differ.
 */
export function vtepMac(node: string, family: 4 | 6 = 4): string {
  const bytes = createHash('sha1').update(`${family === 6 ? VXLAN_DEVICE_V6 : VXLAN_DEVICE}/${node}`).digest().subarray(0, 5);
  return ['66', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** An enabled pool of that family uses VXLAN (Always or CrossSubnet): the family's VXLAN device is needed. */
export function usesVxlan(pools: readonly Pool[], family: 4 | 6 = 4): boolean {
  return pools.some((p) => p.cidr.family === family && !p.disabled && p.vxlanMode !== 'Never');
}

export function usesIpip(pools: readonly Pool[]): boolean {
  return pools.some((p) => p.cidr.family === 4 && !p.disabled && p.ipipMode !== 'Never');
}

interface Peer {
  readonly name: string;
  readonly ip?: string;
  readonly sameSubnet: boolean;
  readonly tunnel?: string;
  readonly mac?: string;
  /** The IPv6 side: the node's IPv6 address (vxlan-v6.calico's underlay), its IPv6 VTEP. */
  readonly ip6?: string;
  readonly sameSubnet6: boolean;
  readonly tunnel6?: string;
  readonly mac6?: string;
}

export function desiredRouting(input: RoutingInput): DesiredDataplane {
  const local = Cidr.parse(networkOf(input.nodeAddress), 'nodeAddress');
  const nodeIp = input.nodeAddress.split('/')[0];
  const local6 = input.nodeAddress6 ? Cidr.parse(networkOf(input.nodeAddress6), 'nodeAddress6') : undefined;
  const nodeIp6 = input.nodeAddress6?.split('/')[0];
  const uplink6 = input.uplink6 ?? input.uplink;
  const peers = new Map<string, Peer>();
  for (const n of input.nodes) {
    const ip = n.spec.bgp?.ipv4Address?.split('/')[0] || undefined;
    const ip6 = n.spec.bgp?.ipv6Address?.split('/')[0] || undefined;
    if (n.name === input.node || (!ip && !ip6)) continue;
    peers.set(n.name, {
      name: n.name, ip, sameSubnet: ip !== undefined && local.containsAddress(ip), tunnel: n.spec.ipv4VXLANTunnelAddr, mac: n.spec.vxlanTunnelMACAddr,
      ip6, sameSubnet6: ip6 !== undefined && local6 !== undefined && local6.containsAddress(ip6), tunnel6: n.spec.ipv6VXLANTunnelAddr, mac6: n.spec.vxlanTunnelMACAddrV6,
    });
  }
  const vxlan = input.vxlanEnabled !== false && usesVxlan(input.pools) && input.vxlanTunnelAddress !== undefined;
  const vxlan6 = usesVxlan(input.pools, 6) && input.vxlanTunnelAddress6 !== undefined && nodeIp6 !== undefined;
  const ipipAddress = input.ipipEnabled === false ? undefined : input.ipipTunnelAddress;
  const routes: Route[] = [];
  const neighbours = new Map<string, Neighbour>();
  const fdb = new Map<string, FdbEntry>();
  const refusals: Refusal[] = [];
  const poolOf = (cidr: string) => input.pools.find((p) => p.cidr.overlaps(Cidr.parse(cidr.includes('/') ? cidr : `${cidr}/${cidr.includes(':') ? 128 : 32}`, 'cidr')));

  /** A route to `dst` hosted on `peerName`, encapsulated or not as the pool says. */
  const routeTo = (dst: string, pool: Pool, peerName: string) => {
    const peer = peers.get(peerName);
    if (!peer) return; // not registered yet: nothing to route to
    if (pool.cidr.family === 6) return routeTo6(dst, pool, peer);
    if (!peer.ip) return; // no IPv4 address registered: nothing to route IPv4 to
    const encap = pool.vxlanMode === 'Always' || (pool.vxlanMode === 'CrossSubnet' && !peer.sameSubnet);
    const ipip = pool.ipipMode === 'Always' || (pool.ipipMode === 'CrossSubnet' && !peer.sameSubnet);
    if (ipip && ipipAddress) {
      routes.push({ dst, via: peer.ip, dev: IPIP_DEVICE, onlink: true, protocol: CALICO_ROUTE_PROTOCOL });
    } else if (encap) {
      if (input.vxlanEnabled === false) {
        refusals.push({ lease: peerName, reason: `pool ${pool.name} uses VXLAN but FelixConfiguration vxlanEnabled is false on this node` });
        return;
      }
      if (!vxlan || !peer.tunnel || !peer.mac) {
        refusals.push({ lease: peerName, reason: `node ${peerName} has no VXLAN tunnel address or MAC registered yet` });
        return;
      }
      routes.push({ dst, via: peer.tunnel, dev: VXLAN_DEVICE, onlink: true, protocol: CALICO_ROUTE_PROTOCOL });
      neighbours.set(peer.tunnel, { dev: VXLAN_DEVICE, address: peer.tunnel, mac: peer.mac });
      fdb.set(peer.mac, { dev: VXLAN_DEVICE, mac: peer.mac, dst: peer.ip });
    } else if (input.bgp) {
      // routed by the BGP speaker
    } else if (peer.sameSubnet) {
      routes.push({ dst, via: peer.ip, dev: input.uplink, protocol: CALICO_ROUTE_PROTOCOL });
    } else {
      refusals.push({ lease: peerName, reason: `node ${peerName} (${peer.ip}) is not in this node's subnet ${local.toString()} and pool ${pool.name} does not encapsulate; routes to it need BGP or a routed fabric` });
    }
  };

  /** The same for an IPv6 pool: vxlan-v6.calico over the nodes' IPv6 addresses (no IPIP for IPv6). */
  const routeTo6 = (dst: string, pool: Pool, peer: Peer) => {
    const encap = pool.vxlanMode === 'Always' || (pool.vxlanMode === 'CrossSubnet' && !peer.sameSubnet6);
    if (encap) {
      if (!vxlan6) {
        refusals.push({ lease: peer.name, reason: `pool ${pool.name} uses VXLAN but this node has no IPv6 VXLAN tunnel (it needs an IPv6 address, IP6=autodetect, and a tunnel address from the pool)` });
        return;
      }
      if (!peer.ip6 || !peer.tunnel6 || !peer.mac6) {
        refusals.push({ lease: peer.name, reason: `node ${peer.name} has no IPv6 address, IPv6 VXLAN tunnel address or MAC registered yet` });
        return;
      }
      routes.push({ dst, via: peer.tunnel6, dev: VXLAN_DEVICE_V6, onlink: true, protocol: CALICO_ROUTE_PROTOCOL });
      neighbours.set(peer.tunnel6, { dev: VXLAN_DEVICE_V6, address: peer.tunnel6, mac: peer.mac6 });
      fdb.set(peer.mac6, { dev: VXLAN_DEVICE_V6, mac: peer.mac6, dst: peer.ip6 });
    } else if (input.bgp) {
      // routed by the BGP speaker
    } else if (peer.sameSubnet6 && peer.ip6) {
      routes.push({ dst, via: peer.ip6, dev: uplink6, protocol: CALICO_ROUTE_PROTOCOL });
    } else {
      refusals.push({ lease: peer.name, reason: `node ${peer.name} (${peer.ip6 ?? 'no IPv6 address'}) is not in this node's IPv6 subnet ${local6?.toString() ?? '(none)'} and pool ${pool.name} does not encapsulate; routes to it need BGP or a routed fabric` });
    }
  };

  for (const block of input.blocks) {
    const pool = poolOf(block.cidr);
    if (!pool) continue;
    const host = blockHost(block);
    if (host === input.node) routes.push({ dst: block.cidr, type: 'blackhole', protocol: CALICO_ROUTE_PROTOCOL });
    else if (host) routeTo(block.cidr, pool, host);
    // Borrowed addresses: a /32 (/128) towards the node that uses them (our own pods have theirs from the CNI plugin).
    for (const a of blockAllocations(block)) {
      const user = a.attributes.node;
      if (!user || user === host || user === input.node) continue;
      routeTo(`${a.address}/${pool.cidr.family === 6 ? 128 : 32}`, pool, user);
    }
  }

  const links: LinkSpec[] = [
    ...(vxlan ? [{
      kind: 'vxlan' as const, name: VXLAN_DEVICE, vni: input.vxlanVni ?? DEFAULT_VXLAN_VNI, port: input.vxlanPort ?? DEFAULT_VXLAN_PORT, local: nodeIp,
      device: input.uplink, mac: vtepMac(input.node), mtu: input.vxlanMtu || input.uplinkMtu - VXLAN_OVERHEAD, learning: false, up: true,
    }] : []),
    ...(vxlan6 ? [{
      kind: 'vxlan' as const, name: VXLAN_DEVICE_V6, vni: input.vxlanVni ?? DEFAULT_VXLAN_VNI, port: input.vxlanPort ?? DEFAULT_VXLAN_PORT, local: nodeIp6,
      device: uplink6, mac: vtepMac(input.node, 6), mtu: input.vxlanMtu6 || (input.uplinkMtu6 ?? input.uplinkMtu) - VXLAN_OVERHEAD_V6, learning: false, up: true,
    }] : []),
  ];
  return {
    links,
    addresses: [
      ...(vxlan ? [{ dev: VXLAN_DEVICE, cidr: `${input.vxlanTunnelAddress}/32` }] : []),
      ...(vxlan6 ? [{ dev: VXLAN_DEVICE_V6, cidr: `${input.vxlanTunnelAddress6}/128`, nodad: true }] : []),
      ...(ipipAddress ? [{ dev: IPIP_DEVICE, cidr: `${ipipAddress}/32` }] : []),
    ],
    routes,
    neighbours: [...neighbours.values()],
    fdb: [...fdb.values()],
    refusals: dedupe(refusals),
  };
}

/**
 * NAT outgoing, per family (nftables tables `ip cnikit-calico` and `ip6 cnikit-calico`): traffic
 * from a natOutgoing pool to a destination outside every pool of its family is masqueraded;
 * pool-to-pool traffic keeps its source.
 */
export function natOutgoingRuleSet(pools: readonly Pool[], family: 4 | 6 = 4): RuleSet | undefined {
  const same = pools.filter((p) => p.cidr.family === family);
  const nat = same.filter((p) => p.natOutgoing && !p.disabled);
  if (!nat.length) return undefined;
  const rules = nat.flatMap((src) => [
    ...same.map((dst) => ({ saddr: { cidr: src.cidr.toString() }, daddr: { cidr: dst.cidr.toString() }, verdict: 'return' as const, comment: 'calico pool to pool' })),
    { saddr: { cidr: src.cidr.toString() }, verdict: 'masquerade' as const, randomFully: true, comment: `calico nat-outgoing ${src.name}` },
  ]);
  return { name: NAT_RULESET, family, chains: [{ name: 'nat-outgoing', type: 'nat', hook: 'postrouting', rules }] };
}

function networkOf(address: string): string {
  const [ip, prefix] = address.split('/');
  const family = ip.includes(':') ? 6 : 4;
  const bits = Number(prefix ?? (family === 4 ? 32 : 128));
  const value = Cidr.parse(`${ip}/${family === 4 ? 32 : 128}`, 'nodeAddress').network;
  return Cidr.fromBigInt(family, value, bits).toString();
}

function dedupe(refusals: readonly Refusal[]): Refusal[] {
  const seen = new Map<string, Refusal>();
  for (const r of refusals) if (!seen.has(r.lease)) seen.set(r.lease, r);
  return [...seen.values()];
}
