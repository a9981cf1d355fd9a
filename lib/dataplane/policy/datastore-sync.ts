import { KeyValue, KeyValueStore, WatchEvent, WatchHandle } from '../datastore/types';
import { SyncResult } from './engine';
import { KUBERNETES_POLICY_NAME_PREFIX, POLICY_KEYS, POLICY_PREFIXES } from './keys';
import { NodeWorld, PolicyReconciler, PolicyReconcilerOptions } from './reconciler';
import { addPolicyObject, PolicyObjects } from './load';
import { NamedPort, Policy, PolicyEndpoint, PolicyNamespace, PolicyServiceAccount } from './types';

export { KUBERNETES_POLICY_NAME_PREFIX, POLICY_KEYS, POLICY_PREFIXES } from './keys';

const KIND_BY_PREFIX: Record<string, string> = {
  [POLICY_KEYS.networkPolicies]: 'NetworkPolicy',
  [POLICY_KEYS.kubernetesNetworkPolicies]: 'NetworkPolicy',
  [POLICY_KEYS.globalNetworkPolicies]: 'GlobalNetworkPolicy',
  [POLICY_KEYS.networkSets]: 'NetworkSet',
  [POLICY_KEYS.globalNetworkSets]: 'GlobalNetworkSet',
};

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
}

/**
 * The policy half of a Calico-style node agent over the datastore: lists and watches workload
 * endpoints, profiles, policies and network sets (POLICY_PREFIXES), keeps the world in memory and
 * has the engine apply each change (debounced) as one incremental transaction; a periodic resync
 * repairs drift. The same in both datastores: in Kubernetes mode the store's views convert pods,
 * namespaces, service accounts and NetworkPolicies into these keys.
 */
export class PolicyDatastoreSync {
  private readonly values = new Map<string, string>();
  private readonly watches: WatchHandle[] = [];
  private readonly reconciler: PolicyReconciler;

  constructor(private readonly options: PolicyDatastoreSyncOptions) {
    this.reconciler = new PolicyReconciler(options, () => this.world());
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
    const objects: PolicyObjects = { policies: [], networkSets: [] };
    for (const [key, value] of [...this.values].sort(([a], [b]) => (a < b ? -1 : 1))) {
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
      } else {
        const prefix = Object.keys(KIND_BY_PREFIX).find((p) => key.startsWith(p));
        if (!prefix) continue;
        if (typeof doc.conversionError === 'string') {
          this.options.onSync?.(new Error(`${key}: ${doc.conversionError}`)); // a Kubernetes policy the view could not convert
          continue;
        }
        try {
          addPolicyObject(objects, { apiVersion: 'projectcalico.org/v3', kind: KIND_BY_PREFIX[prefix], ...doc }, key);
        } catch (error) {
          this.options.onSync?.(error as Error); // one bad policy is reported, the others still apply
        }
      }
    }
    return { namespaces, endpoints, serviceAccounts, policies: objects.policies.map(asKubernetesPolicy), networkSets: objects.networkSets, localEndpoints: local };
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
