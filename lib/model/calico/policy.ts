import { Cidr, IpFamily } from '../cidr';
import { checkBoolean, checkDnsLabel, checkKnownKeys } from '../checks';
import { ValidationError } from '../errors';
import { checkObjectName, toSelector } from './pool';
import { Selector } from './selector';

/** What a matching rule does. */
export enum PolicyAction {
  ALLOW = 'Allow',
  DENY = 'Deny',
  /** Skip the remaining policies of this tier. */
  PASS = 'Pass',
  /** Log the packet and go on with the next rule. */
  LOG = 'Log',
}

/** Which directions a policy applies to. */
export enum PolicyType {
  INGRESS = 'Ingress',
  EGRESS = 'Egress',
}

const PORT_PROTOCOLS = ['TCP', 'UDP', 'SCTP', 'UDPLite'];
const ICMP_PROTOCOLS = ['ICMP', 'ICMPv6'];

/** An IP protocol: by name, or by number (1–255). */
export class Protocol {
  public static readonly TCP = new Protocol('TCP');
  public static readonly UDP = new Protocol('UDP');
  public static readonly ICMP = new Protocol('ICMP');
  public static readonly ICMPV6 = new Protocol('ICMPv6');
  public static readonly SCTP = new Protocol('SCTP');
  public static readonly UDPLITE = new Protocol('UDPLite');

  /** A protocol by its IANA number (e.g. 47 for GRE). */
  public static number(value: number): Protocol {
    if (!Number.isInteger(value) || value < 1 || value > 255) throw new ValidationError('protocol', value, 'a protocol number from 1 to 255');
    return new Protocol(value);
  }

  private constructor(public readonly value: string | number) {}

  /** True for protocols that have ports (TCP, UDP, SCTP, UDPLite, or their numbers 6, 17, 132, 136). */
  public get hasPorts(): boolean {
    return PORT_PROTOCOLS.includes(String(this.value)) || [6, 17, 132, 136].includes(Number(this.value));
  }

  public get isIcmp(): boolean {
    return ICMP_PROTOCOLS.includes(String(this.value)) || [1, 58].includes(Number(this.value));
  }
}

/** A port to match: a number, an inclusive range, or a named container port. */
export class PolicyPort {
  public static number(port: number): PolicyPort {
    checkPortNumber('port', port);
    return new PolicyPort(port);
  }

  /** `first:last`, inclusive. */
  public static range(first: number, last: number): PolicyPort {
    checkPortNumber('port range', first);
    checkPortNumber('port range', last);
    if (first > last) throw new ValidationError('port range', `${first}:${last}`, 'a range whose first port is not above its last');
    return new PolicyPort(`${first}:${last}`);
  }

  /** A named port of the selected pods (IANA service name syntax, e.g. `http-alt`). */
  public static named(name: string): PolicyPort {
    if (typeof name !== 'string' || name.length > 15 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || !/[a-z]/.test(name)) {
      throw new ValidationError('port name', name, 'a port name of at most 15 lower-case letters, digits and "-", with a letter');
    }
    return new PolicyPort(name);
  }

  private constructor(public readonly value: string | number) {}
}

function checkPortNumber(field: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ValidationError(field, port, 'a port number from 1 to 65535');
}

/** The source or destination half of a rule. Every field narrows the match; unset fields match anything. */
export interface EntityRuleSpec {
  /** Addresses in one of these CIDRs. @default - any address */
  readonly nets?: readonly string[];
  /** Addresses in none of these CIDRs. @default - no exclusion */
  readonly notNets?: readonly string[];
  /** Endpoints (pods, host endpoints, network sets) whose labels match. @default - any */
  readonly selector?: Selector | string;
  /** Endpoints whose labels do not match. @default - no exclusion */
  readonly notSelector?: Selector | string;
  /** Namespaces the selector looks in; `global()` for global network sets. @default - the policy's namespace (namespaced policies) */
  readonly namespaceSelector?: Selector | string;
  /** Ports to match; needs a protocol with ports. @default - any port */
  readonly ports?: readonly PolicyPort[];
  /** Ports not to match. @default - no exclusion */
  readonly notPorts?: readonly PolicyPort[];
  /** Pods running as one of these service accounts. @default - any */
  readonly serviceAccountNames?: readonly string[];
  /** Pods whose service account labels match. @default - any */
  readonly serviceAccountSelector?: Selector | string;
}

/** One rule of a policy. */
export interface PolicyRuleSpec {
  readonly action: PolicyAction;
  /** @default - any protocol */
  readonly protocol?: Protocol;
  /** @default - no exclusion */
  readonly notProtocol?: Protocol;
  /** Only IPv4 or only IPv6 traffic. @default - both */
  readonly ipVersion?: IpFamily;
  /** ICMP type (0–254); needs protocol ICMP or ICMPv6. @default - any type */
  readonly icmpType?: number;
  /** ICMP code (0–255); needs icmpType. @default - any code */
  readonly icmpCode?: number;
  /** ICMP type not to match. @default - no exclusion */
  readonly notIcmpType?: number;
  /** ICMP code not to match; needs notIcmpType. @default - no exclusion */
  readonly notIcmpCode?: number;
  /** @default - any source */
  readonly source?: EntityRuleSpec;
  /** @default - any destination */
  readonly destination?: EntityRuleSpec;
}

/** What both kinds of Calico policy share. */
export interface PolicySpec {
  /** In a tier other than `default`, `<tier>.<name>` (Calico's naming rule). */
  readonly name: string;
  /**
   * The tier the policy belongs to (a DNS-1123 label; a `CalicoTier` of that name must exist, except
   * for `default`). @default 'default'
   */
  readonly tier?: string;
  /** Lower orders run first; unset runs after every ordered policy. @default - unordered */
  readonly order?: number;
  /** Endpoints the policy applies to. @default Selector.all() */
  readonly selector?: Selector | string;
  /** Only endpoints running as a matching service account. @default - any */
  readonly serviceAccountSelector?: Selector | string;
  /** @default - Ingress, plus Egress when egress rules are given (Calico's default) */
  readonly types?: readonly PolicyType[];
  /** @default - none (with type Ingress: deny all ingress) */
  readonly ingress?: readonly PolicyRuleSpec[];
  /** @default - none (with type Egress: deny all egress) */
  readonly egress?: readonly PolicyRuleSpec[];
}

export interface NetworkPolicySpec extends PolicySpec {
  readonly namespace: string;
}

export interface GlobalNetworkPolicySpec extends PolicySpec {
  /** Only endpoints in matching namespaces. @default - every namespace */
  readonly namespaceSelector?: Selector | string;
  /** Host endpoints: apply before connection tracking (untracked traffic). @default false */
  readonly doNotTrack?: boolean;
  /** Host endpoints: apply before DNAT. @default false */
  readonly preDNAT?: boolean;
  /** Host endpoints: also apply to forwarded traffic. @default - true when doNotTrack or preDNAT, else false */
  readonly applyOnForward?: boolean;
}

export interface ResolvedEntityRule {
  readonly nets?: readonly string[];
  readonly notNets?: readonly string[];
  readonly selector?: string;
  readonly notSelector?: string;
  readonly namespaceSelector?: string;
  readonly ports?: readonly (string | number)[];
  readonly notPorts?: readonly (string | number)[];
  readonly serviceAccounts?: { readonly names?: readonly string[]; readonly selector?: string };
}

export interface ResolvedRule {
  readonly action: PolicyAction;
  readonly ipVersion?: IpFamily;
  readonly protocol?: string | number;
  readonly notProtocol?: string | number;
  readonly icmp?: { readonly type?: number; readonly code?: number };
  readonly notIcmp?: { readonly type?: number; readonly code?: number };
  readonly source?: ResolvedEntityRule;
  readonly destination?: ResolvedEntityRule;
}

export interface ResolvedPolicy {
  readonly name: string;
  /** Set for tiers other than `default`. */
  readonly tier?: string;
  readonly order?: number;
  readonly selector: string;
  readonly serviceAccountSelector?: string;
  readonly types: readonly PolicyType[];
  readonly ingress: readonly ResolvedRule[];
  readonly egress: readonly ResolvedRule[];
}

export interface ResolvedGlobalPolicy extends ResolvedPolicy {
  readonly namespaceSelector?: string;
  readonly doNotTrack: boolean;
  readonly preDNAT: boolean;
  readonly applyOnForward: boolean;
}

const ENTITY_KEYS: Record<keyof EntityRuleSpec, true> = {
  nets: true, notNets: true, selector: true, notSelector: true, namespaceSelector: true, ports: true, notPorts: true,
  serviceAccountNames: true, serviceAccountSelector: true,
};
const RULE_KEYS: Record<keyof PolicyRuleSpec, true> = {
  action: true, protocol: true, notProtocol: true, ipVersion: true, icmpType: true, icmpCode: true, notIcmpType: true,
  notIcmpCode: true, source: true, destination: true,
};
const POLICY_KEYS: Record<keyof PolicySpec, true> = {
  name: true, tier: true, order: true, selector: true, serviceAccountSelector: true, types: true, ingress: true, egress: true,
};
const GLOBAL_POLICY_KEYS: Record<keyof GlobalNetworkPolicySpec, true> = {
  ...POLICY_KEYS, namespaceSelector: true, doNotTrack: true, preDNAT: true, applyOnForward: true,
};

function selectorText(field: string, value: Selector | string | undefined): string | undefined {
  return value === undefined ? undefined : toSelector(field, value, Selector.all()).toString();
}

function nets(field: string, list: readonly string[] | undefined, family: IpFamily | undefined): string[] | undefined {
  if (list === undefined) return undefined;
  return list.map((text, i) => {
    // A single address is accepted as its /32 or /128, as Calico does.
    const cidrText = text.includes('/') ? text : `${text}/${text.includes(':') ? 128 : 32}`;
    const cidr = Cidr.parse(cidrText, `${field}[${i}]`);
    if (family !== undefined && cidr.family !== family) {
      throw new ValidationError(`${field}[${i}]`, text, `an IPv${family} CIDR (the rule's ipVersion is ${family})`);
    }
    return cidr.toString();
  });
}

function resolveEntity(e: EntityRuleSpec | undefined, field: string, rule: PolicyRuleSpec): ResolvedEntityRule | undefined {
  if (e === undefined) return undefined;
  checkKnownKeys(field, e, Object.keys(ENTITY_KEYS), 'a rule source or destination');
  const portsGiven = (e.ports?.length ?? 0) + (e.notPorts?.length ?? 0) > 0;
  if (portsGiven && !(rule.protocol?.hasPorts ?? false)) {
    throw new ValidationError(`${field}.ports`, (e.ports ?? e.notPorts ?? []).map((p) => p.value),
      'a rule protocol with ports (TCP, UDP, SCTP or UDPLite) when ports are matched');
  }
  (e.serviceAccountNames ?? []).forEach((n, i) => checkObjectName(`${field}.serviceAccountNames[${i}]`, n));
  const sa = e.serviceAccountNames !== undefined || e.serviceAccountSelector !== undefined
    ? {
      ...(e.serviceAccountNames ? { names: [...e.serviceAccountNames] } : {}),
      ...(e.serviceAccountSelector !== undefined ? { selector: selectorText(`${field}.serviceAccountSelector`, e.serviceAccountSelector) } : {}),
    }
    : undefined;
  return strip({
    nets: nets(`${field}.nets`, e.nets, rule.ipVersion),
    notNets: nets(`${field}.notNets`, e.notNets, rule.ipVersion),
    selector: selectorText(`${field}.selector`, e.selector),
    notSelector: selectorText(`${field}.notSelector`, e.notSelector),
    namespaceSelector: selectorText(`${field}.namespaceSelector`, e.namespaceSelector),
    ports: e.ports?.map((p) => p.value),
    notPorts: e.notPorts?.map((p) => p.value),
    serviceAccounts: sa,
  });
}

function icmpMatch(field: string, rule: PolicyRuleSpec, type: number | undefined, code: number | undefined) {
  if (type === undefined && code === undefined) return undefined;
  if (type === undefined) throw new ValidationError(`${field}Code`, code, `unset unless ${field}Type is set`);
  if (!(rule.protocol?.isIcmp ?? false)) {
    throw new ValidationError(`${field}Type`, type, 'unset unless the rule protocol is ICMP or ICMPv6');
  }
  if (!Number.isInteger(type) || type < 0 || type > 254) throw new ValidationError(`${field}Type`, type, 'an ICMP type from 0 to 254');
  if (code !== undefined && (!Number.isInteger(code) || code < 0 || code > 255)) throw new ValidationError(`${field}Code`, code, 'an ICMP code from 0 to 255');
  return code === undefined ? { type } : { type, code };
}

export function resolveRule(rule: PolicyRuleSpec, field: string): ResolvedRule {
  checkKnownKeys(field, rule, Object.keys(RULE_KEYS), 'a policy rule');
  if (!Object.values(PolicyAction).includes(rule.action)) {
    throw new ValidationError(`${field}.action`, rule.action, `one of ${Object.values(PolicyAction).join(', ')}`);
  }
  if (rule.ipVersion !== undefined && rule.ipVersion !== 4 && rule.ipVersion !== 6) {
    throw new ValidationError(`${field}.ipVersion`, rule.ipVersion, '4 or 6');
  }
  if (rule.protocol?.value === 'ICMP' && rule.ipVersion === 6) throw new ValidationError(`${field}.protocol`, 'ICMP', 'ICMPv6 for ipVersion 6');
  if (rule.protocol?.value === 'ICMPv6' && rule.ipVersion === 4) throw new ValidationError(`${field}.protocol`, 'ICMPv6', 'ICMP for ipVersion 4');
  return strip({
    action: rule.action,
    ipVersion: rule.ipVersion,
    protocol: rule.protocol?.value,
    notProtocol: rule.notProtocol?.value,
    icmp: icmpMatch(`${field}.icmp`, rule, rule.icmpType, rule.icmpCode),
    notIcmp: icmpMatch(`${field}.notIcmp`, rule, rule.notIcmpType, rule.notIcmpCode),
    source: resolveEntity(rule.source, `${field}.source`, rule),
    destination: resolveEntity(rule.destination, `${field}.destination`, rule),
  });
}

export function resolvePolicy(spec: PolicySpec, field: string, knownKeys: readonly string[] = Object.keys(POLICY_KEYS)): ResolvedPolicy {
  checkKnownKeys(field, spec, knownKeys, 'a policy');
  const name = checkObjectName(`${field}.name`, spec.name);
  const tier = spec.tier === undefined ? DEFAULT_TIER_NAME : checkDnsLabel(`${field}.tier`, spec.tier);
  if (tier !== DEFAULT_TIER_NAME && !name.startsWith(`${tier}.`)) {
    throw new ValidationError(`${field}.name`, name, `"${tier}.<name>" (a policy in tier ${tier} is named after its tier)`);
  }
  if (spec.order !== undefined && (!Number.isFinite(spec.order) || spec.order < 0)) {
    throw new ValidationError(`${field}.order`, spec.order, 'a number of at least 0');
  }
  const ingress = (spec.ingress ?? []).map((r, i) => resolveRule(r, `${field}.ingress[${i}]`));
  const egress = (spec.egress ?? []).map((r, i) => resolveRule(r, `${field}.egress[${i}]`));
  const types = spec.types ?? [PolicyType.INGRESS, ...(egress.length > 0 ? [PolicyType.EGRESS] : [])];
  types.forEach((t, i) => {
    if (!Object.values(PolicyType).includes(t)) throw new ValidationError(`${field}.types[${i}]`, t, 'Ingress or Egress');
  });
  if (new Set(types).size !== types.length || types.length === 0) throw new ValidationError(`${field}.types`, types, 'Ingress and/or Egress, each once');
  if (ingress.length > 0 && !types.includes(PolicyType.INGRESS)) {
    throw new ValidationError(`${field}.types`, types, 'to include Ingress when ingress rules are given (they would never apply)');
  }
  if (egress.length > 0 && !types.includes(PolicyType.EGRESS)) {
    throw new ValidationError(`${field}.types`, types, 'to include Egress when egress rules are given (they would never apply)');
  }
  return strip({
    name,
    tier: tier === DEFAULT_TIER_NAME ? undefined : tier,
    order: spec.order,
    selector: selectorText(`${field}.selector`, spec.selector) ?? 'all()',
    serviceAccountSelector: selectorText(`${field}.serviceAccountSelector`, spec.serviceAccountSelector),
    types: [...types],
    ingress,
    egress,
  });
}

export function resolveNetworkPolicy(spec: NetworkPolicySpec, field = 'networkPolicy'): ResolvedPolicy & { readonly namespace: string } {
  return { ...resolvePolicy(spec, field, [...Object.keys(POLICY_KEYS), 'namespace']), namespace: checkObjectName(`${field}.namespace`, spec.namespace) };
}

export function resolveGlobalNetworkPolicy(spec: GlobalNetworkPolicySpec, field = 'globalNetworkPolicy'): ResolvedGlobalPolicy {
  const base = resolvePolicy(spec, field, Object.keys(GLOBAL_POLICY_KEYS));
  const doNotTrack = spec.doNotTrack ?? false;
  const preDNAT = spec.preDNAT ?? false;
  const applyOnForward = spec.applyOnForward ?? (doNotTrack || preDNAT);
  if (doNotTrack && preDNAT) throw new ValidationError(`${field}.preDNAT`, true, 'false when doNotTrack is true');
  if ((doNotTrack || preDNAT) && !applyOnForward) {
    throw new ValidationError(`${field}.applyOnForward`, false, 'true when doNotTrack or preDNAT is set');
  }
  if (preDNAT && base.types.includes(PolicyType.EGRESS)) {
    throw new ValidationError(`${field}.types`, base.types, 'only Ingress for a preDNAT policy');
  }
  return strip({
    ...base,
    namespaceSelector: selectorText(`${field}.namespaceSelector`, spec.namespaceSelector),
    doNotTrack,
    preDNAT,
    applyOnForward,
  });
}

/** The tier every policy is in unless it names another; Kubernetes NetworkPolicies are always in it. */
export const DEFAULT_TIER_NAME = 'default';
/** Where the `default` tier sits unless a Tier named default says otherwise (libcalico-go `apiv3.DefaultTierOrder`). */
export const DEFAULT_TIER_ORDER = 1_000_000;

/** What a tier does with traffic its policies selected but no rule decided. */
export type TierDefaultAction = 'Deny' | 'Pass';

/** A Calico Tier: a group of policies evaluated together, tiers in order. */
export interface TierSpec {
  /** A DNS-1123 label (policy names in the tier start with `<name>.`). */
  readonly name: string;
  /** Lower orders run first; unset runs after every ordered tier; equal orders by name. @default - last */
  readonly order?: number;
  /** At the end of the tier, for endpoints its policies selected: deny, or pass on to the next tier. @default 'Deny' */
  readonly defaultAction?: TierDefaultAction;
}

export interface ResolvedTier {
  readonly name: string;
  readonly order?: number;
  readonly defaultAction: TierDefaultAction;
}

export function resolveTier(spec: TierSpec, field = 'tier'): ResolvedTier {
  checkKnownKeys(field, spec, ['name', 'order', 'defaultAction'], 'a tier');
  const name = checkDnsLabel(`${field}.name`, spec.name);
  if (spec.order !== undefined && (typeof spec.order !== 'number' || !Number.isFinite(spec.order) || spec.order < 0)) {
    throw new ValidationError(`${field}.order`, spec.order, 'a number of at least 0');
  }
  const defaultAction = spec.defaultAction ?? 'Deny';
  if (defaultAction !== 'Deny' && defaultAction !== 'Pass') throw new ValidationError(`${field}.defaultAction`, defaultAction, 'Deny or Pass');
  return strip({ name, order: spec.order, defaultAction });
}

/** Labelled CIDRs that selectors can match (NetworkSet in a namespace, GlobalNetworkSet cluster-wide). */
export interface NetworkSetSpec {
  readonly name: string;
  /** Labels selectors match on. @default - none */
  readonly labels?: Readonly<Record<string, string>>;
  readonly nets: readonly string[];
}

export function resolveNetworkSet(spec: NetworkSetSpec, field: string): { name: string; labels: Record<string, string>; nets: string[] } {
  const name = checkObjectName(`${field}.name`, spec.name);
  if (spec.nets.length === 0) throw new ValidationError(`${field}.nets`, [], 'at least one CIDR');
  return { name, labels: { ...(spec.labels ?? {}) }, nets: nets(`${field}.nets`, spec.nets, undefined) ?? [] };
}

/** Drops undefined fields so rendered objects hold only what was set. */
function strip<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** Namespaces the API server creates in every cluster: a policy set never renders them. */
export const BUILT_IN_NAMESPACES: readonly string[] = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** A namespace one of a policy set's namespaced objects lives in. */
export interface NamespaceUse {
  /** The field naming it, for errors, e.g. `policies.networkPolicies[0].namespace`. */
  readonly field: string;
  readonly namespace: string;
}

/** Whether and which namespaces a policy set renders (props of `CalicoPolicySet`). */
export interface PolicyNamespaceOptions {
  /** @default true */
  readonly createNamespaces?: boolean;
  /** @default none */
  readonly existingNamespaces?: readonly string[];
}

/**
 * The namespaces a policy set renders as Namespace objects: each namespace its objects use, once, in
 * order of first use, except the built-in ones and `existingNamespaces`; none when `createNamespaces`
 * is false. Every namespace used or listed must be a namespace name (a DNS-1123 label), as the API
 * server requires: a policy in `a.b` could never be created.
 */
export function policyNamespaces(uses: readonly NamespaceUse[], options: PolicyNamespaceOptions, field = 'policies'): string[] {
  const create = options.createNamespaces === undefined ? true : checkBoolean(`${field}.createNamespaces`, options.createNamespaces);
  const listed = options.existingNamespaces ?? [];
  if (!Array.isArray(listed)) throw new ValidationError(`${field}.existingNamespaces`, listed, 'a list of namespace names');
  const existing = new Set<string>();
  listed.forEach((namespace, i) => {
    const entry = `${field}.existingNamespaces[${i}]`;
    checkDnsLabel(entry, namespace);
    if (existing.has(namespace)) throw new ValidationError(entry, namespace, 'each namespace listed once');
    existing.add(namespace);
  });
  const rendered: string[] = [];
  for (const use of uses) {
    const namespace = checkDnsLabel(use.field, use.namespace);
    if (create && !BUILT_IN_NAMESPACES.includes(namespace) && !existing.has(namespace) && !rendered.includes(namespace)) rendered.push(namespace);
  }
  return rendered;
}
