import { IpFamily } from '../../model/cidr';
import { DEFAULT_TIER_NAME, DEFAULT_TIER_ORDER, PolicyType, ResolvedRule } from '../../model/calico/policy';

/** A namespace and its labels (`kubernetes.io/metadata.name` is added when absent, as the API server does). */
export interface PolicyNamespace {
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A container port a pod names, so policies can refer to it by name. */
export interface NamedPort {
  readonly name: string;
  readonly port: number;
  /** @default 'TCP' */
  readonly protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** A workload endpoint: one pod interface with its addresses. */
export interface PolicyEndpoint {
  readonly namespace: string;
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Pod addresses (IPv4 and/or IPv6), without prefix. */
  readonly addresses: readonly string[];
  /** @default 'default' */
  readonly serviceAccount?: string;
  /** @default - none */
  readonly ports?: readonly NamedPort[];
  /** Host-side interface (`cali…`); needed where policy is dispatched by interface. @default - none */
  readonly interfaceName?: string;
}

/** A service account's labels (selectable with `serviceAccountSelector`). */
export interface PolicyServiceAccount {
  readonly namespace: string;
  readonly name: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** NetworkSet (namespace given) or GlobalNetworkSet (no namespace): labelled CIDRs selectors can match. */
export interface PolicyNetworkSet {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly nets: readonly string[];
}

/**
 * One policy in Calico's shape, whatever it was written as. Kubernetes NetworkPolicies arrive here
 * converted the way Calico converts them (`knp.default.<name>`, order 1000, default tier).
 */
export interface Policy {
  readonly kind: 'KubernetesNetworkPolicy' | 'NetworkPolicy' | 'GlobalNetworkPolicy';
  readonly name: string;
  /** Set for namespaced policies: they select endpoints (and rule peers, by default) in this namespace only. */
  readonly namespace?: string;
  /** @default - after every ordered policy */
  readonly order?: number;
  /** The tier it belongs to (Kubernetes NetworkPolicies: always `default`). @default DEFAULT_TIER */
  readonly tier?: string;
  readonly selector: string;
  /** GlobalNetworkPolicy only. */
  readonly namespaceSelector?: string;
  readonly serviceAccountSelector?: string;
  readonly types: readonly PolicyType[];
  readonly ingress: readonly ResolvedRule[];
  readonly egress: readonly ResolvedRule[];
}

/** Calico's implicit tier: Kubernetes NetworkPolicies and policies naming no tier are in it. */
export const DEFAULT_TIER = DEFAULT_TIER_NAME;
export { DEFAULT_TIER_ORDER };

/**
 * A Calico Tier: its policies are evaluated together, tiers in order (lower first, unset last,
 * then by name). At the end of a tier whose policies selected the endpoint, `defaultAction`
 * applies: Deny denies, Pass goes on with the next tier.
 */
export interface PolicyTier {
  readonly name: string;
  /** @default - after every ordered tier */
  readonly order?: number;
  /** @default 'Deny' */
  readonly defaultAction?: 'Deny' | 'Pass';
}

/** Everything policy decisions depend on: the cluster's objects and the policies. */
export interface PolicyWorld {
  readonly namespaces: readonly PolicyNamespace[];
  readonly endpoints: readonly PolicyEndpoint[];
  readonly policies: readonly Policy[];
  /**
   * Tiers besides the implicit `default` one (order DEFAULT_TIER_ORDER, Deny), which a Tier named
   * `default` may re-order. A policy whose tier is not here is in a tier of its own after every
   * other (the datastore sync never lets that happen: it isolates such a policy's endpoints).
   * @default - only the default tier
   */
  readonly tiers?: readonly PolicyTier[];
  /** @default - none */
  readonly networkSets?: readonly PolicyNetworkSet[];
  /** @default - none */
  readonly serviceAccounts?: readonly PolicyServiceAccount[];
}

/** An IP protocol as Calico names it, or its number. */
export type ProtocolName = 'TCP' | 'UDP' | 'SCTP' | 'ICMP' | 'ICMPv6' | 'UDPLite';

/** One packet (the first of a connection) as the evaluator sees it. */
export interface Packet {
  readonly source: string;
  readonly destination: string;
  readonly protocol: ProtocolName | number;
  /** @default - none (protocols without ports) */
  readonly sourcePort?: number;
  readonly destinationPort?: number;
  readonly icmpType?: number;
  readonly icmpCode?: number;
}

export type Direction = 'ingress' | 'egress';

export interface DirectionVerdict {
  readonly allowed: boolean;
  /** Why: `no policy` (open), `<policy> rule <n> <action>`, `end of tier <tier>` or `pass → profile`. */
  readonly reason: string;
}

export interface Verdict {
  readonly allowed: boolean;
  /** Egress of the source endpoint; undefined when the source is not a known endpoint. */
  readonly egress?: DirectionVerdict;
  /** Ingress of the destination endpoint; undefined when the destination is not a known endpoint. */
  readonly ingress?: DirectionVerdict;
}

export const PROTOCOL_NUMBERS: Readonly<Record<ProtocolName, number>> = {
  ICMP: 1, TCP: 6, UDP: 17, ICMPv6: 58, SCTP: 132, UDPLite: 136,
};

/** A protocol (name or number as a rule or packet holds it) as its number. */
export function protocolNumber(protocol: string | number): number {
  if (typeof protocol === 'number') return protocol;
  const n = (PROTOCOL_NUMBERS as Record<string, number>)[protocol];
  if (n === undefined) throw new Error(`unknown protocol ${protocol}`);
  return n;
}

export function familyOf(address: string): IpFamily {
  return address.includes(':') ? 6 : 4;
}

export { PolicyType };
