import { Gauge, Registry } from 'prom-client';
import { Selector } from '../../model/calico/selector';
import { parseSelector } from '../../model/calico/selector-parser';
import { decodeJsonObject } from '../datastore/records';
import { KeyValue, KeyValueStore, WatchEvent, WatchHandle } from '../datastore/types';
import { SyncResult } from './engine';
import { KUBERNETES_POLICY_NAME_PREFIX, POLICY_KEYS, POLICY_PREFIXES } from './keys';
import { NodeWorld, PolicyReconciler, PolicyReconcilerOptions } from './reconciler';
import { addPolicyObject, PolicyObjects } from './load';
import { DEFAULT_TIER, NamedPort, Policy, PolicyEndpoint, PolicyNamespace, PolicyServiceAccount, PolicyTier, PolicyType } from './types';

export { KUBERNETES_POLICY_NAME_PREFIX, POLICY_KEYS, POLICY_PREFIXES } from './keys';

const KIND_BY_PREFIX: Record<string, string> = {
  [POLICY_KEYS.networkPolicies]: 'NetworkPolicy',
  [POLICY_KEYS.kubernetesNetworkPolicies]: 'NetworkPolicy',
  [POLICY_KEYS.globalNetworkPolicies]: 'GlobalNetworkPolicy',
  [POLICY_KEYS.networkSets]: 'NetworkSet',
  [POLICY_KEYS.globalNetworkSets]: 'GlobalNetworkSet',
  [POLICY_KEYS.tiers]: 'Tier',
};
const POLICY_KINDS = new Set(['NetworkPolicy', 'GlobalNetworkPolicy']);

/**
 * `knp.default.<name>` is a converted Kubernetes NetworkPolicy (by the Kubernetes datastore's view,
 * or by Calico's controllers in etcd): the engine keeps it apart from Calico's own policies by kind.
 */
function asKubernetesPolicy(p: Policy): Policy {
  return p.kind === 'NetworkPolicy' && p.name.startsWith(KUBERNETES_POLICY_NAME_PREFIX)
    ? { ...p, kind: 'KubernetesNetworkPolicy', name: p.name.slice(KUBERNETES_POLICY_NAME_PREFIX.length) } : p;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): Record<string, string> => (isObj(v) ? Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === 'string')) as Record<string, string> : {});

export interface PolicyDatastoreSyncOptions extends PolicyReconcilerOptions {
  /**
   * Calico's key layout (keys.ts): etcd, or `KubeCrdStore`'s views of the Kubernetes API — best
   * through a watch cache (`cachedStore`) fed by the datastore or by Typha, so that the agent holds
   * no watches of its own.
   */
  readonly store: KeyValueStore;
  /** This node's name: its workload endpoints (`spec.node`) are the ones enforced here. */
  readonly nodeName: string;
  /**
   * A policy, network set or tier version the agent refuses, once per version (and once more when it
   * is fixed or deleted: `resolved`). Without it they go to `onSync` as errors. @default onSync
   */
  readonly onInvalid?: (report: InvalidPolicyReport) => void;
  /** Where `cnikit_policy_invalid` is registered. @default a registry of its own (`PolicyDatastoreSync.registry`) */
  readonly registry?: Registry;
}

/** What the agent does instead of enforcing a refused version. */
export type InvalidPolicyFallback =
  /** The last version it accepted stays in force. */
  | 'last-good'
  /** No good version: the endpoints it selects are isolated in its directions (in its tier, it allows nothing). */
  | 'isolation'
  /** Nothing can be enforced for it (a network set or tier, or a global policy whose selector cannot be read). */
  | 'none';

export interface InvalidPolicyReport {
  readonly key: string;
  readonly kind: string;
  /** Unset for cluster-scoped kinds. */
  readonly namespace?: string;
  readonly name: string;
  /** One line naming the key, the field, the value and what is expected. */
  readonly message: string;
  readonly fallback: InvalidPolicyFallback;
  /** The bad version was replaced by a good one, or deleted. */
  readonly resolved?: true;
}

/** One datastore value, parsed once per version. */
interface Parsed {
  readonly value: string;
  readonly objects?: PolicyObjects;
  readonly error?: string;
}

/**
 * The policy half of a Calico-style node agent over the datastore: lists and watches workload
 * endpoints, profiles, policies and network sets (POLICY_PREFIXES), keeps the world in memory and
 * has the engine apply each change (debounced) as one incremental transaction; a periodic resync
 * repairs drift. The same in both datastores: in Kubernetes mode the store's views convert pods,
 * namespaces, service accounts and NetworkPolicies into these keys.
 */
export class PolicyDatastoreSync {
  /** Registry of `cnikit_policy_invalid` (the one passed in, or the sync's own). */
  public readonly registry: Registry;
  private readonly values = new Map<string, string>();
  private readonly parsed = new Map<string, Parsed>();
  private readonly lastGood = new Map<string, PolicyObjects>();
  private readonly invalid = new Map<string, InvalidPolicyReport>();
  /** Policies in a tier that does not exist, with the version reported. */
  private readonly missingTier = new Map<string, { readonly version: string; readonly report: InvalidPolicyReport }>();
  private readonly invalidGauge: Gauge<'kind' | 'namespace' | 'name' | 'fallback'>;
  private readonly watches: WatchHandle[] = [];
  private readonly reconciler: PolicyReconciler;

  constructor(private readonly options: PolicyDatastoreSyncOptions) {
    this.reconciler = new PolicyReconciler(options, () => this.world());
    this.registry = options.registry ?? new Registry();
    this.invalidGauge = new Gauge({
      name: 'cnikit_policy_invalid',
      help: 'Policies, network sets and tiers whose current version the agent refuses (1 each), by what it enforces instead',
      labelNames: ['kind', 'namespace', 'name', 'fallback'], registers: [this.registry],
    });
  }

  /** Lists everything, applies it, then follows changes. */
  public async start(): Promise<SyncResult> {
    for (const prefix of POLICY_PREFIXES) {
      const list = await this.options.store.list(prefix);
      for (const kv of list.items) this.values.set(kv.key, kv.value);
      this.watches.push(this.options.store.watch(prefix, (e) => this.onEvent(prefix, e), {
        fromRevision: list.revision, onError: (error) => this.options.onSync?.(error),
      }));
    }
    return this.reconciler.start();
  }

  /** The world as the datastore describes it now. */
  public world(): NodeWorld {
    const endpoints: PolicyEndpoint[] = [];
    const local: string[] = [];
    const namespaces: PolicyNamespace[] = [];
    const serviceAccounts: PolicyServiceAccount[] = [];
    const objects: PolicyObjects = { policies: [], networkSets: [], tiers: [] };
    const keyOf = new Map<Policy, string>();
    for (const [key, value] of [...this.values].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const prefix = Object.keys(KIND_BY_PREFIX).find((p) => key.startsWith(p));
      if (prefix) {
        this.policyObjects(key, value, KIND_BY_PREFIX[prefix], objects, keyOf);
        continue;
      }
      let doc: unknown;
      try {
        doc = JSON.parse(value);
      } catch {
        continue; // not ours to judge: another writer's garbage must not stop enforcement
      }
      if (!isObj(doc)) continue;
      const meta = isObj(doc.metadata) ? doc.metadata : {};
      const spec = isObj(doc.spec) ? doc.spec : {};
      if (key.startsWith(POLICY_KEYS.workloadEndpoints)) {
        const labels = strings(meta.labels);
        const namespace = String(meta.namespace ?? labels['projectcalico.org/namespace'] ?? 'default');
        const name = String(spec.pod ?? meta.name);
        const ports = (Array.isArray(spec.ports) ? spec.ports : []).filter(isObj).map((p): NamedPort => ({
          name: String(p.name), port: Number(p.port), protocol: (['TCP', 'UDP', 'SCTP'].includes(String(p.protocol)) ? p.protocol : 'TCP') as NamedPort['protocol'],
        }));
        endpoints.push({
          namespace, name, labels, ports,
          serviceAccount: labels['projectcalico.org/serviceaccount'] ?? (typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : undefined),
          addresses: (Array.isArray(spec.ipNetworks) ? spec.ipNetworks : []).map((n) => String(n).split('/')[0]),
          interfaceName: typeof spec.interfaceName === 'string' ? spec.interfaceName : undefined,
        });
        if (spec.node === this.options.nodeName) local.push(`${namespace}/${name}`);
      } else if (key.startsWith(POLICY_KEYS.namespaceProfiles) || key.startsWith(POLICY_KEYS.serviceAccountProfiles)) {
        const name = String(meta.name ?? key.slice('profiles/'.length));
        const apply = strings(spec.labelsToApply);
        const pick = (prefix: string) => Object.fromEntries(Object.entries(apply).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
        if (name.startsWith('kns.')) namespaces.push({ name: name.slice(4), labels: pick('pcns.') });
        const sa = /^ksa\.([^.]+)\.(.+)$/.exec(name);
        if (sa) serviceAccounts.push({ namespace: sa[1], name: sa[2], labels: pick('pcsa.') });
      }
    }
    for (const key of [...this.parsed.keys()]) if (!this.values.has(key)) this.forget(key);
    const { policies, tiers } = this.withKnownTiers(objects.policies, objects.tiers, keyOf);
    return { namespaces, endpoints, serviceAccounts, policies: policies.map(asKubernetesPolicy), networkSets: objects.networkSets, tiers, localEndpoints: local };
  }

  /**
   * One policy, network set or tier key: the version in the datastore when it is valid, else the last
   * valid one, else (policies) an isolating stand-in. Parsed once per version, reported once per
   * bad version.
   */
  private policyObjects(key: string, value: string, kind: string, out: PolicyObjects, keyOf: Map<Policy, string>): void {
    let parsed = this.parsed.get(key);
    if (parsed?.value !== value) {
      parsed = this.parse(key, value, kind);
      this.parsed.set(key, parsed);
      if (parsed.objects) {
        this.lastGood.set(key, parsed.objects);
        this.resolve(key);
      } else {
        const fallback: InvalidPolicyFallback = this.lastGood.has(key) ? 'last-good' : isolationOf(key, value, kind) ? 'isolation' : 'none';
        const outcome = { 'last-good': 'the last good version stays in force', isolation: 'no good version: its endpoints are isolated', none: 'no good version: not enforced' }[fallback];
        this.report({ key, ...identify(key, value, kind), message: `${parsed.error as string} (${outcome})`, fallback });
      }
    }
    const use = this.lastGood.get(key);
    if (use) {
      for (const p of use.policies) keyOf.set(p, key);
      out.policies.push(...use.policies);
      out.networkSets.push(...use.networkSets);
      out.tiers.push(...use.tiers);
      return;
    }
    const stand = isolationOf(key, value, kind);
    if (stand) {
      keyOf.set(stand, key);
      out.policies.push(stand);
    }
  }

  private parse(key: string, value: string, kind: string): Parsed {
    let doc: Obj;
    try {
      doc = decodeJsonObject({ key, value });
    } catch (error) {
      return { value, error: (error as Error).message };
    }
    // A Kubernetes policy the view could not convert.
    if (typeof doc.conversionError === 'string') return { value, error: `${key}: ${doc.conversionError}` };
    const objects: PolicyObjects = { policies: [], networkSets: [], tiers: [] };
    try {
      addPolicyObject(objects, { apiVersion: 'projectcalico.org/v3', kind, ...doc }, key);
    } catch (error) {
      return { value, error: (error as Error).message.split('\n')[0] };
    }
    return { value, objects };
  }

  private report(r: InvalidPolicyReport): void {
    const was = this.invalid.get(r.key);
    if (was) this.invalidGauge.remove(was.kind, was.namespace ?? '', was.name, was.fallback);
    this.invalid.set(r.key, r);
    this.announce(r);
  }

  private resolve(key: string): void {
    const was = this.invalid.get(key);
    if (!was) return;
    this.invalid.delete(key);
    this.announce({ ...was, message: `${key}: the refused version was replaced by a good one, or deleted`, resolved: true });
  }

  /** The gauge, then the hook (or onSync for a refusal). */
  private announce(r: InvalidPolicyReport): void {
    const labels = [r.kind, r.namespace ?? '', r.name, r.fallback] as const;
    if (r.resolved) this.invalidGauge.remove(...labels);
    else this.invalidGauge.labels(...labels).set(1);
    if (this.options.onInvalid) this.options.onInvalid(r);
    else if (!r.resolved) this.options.onSync?.(new Error(r.message));
  }

  private forget(key: string): void {
    this.parsed.delete(key);
    this.lastGood.delete(key);
    this.resolve(key);
  }

  /**
   * Calico's apiserver refuses a policy in a tier that does not exist. One that gets here anyway
   * fails closed: it allows nothing, in a tier of its own before every other, so its endpoints are
   * denied in its directions until the tier is created. Reported once per policy version.
   */
  private withKnownTiers(policies: readonly Policy[], tiers: readonly PolicyTier[], keyOf: ReadonlyMap<Policy, string>): { policies: Policy[]; tiers: PolicyTier[] } {
    const known = new Set([DEFAULT_TIER, ...tiers.map((t) => t.name)]);
    const missing = new Map<string, PolicyTier>();
    const stillMissing = new Set<string>();
    const out = policies.map((p) => {
      const tier = p.tier ?? DEFAULT_TIER;
      if (known.has(tier)) return p;
      missing.set(tier, { name: tier, order: Number.NEGATIVE_INFINITY, defaultAction: 'Deny' });
      const key = keyOf.get(p) ?? p.name;
      stillMissing.add(key);
      const version = this.values.get(key) ?? '';
      if (this.missingTier.get(key)?.version !== version) {
        const r: InvalidPolicyReport = {
          key, kind: p.kind, ...(p.namespace ? { namespace: p.namespace } : {}), name: p.name, fallback: 'isolation',
          message: `${key}: ${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}.spec.tier: ${JSON.stringify(tier)} is not valid; expected an existing Tier (its endpoints are isolated until it exists)`,
        };
        this.missingTier.set(key, { version, report: r });
        this.announce(r);
      }
      return { ...p, ingress: [], egress: [] };
    });
    for (const [key, { report }] of [...this.missingTier]) {
      if (stillMissing.has(key)) continue;
      this.missingTier.delete(key);
      this.announce({ ...report, message: `${key}: its tier exists now (or the policy is gone)`, resolved: true });
    }
    return { policies: out, tiers: [...tiers, ...missing.values()] };
  }

  /** Settings that changed while running (FelixConfiguration): see PolicyReconciler.reconfigure. */
  public reconfigure(change: Parameters<PolicyReconciler['reconfigure']>[0]): void {
    this.reconciler.reconfigure(change);
  }

  public async stop(removeTable = false): Promise<void> {
    await Promise.all(this.watches.splice(0).map((w) => w.close()));
    await this.reconciler.stop(removeTable);
  }

  private onEvent(prefix: string, event: WatchEvent): void {
    if (event.type === 'put') this.values.set(event.kv.key, event.kv.value);
    else if (event.type === 'delete') this.values.delete(event.key);
    else {
      for (const key of [...this.values.keys()]) if (key.startsWith(prefix)) this.values.delete(key);
      event.items.forEach((kv: KeyValue) => this.values.set(kv.key, kv.value));
    }
    this.reconciler.changed();
  }
}

/** Kind, namespace and name of a key's object, from its document when it can be read, else from the key. */
function identify(key: string, value: string, kind: string): { kind: string; namespace?: string; name: string } {
  let meta: Obj = {};
  try {
    const doc: unknown = JSON.parse(value);
    if (isObj(doc) && isObj(doc.metadata)) meta = doc.metadata;
  } catch {
    // the key says it
  }
  const rest = key.slice((Object.keys(KIND_BY_PREFIX).find((p) => key.startsWith(p)) ?? '').length).split('/');
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : rest.length > 1 ? rest[0] : undefined;
  const name = typeof meta.name === 'string' ? meta.name : rest[rest.length - 1];
  const k8s = kind === 'NetworkPolicy' && name.startsWith(KUBERNETES_POLICY_NAME_PREFIX);
  return { kind: k8s ? 'KubernetesNetworkPolicy' : kind, ...(namespace !== undefined ? { namespace } : {}), name: k8s ? name.slice(KUBERNETES_POLICY_NAME_PREFIX.length) : name };
}

const selectorOk = (text: string): boolean => {
  try {
    parseSelector(text);
    return true;
  } catch {
    return false;
  }
};

/**
 * The stand-in for a policy with no good version: it selects what the document's selector selects
 * (a namespaced policy whose selector cannot be read: its whole namespace) in the directions it
 * declares, and allows nothing. A Kubernetes policy's view supplies `isolation` (its podSelector and
 * policyTypes as the apiserver accepted them). Undefined when nothing sensible can be isolated: not
 * a policy, not a document, or a global policy whose selector cannot be read.
 */
function isolationOf(key: string, value: string, kind: string): Policy | undefined {
  if (!POLICY_KINDS.has(kind)) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (!isObj(doc)) return undefined;
  const { namespace, name, kind: realKind } = identify(key, value, kind);
  const spec = isObj(doc.isolation) ? doc.isolation : isObj(doc.spec) ? doc.spec : {};
  const namespaced = kind === 'NetworkPolicy';
  let selector = typeof spec.selector === 'string' ? spec.selector : Selector.all().toString();
  if (!selectorOk(selector)) {
    if (!namespaced) return undefined;
    selector = Selector.all().toString();
  }
  const declared = Array.isArray(spec.types) ? spec.types.filter((t): t is PolicyType => t === PolicyType.INGRESS || t === PolicyType.EGRESS) : [];
  const types = declared.length ? [...new Set(declared)] : [PolicyType.INGRESS, ...(spec.egress !== undefined ? [PolicyType.EGRESS] : [])];
  const tier = typeof spec.tier === 'string' && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(spec.tier) ? spec.tier : DEFAULT_TIER;
  const order = typeof spec.order === 'number' && Number.isFinite(spec.order) ? spec.order : undefined;
  return {
    kind: realKind as Policy['kind'], name, ...(namespaced ? { namespace: namespace ?? 'default' } : {}),
    ...(order !== undefined ? { order } : {}), ...(tier !== DEFAULT_TIER ? { tier } : {}),
    selector, types, ingress: [], egress: [],
  };
}
