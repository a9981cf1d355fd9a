import { Cidr } from '../../model/cidr';
import { ResolvedEntityRule } from '../../model/calico/policy';
import { Selector } from '../../model/calico/selector';
import { parseSelector } from '../../model/calico/selector-parser';
import { DEFAULT_TIER, DEFAULT_TIER_ORDER, Direction, Policy, PolicyEndpoint, PolicyTier, PolicyType, PolicyWorld } from './types';

/** One tier's policies for one endpoint and direction, in evaluation order. */
export interface TierPolicies {
  readonly tier: Required<Pick<PolicyTier, 'name' | 'defaultAction'>> & PolicyTier;
  readonly policies: readonly Policy[];
}

/** What a rule's selector part (selector, namespaceSelector, service accounts) picks out. */
export interface Members {
  readonly endpoints: readonly PolicyEndpoint[];
  /** CIDRs of the matched NetworkSets / GlobalNetworkSets. */
  readonly nets: readonly string[];
}

/** Calico's labels on a workload endpoint beside the pod's own. */
export const NAMESPACE_LABEL = 'projectcalico.org/namespace';
export const ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';
export const SERVICE_ACCOUNT_LABEL = 'projectcalico.org/serviceaccount';

/**
 * Answers "which endpoints does this select" for one PolicyWorld, with Calico's scoping rules:
 * a namespaced policy's selectors look in its own namespace unless a namespaceSelector widens
 * them; a global policy's selectors look everywhere (GlobalNetworkSets included); the
 * namespaceSelector `global()` picks GlobalNetworkSets only.
 */
export class PolicyIndex {
  private readonly selectors = new Map<string, Selector>();
  private readonly namespaceLabels = new Map<string, Record<string, string>>();
  private readonly endpointLabelCache = new Map<PolicyEndpoint, Record<string, string>>();
  private readonly saLabels = new Map<string, Readonly<Record<string, string>>>();
  private readonly byAddress = new Map<string, PolicyEndpoint>();
  /** Namespaced policies by namespace, and the global ones: a namespaced policy never selects elsewhere. */
  private readonly policiesByNamespace = new Map<string, Policy[]>();
  private readonly globalPolicies: Policy[] = [];
  private readonly endpointsByNamespace = new Map<string, PolicyEndpoint[]>();
  private readonly memberCache = new Map<string, Members | undefined>();
  private readonly tierList: TierPolicies['tier'][];

  constructor(public readonly world: PolicyWorld) {
    for (const ns of world.namespaces) this.namespaceLabels.set(ns.name, { 'kubernetes.io/metadata.name': ns.name, ...(ns.labels ?? {}) });
    for (const ep of world.endpoints) {
      if (!this.namespaceLabels.has(ep.namespace)) this.namespaceLabels.set(ep.namespace, { 'kubernetes.io/metadata.name': ep.namespace });
      for (const a of ep.addresses) this.byAddress.set(a, ep);
      const list = this.endpointsByNamespace.get(ep.namespace) ?? [];
      list.push(ep);
      this.endpointsByNamespace.set(ep.namespace, list);
    }
    const tiers = new Map<string, TierPolicies['tier']>([[DEFAULT_TIER, { name: DEFAULT_TIER, order: DEFAULT_TIER_ORDER, defaultAction: 'Deny' }]]);
    for (const t of world.tiers ?? []) tiers.set(t.name, { ...t, defaultAction: t.defaultAction ?? 'Deny' });
    // A tier no Tier object describes: after every other one, denying at its end.
    for (const p of world.policies) if (!tiers.has(tierOf(p))) tiers.set(tierOf(p), { name: tierOf(p), defaultAction: 'Deny' });
    this.tierList = sortTiers([...tiers.values()]);
    for (const sa of world.serviceAccounts ?? []) this.saLabels.set(`${sa.namespace}/${sa.name}`, sa.labels ?? {});
    for (const p of world.policies) {
      if (p.namespace === undefined) this.globalPolicies.push(p);
      else {
        const list = this.policiesByNamespace.get(p.namespace) ?? [];
        list.push(p);
        this.policiesByNamespace.set(p.namespace, list);
      }
    }
  }

  public selector(text: string): Selector {
    let s = this.selectors.get(text);
    if (!s) {
      s = parseSelector(text);
      this.selectors.set(text, s);
    }
    return s;
  }

  public endpointAt(address: string): PolicyEndpoint | undefined {
    return this.byAddress.get(address);
  }

  public labelsOfNamespace(name: string): Readonly<Record<string, string>> {
    return this.namespaceLabels.get(name) ?? { 'kubernetes.io/metadata.name': name };
  }

  public namespaceNames(): string[] {
    return [...this.namespaceLabels.keys()];
  }

  /** Pod labels plus the ones Calico adds (namespace, orchestrator, service account). */
  public labelsOf(ep: PolicyEndpoint): Readonly<Record<string, string>> {
    let labels = this.endpointLabelCache.get(ep);
    if (!labels) {
      labels = {
        ...(ep.labels ?? {}),
        [NAMESPACE_LABEL]: ep.namespace,
        [ORCHESTRATOR_LABEL]: 'k8s',
        [SERVICE_ACCOUNT_LABEL]: ep.serviceAccount ?? 'default',
      };
      this.endpointLabelCache.set(ep, labels);
    }
    return labels;
  }

  private serviceAccountMatches(ep: PolicyEndpoint, names: readonly string[] | undefined, selector: string | undefined): boolean {
    const sa = ep.serviceAccount ?? 'default';
    if (names !== undefined && !names.includes(sa)) return false;
    if (selector !== undefined && !this.selector(selector).matches(this.saLabels.get(`${ep.namespace}/${sa}`) ?? {})) return false;
    return true;
  }

  /** Does `policy` apply to endpoint `ep`? */
  public selects(policy: Policy, ep: PolicyEndpoint): boolean {
    if (policy.namespace !== undefined && policy.namespace !== ep.namespace) return false;
    if (policy.namespaceSelector !== undefined && !this.selector(policy.namespaceSelector).matches(this.labelsOfNamespace(ep.namespace))) return false;
    if (policy.serviceAccountSelector !== undefined && !this.serviceAccountMatches(ep, undefined, policy.serviceAccountSelector)) return false;
    return this.selector(policy.selector).matches(this.labelsOf(ep));
  }

  /** The policies that apply to `ep` in `direction`, in Calico's evaluation order (order, then name). */
  public policiesFor(ep: PolicyEndpoint, direction: Direction): Policy[] {
    const type = direction === 'ingress' ? PolicyType.INGRESS : PolicyType.EGRESS;
    const candidates = [...this.globalPolicies, ...(this.policiesByNamespace.get(ep.namespace) ?? [])];
    return sortPolicies(candidates.filter((p) => p.types.includes(type) && this.selects(p, ep)));
  }

  /**
   * The tiers that have a policy for `ep` in `direction`, in order, each with its policies in
   * order: a tier none of whose policies selects the endpoint is skipped, as in Calico.
   */
  public tiersFor(ep: PolicyEndpoint, direction: Direction): TierPolicies[] {
    const policies = this.policiesFor(ep, direction);
    return this.tierList.map((tier) => ({ tier, policies: policies.filter((p) => tierOf(p) === tier.name) })).filter((t) => t.policies.length > 0);
  }

  /**
   * The endpoints and network-set CIDRs a rule entity's selectors pick for `policy`, or
   * undefined when the entity has no selector part (then any address matches). `negated`
   * evaluates `notSelector` in the same scope instead of `selector`.
   */
  public members(policy: Policy, entity: ResolvedEntityRule | undefined, negated = false): Members | undefined {
    if (!entity) return undefined;
    const labelSelector = negated ? entity.notSelector : entity.selector;
    if (negated && labelSelector === undefined) return undefined;
    const sa = negated ? undefined : entity.serviceAccounts;
    if (!negated && labelSelector === undefined && entity.namespaceSelector === undefined && sa === undefined) return undefined;
    const key = JSON.stringify([policy.namespace ?? null, labelSelector ?? null, entity.namespaceSelector ?? null, sa ?? null]);
    if (this.memberCache.has(key)) return this.memberCache.get(key);
    const sel = labelSelector === undefined ? undefined : this.selector(labelSelector);
    const nsSel = entity.namespaceSelector === undefined ? undefined : this.selector(entity.namespaceSelector);
    const globalOnly = nsSel?.node.kind === 'global';
    // The namespaces the selectors look in: decided once, not per endpoint.
    const scope = new Set(globalOnly ? []
      : nsSel ? this.namespaceNames().filter((ns) => nsSel.matches(this.labelsOfNamespace(ns)))
        : policy.namespace !== undefined ? [policy.namespace] : this.namespaceNames());
    const endpoints = [...scope].flatMap((ns) => this.endpointsByNamespace.get(ns) ?? []).filter((ep) => (sel === undefined || sel.matches(this.labelsOf(ep)))
      && (sa === undefined || this.serviceAccountMatches(ep, sa.names, sa.selector)));
    // GlobalNetworkSets: picked by `namespaceSelector: global()`, or by a global policy's plain selector.
    const globalSetsInScope = globalOnly || (policy.namespace === undefined && nsSel === undefined);
    const sets = sa !== undefined ? [] : (this.world.networkSets ?? []).filter((set) => (set.namespace === undefined ? globalSetsInScope : scope.has(set.namespace))
      && (sel === undefined || sel.matches(set.labels ?? {}, set.namespace === undefined)));
    const result = { endpoints, nets: sets.flatMap((s) => s.nets) };
    this.memberCache.set(key, result);
    return result;
  }

}

export function isMember(members: Members, address: string): boolean {
  if (members.endpoints.some((ep) => ep.addresses.includes(address))) return true;
  return members.nets.some((net) => {
    const cidr = Cidr.parse(net, 'nets');
    return cidr.family === (address.includes(':') ? 6 : 4) && cidr.containsAddress(address);
  });
}

export function tierOf(p: Policy): string {
  return p.tier ?? DEFAULT_TIER;
}

/** Tiers by order (unset last), then by name, as Calico orders them. */
export function sortTiers<T extends PolicyTier>(tiers: readonly T[]): T[] {
  return [...tiers].sort((a, b) => {
    const oa = a.order ?? Number.POSITIVE_INFINITY;
    const ob = b.order ?? Number.POSITIVE_INFINITY;
    if (oa !== ob) return oa < ob ? -1 : 1;
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
}

/** Policies by order (unset last), then by name. */
export function sortPolicies(policies: readonly Policy[]): Policy[] {
  return [...policies].sort((a, b) => {
    const oa = a.order ?? Number.POSITIVE_INFINITY;
    const ob = b.order ?? Number.POSITIVE_INFINITY;
    if (oa !== ob) return oa < ob ? -1 : 1;
    const na = policySortName(a);
    const nb = policySortName(b);
    return na < nb ? -1 : na > nb ? 1 : 0;
  });
}

export function policySortName(p: Policy): string {
  return `${p.kind === 'KubernetesNetworkPolicy' ? 'knp.default.' : ''}${p.name}/${p.namespace ?? ''}`;
}

/** A stable display id: `<namespace>/<name>` or `<name>` for global policies, with the knp prefix for Kubernetes ones. */
export function policyId(p: Policy): string {
  const name = p.kind === 'KubernetesNetworkPolicy' ? `knp.default.${p.name}` : p.name;
  return p.namespace === undefined ? name : `${p.namespace}/${name}`;
}
