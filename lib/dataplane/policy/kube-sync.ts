import { workloadVethName } from '../calico/workload-endpoint';
import { isKubeApiError, KubeClient, WatchStream } from '../datastore/kube/client';
import { CALICO_CRD_GROUP, CALICO_CRD_VERSION, ResourceApi, ResourcePath } from '../datastore/kube/resource';
import { KubeObject } from '../datastore/kube/types';
import { SyncResult } from './engine';
import { fromKubernetesNetworkPolicy, K8sNetworkPolicy } from './kubernetes';
import { addPolicyObject, PolicyObjects } from './load';
import { NodeWorld, PolicyReconciler, PolicyReconcilerOptions } from './reconciler';
import { NamedPort, PolicyEndpoint } from './types';

/** What the agent follows in Kubernetes mode, cluster-wide (namespaced kinds across all namespaces). */
export const KUBE_POLICY_SOURCES: Readonly<Record<string, ResourcePath>> = {
  pods: { version: 'v1', plural: 'pods' },
  namespaces: { version: 'v1', plural: 'namespaces' },
  serviceaccounts: { version: 'v1', plural: 'serviceaccounts' },
  kubernetesNetworkPolicies: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies' },
  NetworkPolicy: { group: CALICO_CRD_GROUP, version: CALICO_CRD_VERSION, plural: 'networkpolicies' },
  GlobalNetworkPolicy: { group: CALICO_CRD_GROUP, version: CALICO_CRD_VERSION, plural: 'globalnetworkpolicies' },
  NetworkSet: { group: CALICO_CRD_GROUP, version: CALICO_CRD_VERSION, plural: 'networksets' },
  GlobalNetworkSet: { group: CALICO_CRD_GROUP, version: CALICO_CRD_VERSION, plural: 'globalnetworksets' },
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/**
 * List then watch one resource across all namespaces into a cache keyed `namespace/name`
 * (re-watch from the last version when a stream ends; relist on 410 Gone). A resource the server
 * does not have (404: Calico's CRDs on a Flannel-style cluster) is simply empty.
 */
class Reflector {
  public readonly cache = new Map<string, KubeObject>();
  private stream?: WatchStream;
  private timer?: NodeJS.Timeout;
  private version = '';
  private stopped = false;

  constructor(private readonly api: ResourceApi<KubeObject>, private readonly onChange: () => void, private readonly onError: (e: Error) => void) {}

  public async list(): Promise<void> {
    try {
      const list = await this.api.list();
      this.cache.clear();
      for (const o of list.items) this.cache.set(keyOf(o), o);
      this.version = list.metadata.resourceVersion;
      this.watch();
    } catch (error) {
      if (isKubeApiError(error, 404)) return;
      throw error;
    }
  }

  public stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.stream?.abort();
  }

  private watch(): void {
    if (this.stopped) return;
    let gone = false;
    this.stream = this.api.watch(this.version, (event) => {
      if (event.type === 'ERROR') {
        gone = event.object.code === 410;
        return;
      }
      this.version = event.object.metadata.resourceVersion || this.version;
      if (event.type === 'BOOKMARK') return;
      if (event.type === 'DELETED') this.cache.delete(keyOf(event.object));
      else this.cache.set(keyOf(event.object), event.object);
      this.onChange();
    }, (error) => {
      if (this.stopped) return;
      if (error && !gone && !isKubeApiError(error, 410)) this.onError(error);
      this.timer = setTimeout(() => {
        if (gone || isKubeApiError(error, 410)) void this.list().then(this.onChange, this.onError);
        else this.watch();
      }, error ? 1000 : 0);
    });
  }
}

export interface PolicyKubeSyncOptions extends PolicyReconcilerOptions {
  readonly client: KubeClient;
  /** This node's name: pods with `spec.nodeName` equal to it are enforced here. */
  readonly nodeName: string;
}

/**
 * The policy half of a node agent in Kubernetes mode: pods, namespaces, service accounts,
 * `networking.k8s.io` NetworkPolicies and Calico's policy CRDs, watched cluster-wide, enforced for
 * this node's pods. Interface mode names the host veth as the kit's Calico-mode CNI plugin does.
 */
export class PolicyKubeSync {
  private readonly reflectors = new Map<string, Reflector>();
  private readonly reconciler: PolicyReconciler;

  constructor(private readonly options: PolicyKubeSyncOptions) {
    this.reconciler = new PolicyReconciler(options, () => this.world());
    for (const [name, path] of Object.entries(KUBE_POLICY_SOURCES)) {
      this.reflectors.set(name, new Reflector(new ResourceApi<KubeObject>(options.client, path), () => this.reconciler.changed(),
        (e) => options.onSync?.(e)));
    }
  }

  public async start(): Promise<SyncResult> {
    await Promise.all([...this.reflectors.values()].map((r) => r.list()));
    return this.reconciler.start();
  }

  /** Settings that changed while running (FelixConfiguration): see PolicyReconciler.reconfigure. */
  public reconfigure(change: Parameters<PolicyReconciler['reconfigure']>[0]): void {
    this.reconciler.reconfigure(change);
  }

  public async stop(removeTable = false): Promise<void> {
    for (const r of this.reflectors.values()) r.stop();
    await this.reconciler.stop(removeTable);
  }

  public world(): NodeWorld {
    const items = (name: string) => [...(this.reflectors.get(name)?.cache.values() ?? [])] as unknown as Obj[];
    const meta = (o: Obj) => (isObj(o.metadata) ? o.metadata : {});
    const labels = (o: Obj) => (isObj(meta(o).labels) ? meta(o).labels : {}) as Record<string, string>;
    const endpoints: PolicyEndpoint[] = [];
    const local: string[] = [];
    for (const pod of items('pods')) {
      const spec = isObj(pod.spec) ? pod.spec : {};
      const status = isObj(pod.status) ? pod.status : {};
      if (spec.hostNetwork === true || status.phase === 'Succeeded' || status.phase === 'Failed') continue;
      const ips = Array.isArray(status.podIPs) ? status.podIPs.filter(isObj).map((p) => String(p.ip)) : typeof status.podIP === 'string' ? [status.podIP] : [];
      if (ips.length === 0) continue;
      const namespace = String(meta(pod).namespace ?? 'default');
      const name = String(meta(pod).name);
      const ports = (Array.isArray(spec.containers) ? spec.containers : []).filter(isObj).flatMap((c) => (Array.isArray(c.ports) ? c.ports : []))
        .filter(isObj).filter((p) => typeof p.name === 'string')
        .map((p): NamedPort => ({ name: String(p.name), port: Number(p.containerPort), protocol: (p.protocol ?? 'TCP') as NamedPort['protocol'] }));
      endpoints.push({
        namespace, name, labels: labels(pod), addresses: ips, ports,
        serviceAccount: typeof spec.serviceAccountName === 'string' ? spec.serviceAccountName : 'default',
        interfaceName: workloadVethName(namespace, name),
      });
      if (spec.nodeName === this.options.nodeName) local.push(`${namespace}/${name}`);
    }
    const objects: PolicyObjects = { policies: [], networkSets: [] };
    for (const np of items('kubernetesNetworkPolicies')) {
      try {
        objects.policies.push(fromKubernetesNetworkPolicy(np as unknown as K8sNetworkPolicy));
      } catch (error) {
        this.options.onSync?.(error as Error); // one bad policy is reported, the others still apply
      }
    }
    for (const kind of ['NetworkPolicy', 'GlobalNetworkPolicy', 'NetworkSet', 'GlobalNetworkSet']) {
      for (const o of items(kind)) {
        try {
          addPolicyObject(objects, { ...o, apiVersion: `${CALICO_CRD_GROUP}/${CALICO_CRD_VERSION}`, kind }, `${kind} ${String(meta(o).name)}`);
        } catch (error) {
          this.options.onSync?.(error as Error);
        }
      }
    }
    return {
      namespaces: items('namespaces').map((n) => ({ name: String(meta(n).name), labels: labels(n) })),
      serviceAccounts: items('serviceaccounts').map((s) => ({ namespace: String(meta(s).namespace ?? 'default'), name: String(meta(s).name), labels: labels(s) })),
      endpoints, policies: objects.policies, networkSets: objects.networkSets, localEndpoints: local,
    };
  }
}
