import { Cidr } from '../../model/cidr';
import { JsonValue } from '../datastore/types';
import { FlannelNetConfig } from './net-config';

/**
 * Subnet leases, flannel's `subnet.Manager`: how a node gets its pod subnet and learns everyone
 * else's. Two implementations: `EtcdLeaseManager` (lease-etcd.ts: flannel's etcd key layout, TTL
 * leases, allocation by compare-and-swap) and `KubeLeaseManager` (lease-kube.ts: node podCIDRs and
 * `flannel.alpha.coreos.com/*` annotations).
 */

/** What a node publishes about itself (flannel's `LeaseAttrs`). */
export interface LeaseAttrs {
  /** The node's IPv4 address peers send to (flannel `PublicIP`). @default none (IPv6-only) */
  readonly publicIp?: string;
  /** The node's IPv6 address (flannel `PublicIPv6`). @default none */
  readonly publicIpv6?: string;
  /** Lower-case backend type, e.g. `vxlan`, `host-gw`. */
  readonly backendType: string;
  /** Backend data for IPv4, e.g. vxlan `{"VNI":1,"VtepMAC":"…"}`. @default none */
  readonly backendData?: JsonValue;
  /** Backend data for IPv6. @default none */
  readonly backendV6Data?: JsonValue;
}

/** One node's subnet(s) and attributes. */
export interface Lease {
  /**
   * Identity of the lease: in etcd mode the subnet key (`10.244.3.0-24`, dual-stack
   * `10.244.3.0-24&fd00::-64`), in Kubernetes mode the node name.
   */
  readonly key: string;
  /** The IPv4 subnet. @default none (IPv6-only) */
  readonly subnet?: Cidr;
  /** The IPv6 subnet. @default none */
  readonly ipv6Subnet?: Cidr;
  readonly attrs: LeaseAttrs;
  /** When the lease ends unless renewed; undefined for reservations and in Kubernetes mode. */
  readonly expiration?: Date;
}

/**
 * A change to the set of leases. `added` means added **or changed** (flannel's EventAdded);
 * `removed` means deleted, expired or (Kubernetes mode) the node was deleted.
 */
export interface LeaseEvent {
  readonly type: 'added' | 'removed';
  readonly lease: Lease;
}

export interface Stoppable {
  stop(): Promise<void>;
}

export interface KeepLeaseHandlers {
  /** The lease was renewed (new expiration). */
  readonly onRenewed?: (lease: Lease) => void;
  /**
   * The lease is gone: deleted by someone else, expired, or taken over. flannel logs
   * "Lease has been revoked" and exits; the agent should do the same (or re-acquire).
   */
  readonly onRevoked: (lease: Lease) => void;
  /** A renewal failed; it is retried after the retry interval. */
  readonly onError?: (error: Error) => void;
  /**
   * The lease's value was found corrupt (`reason` names the key and field) and was rewritten with
   * this node's attributes: a corrupt value is not a loss, the subnet stays this node's.
   */
  readonly onRepaired?: (lease: Lease, reason: string) => void;
}

export interface WatchLeasesOptions {
  /** Transient datastore errors; the watch keeps going. @default ignored */
  readonly onError?: (error: Error) => void;
  /**
   * A record that is not a valid lease of this network (corrupt value, subnet outside Network or
   * not a /SubnetLen): one line naming the key and field, once per revision. The record is
   * ignored; a lease whose later version is corrupt keeps its last good version.
   */
  readonly onRefused?: (reason: string) => void;
}

export interface LeaseManager {
  /** For logs, e.g. `etcd /coreos.com/network` or `kubernetes node-1`. */
  readonly name: string;

  /** The network configuration: etcd `<prefix>/config`, or the net-conf.json given in Kubernetes mode. */
  getNetworkConfig(): Promise<FlannelNetConfig>;

  /**
   * The lease this node held before, if the datastore still knows it (etcd: the lease whose
   * PublicIP is `publicIp`; Kubernetes: this node's annotations). Backends read their stable data
   * (the VXLAN VTEP MAC) from it before calling `acquireLease`.
   */
  previousLease(publicIp?: string, publicIpv6?: string): Promise<Lease | undefined>;

  /** Gets this node's subnet(s) and publishes `attrs`. */
  acquireLease(attrs: LeaseAttrs): Promise<Lease>;

  /** Extends the lease (etcd: a fresh TTL); returns it with its new expiration. */
  renewLease(lease: Lease): Promise<Lease>;

  /** Marks the node's network as up (Kubernetes: condition NetworkUnavailable=False); etcd: nothing. */
  completeLease(lease: Lease): Promise<void>;

  /** Renews the lease before it expires (and retries failures) and reports its revocation. */
  keepLease(lease: Lease, handlers: KeepLeaseHandlers): Stoppable;

  /**
   * Calls `onEvents` with every current lease (including this node's own) as `added`, then with
   * each change. After a datastore relist the difference is reported, never a duplicate state.
   */
  watchLeases(onEvents: (events: readonly LeaseEvent[]) => void, options?: WatchLeasesOptions): Stoppable;

  /** Stops timers and watches started by this manager. The datastore itself is not closed. */
  close(): Promise<void>;
}

/** True when two leases are for the same node subnet(s). */
export function sameSubnets(a: Lease, b: Lease): boolean {
  const eq = (x?: Cidr, y?: Cidr): boolean => (x === undefined ? y === undefined : y !== undefined && x.equals(y));
  return eq(a.subnet, b.subnet) && eq(a.ipv6Subnet, b.ipv6Subnet);
}
