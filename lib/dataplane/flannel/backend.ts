import { addressToBigInt, Cidr } from '../../model/cidr';
import { Address, FdbEntry, LinkSpec, Neighbour, Route } from '../kernel/types';
import { JsonValue } from '../datastore/types';
import { Lease } from './lease';

/**
 * A flannel backend, split the cnikit way: everything a backend decides is a pure function of
 * the node's external interface, its own lease and its peers' leases (`desired`), and one
 * reconciler (reconcile.ts) makes the kernel match. Backends never touch the kernel themselves.
 */

/**
 * Routes the agent programs carry this rtm_protocol: it is how the agent recognises its own routes
 * (and never touches anyone else's) after a restart. 0x4c is not in iproute2's rt_protos list.
 */
export const FLANNEL_ROUTE_PROTOCOL = 76;

/** The node's uplink, as chosen by interface selection (agent-interface.ts). */
export interface ExternalInterface {
  readonly name: string;
  /** The address the node advertises (flannel PublicIP; --public-ip may set a NAT address). */
  readonly address: string;
  /** The interface's own address, which tunnels are sent from. @default `address` */
  readonly localAddress?: string;
  /** The IPv6 address the node advertises (flannel PublicIPv6). @default none: no IPv6 */
  readonly address6?: string;
  /** The interface's own IPv6 address, which IPv6 tunnels are sent from. @default `address6` */
  readonly localAddress6?: string;
  /** Every prefix configured on the interface (IPv4, and global IPv6), e.g. `10.99.0.11/24`: what counts as on-link. */
  readonly prefixes: readonly string[];
  readonly mtu: number;
}

/** Everything the backend wants in the kernel. Routes carry FLANNEL_ROUTE_PROTOCOL. */
export interface DesiredDataplane {
  readonly links: readonly LinkSpec[];
  /** Addresses on the owned links (any other address on them is removed). */
  readonly addresses: readonly Address[];
  readonly routes: readonly Route[];
  readonly neighbours: readonly Neighbour[];
  readonly fdb: readonly FdbEntry[];
  /** Peers that could not be programmed, with a one-line reason each. */
  readonly refusals: readonly Refusal[];
}

export interface Refusal {
  /** The peer's lease key (its subnet in etcd mode, its node name in Kubernetes mode). */
  readonly lease: string;
  readonly reason: string;
}

export interface Backend {
  /** Lower-case type, as in leases' BackendType (`vxlan`, `host-gw`). */
  readonly type: string;
  /** MTU pods get (FLANNEL_MTU): the uplink's minus the encapsulation overhead. */
  readonly mtu: number;
  /** BackendData to publish in this node's lease. */
  readonly backendData?: JsonValue;
  /** BackendV6Data to publish (dual-stack). */
  readonly backendV6Data?: JsonValue;
  /** The kernel state for this node's lease and the current set of leases (own lease included or not). */
  desired(own: Lease, leases: readonly Lease[]): DesiredDataplane;
}

/** True when `address` lies inside one of `prefixes` (a directly connected network). */
export function isOnLink(address: string, prefixes: readonly string[]): boolean {
  const value = addressToBigInt(address);
  if (value === undefined) return false;
  return prefixes.some((prefix) => {
    const [ip, len] = prefix.split('/');
    const base = addressToBigInt(ip);
    if (base === undefined || ip.includes(':') !== address.includes(':')) return false;
    const hostBits = BigInt((ip.includes(':') ? 128 : 32) - Number(len));
    return base >> hostBits === value >> hostBits;
  });
}

/** A remote node as one family sees it. */
export interface Peer {
  readonly lease: Lease;
  readonly subnet: Cidr;
  readonly publicIp: string;
}

/**
 * The peers a backend programs for one family: every lease but our own, of the same backend
 * type, with a subnet and a public address of that family; ordered by subnet.
 */
export function remotePeers(own: Lease, leases: readonly Lease[], backendType: string, family: 4 | 6): Peer[] {
  const subnetOf = (l: Lease) => (family === 4 ? l.subnet : l.ipv6Subnet);
  const ipOf = (l: Lease) => (family === 4 ? l.attrs.publicIp : l.attrs.publicIpv6);
  const ownSubnet = subnetOf(own);
  const peers: Peer[] = [];
  for (const lease of leases) {
    const subnet = subnetOf(lease);
    const publicIp = ipOf(lease);
    if (lease.key === own.key || !subnet || !publicIp || (ownSubnet && subnet.equals(ownSubnet))) continue;
    if (lease.attrs.backendType.toLowerCase() !== backendType) continue;
    peers.push({ lease, subnet, publicIp });
  }
  return peers.sort((a, b) => (a.subnet.network < b.subnet.network ? -1 : a.subnet.network > b.subnet.network ? 1 : 0));
}

/** The families this node's lease has a subnet for. */
export function leaseFamilies(own: Lease): (4 | 6)[] {
  return [...(own.subnet ? [4 as const] : []), ...(own.ipv6Subnet ? [6 as const] : [])];
}
