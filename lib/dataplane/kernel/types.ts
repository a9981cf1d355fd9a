import { describeOp } from './describe';

/**
 * The kernel layer's vocabulary: what exists in one network namespace and the changes the
 * layers above ask for. Values are plain data so that desired state can be computed by pure
 * functions and compared with what `Kernel` lists.
 *
 * Addresses are strings in their canonical form (`10.244.1.1`, `fd00::1`); prefixes are CIDR text
 * (`10.244.1.0/24`); MACs are lower-case `aa:bb:cc:dd:ee:ff`.
 */

export type Family = 4 | 6;

// ---------- links ----------

/** A link the caller wants created. `kind` decides the type-specific fields. */
export type LinkSpec = BridgeSpec | VethSpec | VxlanSpec | DummySpec;

interface LinkSpecBase {
  readonly name: string;
  /** @default kernel default (1500) */
  readonly mtu?: number;
  /** @default a kernel-chosen random MAC */
  readonly mac?: string;
  /** Bring the link up after creation. @default false */
  readonly up?: boolean;
  /** Enslave to this bridge after creation. @default none */
  readonly master?: string;
  /** The link's alias (IFLA_IFALIAS): who created it, e.g. the container a workload veth belongs to. @default none */
  readonly alias?: string;
}

export interface BridgeSpec extends LinkSpecBase {
  readonly kind: 'bridge';
}

export interface DummySpec extends LinkSpecBase {
  readonly kind: 'dummy';
}

export interface VethSpec extends LinkSpecBase {
  readonly kind: 'veth';
  readonly peer: {
    readonly name: string;
    /** Network namespace for the peer: a name under /var/run/netns or a path such as /proc/<pid>/ns/net. @default same namespace */
    readonly netns?: string;
    /** @default a kernel-chosen random MAC */
    readonly mac?: string;
    /** @default the link's mtu */
    readonly mtu?: number;
  };
}

export interface VxlanSpec extends LinkSpecBase {
  readonly kind: 'vxlan';
  readonly vni: number;
  /** UDP destination port. @default 8472 (flannel's, not IANA's 4789) */
  readonly port?: number;
  /** Source address of the tunnel. @default none (kernel picks) */
  readonly local?: string;
  /** Underlay device. @default none */
  readonly device?: string;
  /** @default false */
  readonly learning?: boolean;
  /** Group Based Policy extension. @default false */
  readonly gbp?: boolean;
}

/** A link as the kernel reports it. */
export interface LinkState {
  readonly name: string;
  readonly index: number;
  /** `bridge`, `veth`, `vxlan`, `dummy`, `device` (physical / no linkinfo) or whatever else the kernel reports. */
  readonly kind: string;
  readonly mtu: number;
  readonly mac: string;
  /** Administratively up. */
  readonly up: boolean;
  readonly master?: string;
  /** Bridge-port hairpin mode (only for bridge ports). */
  readonly hairpin?: boolean;
  readonly alias?: string;
  readonly vxlan?: {
    readonly vni: number;
    readonly port: number;
    readonly local?: string;
    readonly device?: string;
    readonly learning: boolean;
    readonly gbp: boolean;
  };
}

export interface LinkDetails extends LinkState {
  readonly addresses: readonly Address[];
}

/** Attribute changes on an existing link. Unset fields are left alone. */
export interface LinkChange {
  readonly name: string;
  readonly up?: boolean;
  readonly mtu?: number;
  readonly mac?: string;
  /** Bridge to enslave to; `null` releases the link from its bridge. */
  readonly master?: string | null;
  readonly hairpin?: boolean;
}

// ---------- addresses, routes, neighbours, fdb ----------

export interface Address {
  readonly dev: string;
  /** Address with prefix length, e.g. `10.244.1.1/24`. */
  readonly cidr: string;
  /** Skip IPv6 duplicate address detection. @default false */
  readonly nodad?: boolean;
}

export type RouteType = 'unicast' | 'blackhole' | 'unreachable' | 'prohibit' | 'local' | 'broadcast' | 'multicast' | 'other';

/** One path of a multipath (ECMP) route. */
export interface NextHop {
  /** Gateway. @default none (a device-only next hop) */
  readonly via?: string;
  /** @default the device the kernel finds for `via` */
  readonly dev?: string;
  /** Relative share of flows (1–256). @default 1 */
  readonly weight?: number;
  /** Gateway is on-link even though no address of the device covers it. @default false */
  readonly onlink?: boolean;
}

export interface Route {
  /** `default` is written as `0.0.0.0/0` / `::/0`. */
  readonly dst: string;
  /** @default 'unicast' */
  readonly type?: RouteType;
  /** Single gateway; a multipath route uses `nexthops` instead (not both). @default none */
  readonly via?: string;
  /** Single-path device; a multipath route names devices per next hop (not both). @default none */
  readonly dev?: string;
  /** Gateway is on-link even though no address of the device covers it. @default false */
  readonly onlink?: boolean;
  /**
   * Multipath (ECMP) next hops, listed in any order: the kernel spreads flows across them by
   * weight. One entry is the same route as a plain `via`/`dev`, and is reported back that way.
   * @default none (a single-path route)
   */
  readonly nexthops?: readonly NextHop[];
  /** Routing protocol number (rtm_protocol); ownership is decided by it. @default 3 (boot) */
  readonly protocol?: number;
  /** @default 254 (main) */
  readonly table?: number;
  /** @default 0 */
  readonly metric?: number;
  /** @default 'global' unless a dev-only route, then 'link' (as ip(8) does) */
  readonly scope?: 'global' | 'link' | 'host';
  readonly src?: string;
  readonly mtu?: number;
}

export interface RouteFilter {
  readonly family?: Family;
  /** @default 254 (main); `'all'` lists every table. */
  readonly table?: number | 'all';
  readonly protocol?: number;
  readonly dev?: string;
}

/** A permanent neighbour (ARP / NDP) entry. */
export interface Neighbour {
  readonly dev: string;
  readonly address: string;
  readonly mac: string;
}

/** A forwarding-database entry on a device (NTF_SELF, permanent), e.g. VTEP MAC → remote IP on a vxlan device. */
export interface FdbEntry {
  readonly dev: string;
  readonly mac: string;
  /** Remote tunnel endpoint. */
  readonly dst?: string;
}

// ---------- rule sets (masquerade / forward) ----------

/** A match on one packet field; `not` negates it. */
export interface AddressMatch {
  readonly cidr: string;
  readonly not?: boolean;
}

export type RuleVerdict = 'accept' | 'drop' | 'return' | 'masquerade';

export interface Rule {
  readonly saddr?: AddressMatch;
  readonly daddr?: AddressMatch;
  readonly iifname?: string;
  readonly oifname?: string;
  /** Packet mark match: `(mark & mask) == value`. */
  readonly mark?: { readonly value: number; readonly mask: number };
  readonly verdict: RuleVerdict;
  /** Only for `masquerade`: fully randomised source ports. @default false */
  readonly randomFully?: boolean;
  readonly comment?: string;
}

export interface RuleChain {
  readonly name: string;
  /** `nat` chains hook postrouting at srcnat priority; `filter` chains hook forward at filter priority. */
  readonly type: 'nat' | 'filter';
  readonly hook: 'postrouting' | 'forward' | 'prerouting' | 'input' | 'output';
  /** @default 'accept' */
  readonly policy?: 'accept' | 'drop';
  readonly rules: readonly Rule[];
}

/**
 * A named set of chains for one family, owned entirely by us: with nftables it is one table
 * (`ip <name>` / `ip6 <name>`) replaced atomically; with iptables it is one chain per
 * `RuleChain` (`<NAME>-<CHAIN>`) jumped to from the built-in chain.
 */
export interface RuleSet {
  readonly name: string;
  readonly family: Family;
  readonly chains: readonly RuleChain[];
}

// ---------- changes ----------

export type KernelOp =
  /** `mayExist`: a link of that name already existing is not a failure (its kind is not compared). */
  | { readonly op: 'link.add'; readonly link: LinkSpec; readonly mayExist?: boolean }
  | { readonly op: 'link.set'; readonly change: LinkChange }
  | { readonly op: 'link.del'; readonly name: string }
  | { readonly op: 'addr.replace'; readonly address: Address }
  | { readonly op: 'addr.del'; readonly address: Address }
  | { readonly op: 'route.replace'; readonly route: Route }
  | { readonly op: 'route.del'; readonly route: Route }
  | { readonly op: 'neigh.replace'; readonly neighbour: Neighbour }
  | { readonly op: 'neigh.del'; readonly neighbour: Neighbour }
  | { readonly op: 'fdb.replace'; readonly entry: FdbEntry }
  | { readonly op: 'fdb.append'; readonly entry: FdbEntry }
  | { readonly op: 'fdb.del'; readonly entry: FdbEntry };

export interface OpFailure {
  readonly op: KernelOp;
  readonly message: string;
}

/** The ops of one `apply` that failed, each with the kernel's message. */
export class KernelApplyError extends Error {
  constructor(public readonly failures: readonly OpFailure[], netns?: string) {
    super(`kernel${netns ? ` (netns ${netns})` : ''}: ${failures.length} change(s) failed: `
      + failures.map((f) => `${f.op.op} ${describeOp(f.op)} → ${f.message}`).join('; '));
    this.name = 'KernelApplyError';
  }
}

/**
 * One network namespace's kernel state. Listing methods return everything of the kind (callers
 * filter with `Ownership`); `apply` refuses, before doing anything, any change to an object the
 * declared `Ownership` does not cover.
 */
export interface Kernel {
  /** Namespace this kernel talks to: a name under /var/run/netns, a path, or undefined for the current one. */
  readonly netns?: string;
  readonly ownership: Ownership;

  links(): Promise<LinkState[]>;
  /** One link with its (global-scope) addresses in a single dump, or undefined when it does not exist. */
  link(name: string): Promise<LinkDetails | undefined>;
  addresses(dev?: string): Promise<Address[]>;
  routes(filter?: RouteFilter): Promise<Route[]>;
  neighbours(dev?: string): Promise<Neighbour[]>;
  fdb(dev?: string): Promise<FdbEntry[]>;

  /**
   * Applies the ops in order, batched (one process per tool run, never one per op). Every op is
   * attempted; failures are collected and thrown together as a `KernelApplyError`. `*.del` of
   * something already gone and `*.replace` are idempotent; `link.add` of an existing name fails
   * unless `mayExist`.
   */
  apply(ops: readonly KernelOp[]): Promise<void>;
  /**
   * `apply`, then reads one link with its addresses in the same batch (one process in the real
   * kernel): for hot paths such as a CNI ADD that must check what it changed. Failures throw as in
   * `apply`, and the read is lost with them.
   */
  applyAndRead(ops: readonly KernelOp[], link: string): Promise<LinkDetails | undefined>;

  /** Reads `net/ipv4/ip_forward`-style keys (slash or dot separated); undefined when absent. */
  sysctl(key: string): Promise<string | undefined>;
  /** Writes all entries in one go. */
  setSysctls(values: Readonly<Record<string, string>>): Promise<void>;

  /** The rule set of that name and family, read back from the kernel, or undefined when absent. */
  ruleSet(name: string, family: Family): Promise<RuleSet | undefined>;
  /** Creates or atomically replaces the whole rule set. */
  replaceRuleSet(set: RuleSet): Promise<void>;
  /** Removes the rule set; absent is fine. */
  deleteRuleSet(name: string, family: Family): Promise<void>;
}

/**
 * What a caller owns. The rule (enforced by every `Kernel` implementation, see ownership.ts):
 * - links: created, changed or deleted only when the name matches `linkPrefixes` / `links`;
 * - addresses, neighbours, FDB entries: only on owned links;
 * - routes: only with `protocol === routeProtocol` (the route's rtm_protocol is our mark);
 * - rule sets: only names in `ruleSets` / starting with a `ruleSetPrefixes` entry.
 */
export interface Ownership {
  /** The whole namespace is ours (a pod's or a lab node's namespace we created). @default false */
  readonly everything?: boolean;
  readonly linkPrefixes?: readonly string[];
  readonly links?: readonly string[];
  readonly routeProtocol?: number;
  readonly ruleSetPrefixes?: readonly string[];
  /** Sysctl keys (dot form) we may write. @default every key */
  readonly sysctlPrefixes?: readonly string[];
}
