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
/** Felix's default VXLAN network identifier (FelixConfiguration `vxlanVNI`; felix-config.ts). */
export const DEFAULT_VXLAN_VNI = 4096;
/** Felix's default VXLAN UDP port (FelixConfiguration `vxlanPort`). */
export const DEFAULT_VXLAN_PORT = 4789;
export const VXLAN_OVERHEAD = 50;
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
  /**
   * FelixConfiguration `vxlanEnabled`: false = no vxlan.calico and no VXLAN routes, whatever the
   * pools say. @default undefined: follow the pools (Felix's default)
   */
  readonly vxlanEnabled?: boolean;
  /** FelixConfiguration `ipipEnabled`: false = no tunl0 address and no IPIP routes. @default undefined: follow the pools */
  readonly ipipEnabled?: boolean;
}

/** A stable, locally administered VTEP MAC per node (Felix stores a random one; a hash needs no state). */
export function vtepMac(node: string): string {
  const bytes = createHash('sha1').update(`vxlan.calico/${node}`).digest().subarray(0, 5);
  return ['66', ...[...bytes].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export function usesVxlan(pools: readonly Pool[]): boolean {
  return pools.some((p) => p.cidr.family === 4 && !p.disabled && p.vxlanMode !== 'Never');
}

export function usesIpip(pools: readonly Pool[]): boolean {
  return pools.some((p) => p.cidr.family === 4 && !p.disabled && p.ipipMode !== 'Never');
}

interface Peer {
  readonly name: string;
  readonly ip: string;
  readonly sameSubnet: boolean;
  readonly tunnel?: string;
  readonly mac?: string;
}

export function desiredRouting(input: RoutingInput): DesiredDataplane {
  const local = Cidr.parse(networkOf(input.nodeAddress), 'nodeAddress');
  const nodeIp = input.nodeAddress.split('/')[0];
  const peers = new Map<string, Peer>();
  for (const n of input.nodes) {
    const ip = n.spec.bgp?.ipv4Address?.split('/')[0];
    if (n.name === input.node || !ip) continue;
    peers.set(n.name, { name: n.name, ip, sameSubnet: local.containsAddress(ip), tunnel: n.spec.ipv4VXLANTunnelAddr, mac: n.spec.vxlanTunnelMACAddr });
  }
  const vxlan = input.vxlanEnabled !== false && usesVxlan(input.pools) && input.vxlanTunnelAddress !== undefined;
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

  for (const block of input.blocks) {
    const pool = poolOf(block.cidr);
    if (!pool) continue;
    const host = blockHost(block);
    if (pool.cidr.family === 6) {
      // IPv6 blocks: the node's own are blackholed like IPv4's; remote ones come from BGP (no IPv6 encapsulation here).
      if (host === input.node) routes.push({ dst: block.cidr, type: 'blackhole', protocol: CALICO_ROUTE_PROTOCOL });
      continue;
    }
    if (host === input.node) routes.push({ dst: block.cidr, type: 'blackhole', protocol: CALICO_ROUTE_PROTOCOL });
    else if (host) routeTo(block.cidr, pool, host);
    // Borrowed addresses: a /32 towards the node that uses them (our own pods have their /32 from the CNI plugin).
    for (const a of blockAllocations(block)) {
      const user = a.attributes.node;
      if (!user || user === host || user === input.node) continue;
      routeTo(`${a.address}/32`, pool, user);
    }
  }

  const links: LinkSpec[] = vxlan ? [{
    kind: 'vxlan', name: VXLAN_DEVICE, vni: input.vxlanVni ?? DEFAULT_VXLAN_VNI, port: input.vxlanPort ?? DEFAULT_VXLAN_PORT, local: nodeIp,
    device: input.uplink, mac: vtepMac(input.node), mtu: input.vxlanMtu || input.uplinkMtu - VXLAN_OVERHEAD, learning: false, up: true,
  }] : [];
  return {
    links,
    addresses: [
      ...(vxlan ? [{ dev: VXLAN_DEVICE, cidr: `${input.vxlanTunnelAddress}/32` }] : []),
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
