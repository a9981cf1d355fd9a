import { RevisionConflictError, UnsupportedOperationError } from '../errors';
import { JsonObject, KeyValue, KeyValueStore, ListResult, PutOptions, Revision, WatchEvent, WatchHandle, WatchOptions } from '../types';
import { KubeClient, WatchStream, isKubeApiError } from './client';
import { calicoNodeFromKube } from './calico-node';
import { KubeView, POLICY_VIEWS } from './policy-views';
import { CALICO_CRD_GROUP, CALICO_CRD_VERSION, ResourceApi, nodesApi } from './resource';
import { CustomResource, KubeObject, Node } from './types';

/**
 * `nodes/<name>`: Calico's Node, read from the Kubernetes Node (annotations and labels, see
 * calico-node.ts). Read-only here: agents write their own node through `nodes/status`.
 */
export const NODE_VIEW = 'nodes';

/**
 * The revision a view reports for a resource the server does not have (404: its CRD is not
 * installed). A watch from it looks for the resource again every `absentRetryMs`.
 */
export const ABSENT_REVISION = 'absent';

/**
 * Calico's custom resources in crd.projectcalico.org/v1 that are stored as `<plural>/<name>` → spec:
 * plural → kind. The policy kinds (network policies and sets) are views instead (policy-views.ts).
 */
export const CALICO_KINDS: Readonly<Record<string, string>> = {
  ippools: 'IPPool',
  ipamblocks: 'IPAMBlock',
  blockaffinities: 'BlockAffinity',
  ipamhandles: 'IPAMHandle',
  ipamconfigs: 'IPAMConfig',
  ipreservations: 'IPReservation',
  bgpconfigurations: 'BGPConfiguration',
  bgppeers: 'BGPPeer',
  bgpfilters: 'BGPFilter',
  felixconfigurations: 'FelixConfiguration',
  clusterinformations: 'ClusterInformation',
  hostendpoints: 'HostEndpoint',
  kubecontrollersconfigurations: 'KubeControllersConfiguration',
};

export interface KubeCrdStoreOptions {
  readonly client: KubeClient;
  /** @default crd.projectcalico.org */
  readonly group?: string;
  /** @default v1 */
  readonly version?: string;
  /** The resources this store may touch: plural → kind. @default CALICO_KINDS */
  readonly kinds?: Readonly<Record<string, string>>;
  /** Pause before re-watching after an error. @default 1000 ms */
  readonly retryDelayMs?: number;
  /** Read-only views of other resources (checked before `kinds`). @default POLICY_VIEWS */
  readonly views?: readonly KubeView[];
  /** How often a watch looks again for an absent optional resource (a CRD installed later). @default 60000 ms */
  readonly absentRetryMs?: number;
}

/** One list + watch: what `follow` needs to know about a resource. */
interface Source {
  readonly api: ResourceApi<KubeObject>;
  /** For messages: `ipamblocks`, `pods`, … */
  readonly what: string;
  /** 404 means "not installed": empty, looked for again later. */
  readonly optional: boolean;
  list(): Promise<ListResult>;
  /** The change one watch event makes under the watched prefix, if any. */
  change(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: KubeObject): WatchEvent | undefined;
}

/**
 * The Kubernetes API as a `KeyValueStore`. Keys and values:
 *
 * - Calico's custom resources (`kinds`, by default CALICO_KINDS): the key `<plural>/<name>` is the
 *   cluster-scoped custom resource `<name>`, the value is the JSON of its `spec` — what Calico's
 *   IPAM, BGP and Felix settings code reads and writes. `create` is POST (409 AlreadyExists →
 *   conflict), `update` is PUT with the resourceVersion (409 Conflict → conflict), `delete` with a
 *   revision sends a precondition. Names must already be valid Kubernetes names (Calico's layer maps
 *   `10.0.0.0/26` → `10-0-0-0-26`).
 * - `nodes/<name>`: Calico's view of the Kubernetes Node (calico-node.ts), read-only.
 * - Read-only views (`views`, by default POLICY_VIEWS: policy-views.ts, policy/keys.ts): what the
 *   policy agent reads, converted from other resources on every read. Namespaced kinds are keyed
 *   `<plural>/<namespace>/<name>`, cluster-scoped ones `<plural>/<name>`, and the values are whole
 *   documents (`{apiVersion, kind, metadata, spec}`), labels included — the same keys and values as
 *   in Calico's etcd layout: `workloadendpoints/<ns>/<node>-k8s-<pod>-eth0` (pods),
 *   `profiles/kns.<ns>` (namespaces), `profiles/ksa.<ns>.<sa>` (service accounts),
 *   `kubernetesnetworkpolicies/<ns>/knp.default.<name>` (networking.k8s.io NetworkPolicies as Calico
 *   NetworkPolicies), `networkpolicies/<ns>/<name>`, `networksets/<ns>/<name>`,
 *   `globalnetworkpolicies/<name>`, `globalnetworksets/<name>` (Calico's CRs; absent CRDs read as
 *   empty). Each view is one resource, so its prefix has one resourceVersion sequence; a prefix
 *   spanning two views (`profiles/`) is refused — list `profiles/kns.` and `profiles/ksa.`.
 *
 * Every revision is the object's `metadata.resourceVersion` (a list's: the list's). TTLs are not
 * supported: Kubernetes objects do not expire.
 */
export class KubeCrdStore implements KeyValueStore {
  public readonly kind = 'kubernetes';
  private readonly apis = new Map<string, ResourceApi<CustomResource>>();
  private readonly watches = new Set<WatchHandle>();
  private readonly group: string;
  private readonly version: string;
  private readonly kinds: Readonly<Record<string, string>>;
  private readonly views: readonly KubeView[];

  constructor(private readonly options: KubeCrdStoreOptions) {
    this.group = options.group ?? CALICO_CRD_GROUP;
    this.version = options.version ?? CALICO_CRD_VERSION;
    this.kinds = options.kinds ?? CALICO_KINDS;
    this.views = options.views ?? POLICY_VIEWS;
  }

  public async get(key: string): Promise<KeyValue | undefined> {
    const view = this.viewOf(key);
    if (view) return this.viewGet(view, key);
    const { plural, name } = this.parseKey(key);
    const object = await this.api(plural).get(name);
    return object ? this.toKeyValue(plural, object) : undefined;
  }

  public async list(prefix: string): Promise<ListResult> {
    const view = this.viewOf(prefix);
    if (view) return this.viewList(view, prefix);
    const { plural, name: namePrefix } = this.parsePrefix(prefix);
    const list = await this.api(plural).list();
    const items = list.items
      .filter((o) => o.metadata.name.startsWith(namePrefix))
      .map((o) => this.toKeyValue(plural, o))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { items, revision: list.metadata.resourceVersion };
  }

  public async put(key: string, value: string, options: PutOptions = {}): Promise<KeyValue> {
    this.refuseTtl(options);
    this.refuseViewWrite(key);
    for (;;) {
      const current = await this.get(key);
      try {
        return current ? await this.update(key, value, current.revision) : await this.create(key, value);
      } catch (error) {
        if (!(error instanceof RevisionConflictError)) throw error; // raced: read again
      }
    }
  }

  public async create(key: string, value: string, options: PutOptions = {}): Promise<KeyValue> {
    this.refuseTtl(options);
    this.refuseViewWrite(key);
    const { plural, name } = this.parseKey(key);
    this.refuseNodeWrite(plural);
    try {
      return this.toKeyValue(plural, await this.api(plural).create(this.object(plural, name, value)));
    } catch (error) {
      if (isKubeApiError(error, 409)) throw new RevisionConflictError(key, 'exists');
      throw error;
    }
  }

  public async update(key: string, value: string, revision: Revision, options: PutOptions = {}): Promise<KeyValue> {
    this.refuseTtl(options);
    this.refuseViewWrite(key);
    const { plural, name } = this.parseKey(key);
    this.refuseNodeWrite(plural);
    try {
      return this.toKeyValue(plural, await this.api(plural).replace(this.object(plural, name, value, revision)));
    } catch (error) {
      if (isKubeApiError(error, 409)) throw new RevisionConflictError(key, 'changed', revision);
      if (isKubeApiError(error, 404)) throw new RevisionConflictError(key, 'missing', revision);
      throw error;
    }
  }

  public async delete(key: string, revision?: Revision): Promise<boolean> {
    this.refuseViewWrite(key);
    const { plural, name } = this.parseKey(key);
    this.refuseNodeWrite(plural);
    try {
      return await this.api(plural).delete(name, revision);
    } catch (error) {
      if (isKubeApiError(error, 409)) throw new RevisionConflictError(key, 'changed', revision);
      if (isKubeApiError(error, 404)) throw new RevisionConflictError(key, 'missing', revision);
      throw error;
    }
  }

  public watch(prefix: string, onEvent: (event: WatchEvent) => void, options: WatchOptions = {}): WatchHandle {
    const view = this.viewOf(prefix);
    if (view) {
      return this.follow({
        api: new ResourceApi<KubeObject>(this.options.client, view.resource),
        what: view.resource.plural,
        optional: view.optional,
        list: () => this.viewList(view, prefix),
        change: (type, object) => {
          const key = view.key(object);
          if (!key.startsWith(prefix)) return undefined;
          const value = type === 'DELETED' ? undefined : view.value(object);
          const revision = object.metadata.resourceVersion ?? '';
          // Left out of the view now (a pod that finished): gone for the reader; unknown keys are no-ops.
          return value === undefined ? { type: 'delete', key, revision } : { type: 'put', kv: { key, value: JSON.stringify(value), revision, expires: false } };
        },
      }, onEvent, options);
    }
    const { plural, name: namePrefix } = this.parsePrefix(prefix);
    return this.follow({
      api: this.api(plural) as unknown as ResourceApi<KubeObject>,
      what: plural,
      optional: false,
      list: () => this.list(prefix),
      change: (type, object) => {
        if (!object.metadata.name.startsWith(namePrefix)) return undefined;
        const kv = this.toKeyValue(plural, object as CustomResource);
        return type === 'DELETED' ? { type: 'delete', key: kv.key, revision: kv.revision, previous: kv } : { type: 'put', kv };
      },
    }, onEvent, options);
  }

  /**
   * List (unless a revision is given) then watch one resource: re-watch from the last
   * resourceVersion when a stream ends, relist and report a `reset` on 410 Gone. An optional
   * resource that is absent (404) is looked for again every `absentRetryMs`.
   */
  private follow(source: Source, onEvent: (event: WatchEvent) => void, options: WatchOptions): WatchHandle {
    const retryMs = this.options.retryDelayMs ?? 1000;
    const absentMs = this.options.absentRetryMs ?? 60_000;
    let closed = false;
    let stream: WatchStream | undefined;
    let timer: NodeJS.Timeout | undefined;
    let resourceVersion = options.fromRevision;

    const relist = async (report: boolean): Promise<void> => {
      try {
        const list = await source.list();
        if (closed) return;
        resourceVersion = list.revision;
        options.onConnected?.();
        if (report) onEvent({ type: 'reset', items: list.items, revision: list.revision });
        watch();
      } catch (error) {
        options.onError?.(error as Error);
        if (!closed) timer = setTimeout(() => void relist(report), retryMs);
      }
    };
    const watch = (): void => {
      if (closed || resourceVersion === undefined) return;
      if (resourceVersion === ABSENT_REVISION) {
        timer = setTimeout(() => void relist(true), absentMs);
        return;
      }
      let gone = false;
      const openedAt = Date.now();
      stream = source.api.watch(resourceVersion, (event) => {
        if (closed) return;
        if (event.type === 'ERROR') {
          gone = event.object.code === 410;
          if (!gone) options.onError?.(new Error(`kubernetes watch ${source.what}: ${event.object.message}`));
          return;
        }
        resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
        if (event.type === 'BOOKMARK') return void options.onConnected?.();
        const change = source.change(event.type, event.object);
        if (change) onEvent(change);
      }, (error) => {
        stream = undefined;
        if (closed) return;
        // 410: history lost; 404 of an optional resource: its CRD went away (the relist says it is empty).
        if (gone || isKubeApiError(error, 410) || (source.optional && isKubeApiError(error, 404))) {
          void relist(true);
          return;
        }
        if (error) options.onError?.(error);
        if (!error && Date.now() - openedAt > 1000) watch();
        else timer = setTimeout(watch, retryMs);
      });
    };

    if (resourceVersion === undefined) void relist(false);
    else watch();

    const handle: WatchHandle = {
      close: async () => {
        closed = true;
        if (timer) clearTimeout(timer);
        stream?.abort();
        this.watches.delete(handle);
      },
    };
    this.watches.add(handle);
    return handle;
  }

  public async close(): Promise<void> {
    await Promise.all([...this.watches].map((w) => w.close()));
  }

  /**
   * The view `prefix` lies in; undefined when it lies in none. A prefix that spans several views
   * (`profiles/`) is refused: each view is its own resource, with its own revisions.
   */
  private viewOf(prefix: string): KubeView | undefined {
    const view = this.views.find((v) => prefix.startsWith(v.prefix));
    if (view) return view;
    // A shorter prefix within one view (`profiles/kn`) is that view, filtered.
    const spanned = this.views.filter((v) => v.prefix.startsWith(prefix));
    if (spanned.length > 1) {
      throw new TypeError(`datastore kubernetes: ${JSON.stringify(prefix)} spans ${spanned.map((v) => v.prefix).join(', ')}, which are separate resources (each with its own revisions); read each prefix on its own`);
    }
    return spanned[0];
  }

  private async viewList(view: KubeView, prefix: string): Promise<ListResult> {
    let list;
    try {
      list = await new ResourceApi<KubeObject>(this.options.client, view.resource).list();
    } catch (error) {
      if (view.optional && isKubeApiError(error, 404)) return { items: [], revision: ABSENT_REVISION };
      throw error;
    }
    const items: KeyValue[] = [];
    for (const object of list.items) {
      const key = view.key(object);
      const value = key.startsWith(prefix) ? view.value(object) : undefined;
      if (value !== undefined) items.push({ key, value: JSON.stringify(value), revision: object.metadata.resourceVersion ?? '', expires: false });
    }
    items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { items, revision: list.metadata.resourceVersion };
  }

  private async viewGet(view: KubeView, key: string): Promise<KeyValue | undefined> {
    const at = view.locate(key);
    if (!at) throw new TypeError(`datastore kubernetes: ${JSON.stringify(key)} does not name an object of ${view.prefix}`);
    const api = new ResourceApi<KubeObject>(this.options.client, { ...view.resource, ...(view.namespaced ? { namespace: at.namespace } : {}) });
    let object: KubeObject | undefined;
    try {
      object = await api.get(at.name);
    } catch (error) {
      if (view.optional && isKubeApiError(error, 404)) return undefined;
      throw error;
    }
    const value = object && view.key(object) === key ? view.value(object) : undefined;
    return object && value !== undefined ? { key, value: JSON.stringify(value), revision: object.metadata.resourceVersion ?? '', expires: false } : undefined;
  }

  private refuseViewWrite(key: string): void {
    const view = this.viewOf(key);
    if (view) throw new UnsupportedOperationError(this.kind, `writing ${view.prefix}`, `it is a read-only view of ${view.resource.group ? `${view.resource.plural}.${view.resource.group}` : view.resource.plural}; write that resource instead`);
  }

  private api(plural: string): ResourceApi<CustomResource> {
    let api = this.apis.get(plural);
    if (!api) {
      api = plural === NODE_VIEW ? nodesApi(this.options.client) as unknown as ResourceApi<CustomResource>
        : new ResourceApi<CustomResource>(this.options.client, { group: this.group, version: this.version, plural });
      this.apis.set(plural, api);
    }
    return api;
  }

  private object(plural: string, name: string, value: string, resourceVersion?: string): CustomResource {
    let spec: unknown;
    try {
      spec = JSON.parse(value);
    } catch {
      throw new TypeError(`datastore kubernetes: the value of ${plural}/${name} is not JSON`);
    }
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      throw new TypeError(`datastore kubernetes: the value of ${plural}/${name} must be a JSON object (it becomes the resource's spec)`);
    }
    return {
      apiVersion: `${this.group}/${this.version}`,
      kind: this.kinds[plural],
      metadata: resourceVersion === undefined ? { name } : { name, resourceVersion },
      spec: spec as JsonObject,
    };
  }

  private toKeyValue(plural: string, object: CustomResource): KeyValue {
    return {
      key: `${plural}/${object.metadata.name}`,
      value: JSON.stringify(plural === NODE_VIEW ? calicoNodeFromKube(object as unknown as Node) : object.spec ?? {}),
      revision: object.metadata.resourceVersion ?? '',
      expires: false,
    };
  }

  private parseKey(key: string): { plural: string; name: string } {
    const { plural, name } = this.parsePrefix(key);
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253) {
      throw new TypeError(`datastore kubernetes: ${JSON.stringify(key)} does not name a resource; expected <plural>/<name> with a DNS-subdomain name`);
    }
    return { plural, name };
  }

  private parsePrefix(prefix: string): { plural: string; name: string } {
    const slash = prefix.indexOf('/');
    const plural = slash < 0 ? '' : prefix.slice(0, slash);
    if (!plural || (!this.kinds[plural] && plural !== NODE_VIEW)) {
      throw new TypeError(`datastore kubernetes: ${JSON.stringify(prefix)} does not start with a known resource; expected <plural>/ with plural one of ${[...Object.keys(this.kinds), NODE_VIEW].join(', ')}, or a view: ${this.views.map((v) => v.prefix).join(', ')}`);
    }
    return { plural, name: prefix.slice(slash + 1) };
  }

  private refuseNodeWrite(plural: string): void {
    if (plural === NODE_VIEW) throw new UnsupportedOperationError(this.kind, 'writing nodes/', "Calico's Node is the Kubernetes Node here: patch its projectcalico.org/* annotations through nodes/status");
  }

  private refuseTtl(options: PutOptions): void {
    if (options.ttlSeconds !== undefined) {
      throw new UnsupportedOperationError(this.kind, 'a TTL', 'Kubernetes objects do not expire; use the etcd datastore for leases with a TTL');
    }
  }
}
