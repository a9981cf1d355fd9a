import { RevisionConflictError, UnsupportedOperationError } from '../errors';
import { JsonObject, KeyValue, KeyValueStore, ListResult, PutOptions, Revision, WatchEvent, WatchHandle, WatchOptions } from '../types';
import { KubeClient, WatchStream, isKubeApiError } from './client';
import { calicoNodeFromKube } from './calico-node';
import { CALICO_CRD_GROUP, CALICO_CRD_VERSION, ResourceApi, nodesApi } from './resource';
import { CustomResource, Node } from './types';

/**
 * `nodes/<name>`: Calico's Node, read from the Kubernetes Node (annotations and labels, see
 * calico-node.ts). Read-only here: agents write their own node through `nodes/status`.
 */
export const NODE_VIEW = 'nodes';

/** Calico's custom resources in crd.projectcalico.org/v1: plural → kind. */
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
  globalnetworkpolicies: 'GlobalNetworkPolicy',
  globalnetworksets: 'GlobalNetworkSet',
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
}

/**
 * The Kubernetes API as a `KeyValueStore`: the key `<plural>/<name>` is the custom resource
 * `<name>` of that type, the value is the JSON of its `spec`, the revision is its
 * `metadata.resourceVersion`. `create` is POST (409 AlreadyExists → conflict), `update` is PUT with
 * the resourceVersion (409 Conflict → conflict), `delete` with a revision sends a precondition.
 * Names must already be valid Kubernetes names (Calico's layer maps `10.0.0.0/26` → `10-0-0-0-26`).
 * TTLs are not supported: Kubernetes objects do not expire. `nodes/<name>` reads Calico's view of
 * the Kubernetes Node (read-only).
 */
export class KubeCrdStore implements KeyValueStore {
  public readonly kind = 'kubernetes';
  private readonly apis = new Map<string, ResourceApi<CustomResource>>();
  private readonly watches = new Set<WatchHandle>();
  private readonly group: string;
  private readonly version: string;
  private readonly kinds: Readonly<Record<string, string>>;

  constructor(private readonly options: KubeCrdStoreOptions) {
    this.group = options.group ?? CALICO_CRD_GROUP;
    this.version = options.version ?? CALICO_CRD_VERSION;
    this.kinds = options.kinds ?? CALICO_KINDS;
  }

  public async get(key: string): Promise<KeyValue | undefined> {
    const { plural, name } = this.parseKey(key);
    const object = await this.api(plural).get(name);
    return object ? this.toKeyValue(plural, object) : undefined;
  }

  public async list(prefix: string): Promise<ListResult> {
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
    const { plural, name: namePrefix } = this.parsePrefix(prefix);
    const api = this.api(plural);
    const retryMs = this.options.retryDelayMs ?? 1000;
    let closed = false;
    let stream: WatchStream | undefined;
    let timer: NodeJS.Timeout | undefined;
    let resourceVersion = options.fromRevision;
    const inScope = (name: string): boolean => name.startsWith(namePrefix);

    const relist = async (report: boolean): Promise<void> => {
      try {
        const list = await this.list(prefix);
        if (closed) return;
        resourceVersion = list.revision;
        if (report) onEvent({ type: 'reset', items: list.items, revision: list.revision });
        watch();
      } catch (error) {
        options.onError?.(error as Error);
        if (!closed) timer = setTimeout(() => void relist(report), retryMs);
      }
    };
    const watch = (): void => {
      if (closed || resourceVersion === undefined) return;
      let gone = false;
      const openedAt = Date.now();
      stream = api.watch(resourceVersion, (event) => {
        if (closed) return;
        if (event.type === 'ERROR') {
          gone = event.object.code === 410;
          if (!gone) options.onError?.(new Error(`kubernetes watch ${plural}: ${event.object.message}`));
          return;
        }
        resourceVersion = event.object.metadata.resourceVersion ?? resourceVersion;
        if (event.type === 'BOOKMARK' || !inScope(event.object.metadata.name)) return;
        const kv = this.toKeyValue(plural, event.object);
        if (event.type === 'DELETED') onEvent({ type: 'delete', key: kv.key, revision: kv.revision, previous: kv });
        else onEvent({ type: 'put', kv });
      }, (error) => {
        stream = undefined;
        if (closed) return;
        if (gone || isKubeApiError(error, 410)) {
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
      throw new TypeError(`datastore kubernetes: ${JSON.stringify(prefix)} does not start with a known resource; expected <plural>/ with plural one of ${[...Object.keys(this.kinds), NODE_VIEW].join(', ')}`);
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
