import { KubeApiError, KubeClient, PatchType, WatchStream, isKubeApiError } from './client';
import { CustomResource, KubeList, KubeObject, KubeWatchEvent, Node } from './types';

/** Where a resource lives in the REST tree (`/api/v1/nodes`, `/apis/<group>/<version>/<plural>`). */
export interface ResourcePath {
  /** API group; empty for the core group. @default core (`/api/v1`) */
  readonly group?: string;
  readonly version: string;
  /** Lower-case plural, e.g. `nodes`, `ipamblocks`. */
  readonly plural: string;
  /** For namespaced resources. @default cluster-scoped */
  readonly namespace?: string;
}

export interface ListQuery {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/** Typed verbs on one resource type: get, list, watch, create, replace (CAS), patch, delete. */
export class ResourceApi<T extends KubeObject> {
  private readonly collection: string;

  constructor(private readonly client: KubeClient, public readonly path: ResourcePath) {
    const root = path.group ? `/apis/${path.group}/${path.version}` : `/api/${path.version}`;
    this.collection = `${root}${path.namespace ? `/namespaces/${encodeURIComponent(path.namespace)}` : ''}/${path.plural}`;
  }

  /** The object, or undefined when it does not exist (404). */
  public async get(name: string): Promise<T | undefined> {
    try {
      return await this.client.request<T>('GET', this.item(name));
    } catch (error) {
      if (isKubeApiError(error, 404)) return undefined;
      throw error;
    }
  }

  public list(query: ListQuery = {}): Promise<KubeList<T>> {
    return this.client.request<KubeList<T>>('GET', this.collection, { query: { ...query } });
  }

  /**
   * Watches changes after `resourceVersion` (bookmarks requested). Like client-go, asks the server to
   * end the stream after 5–10 minutes so that connections are renewed; the caller re-watches.
   */
  public watch(
    resourceVersion: string,
    onEvent: (event: KubeWatchEvent<T>) => void,
    onEnd: (error?: Error) => void,
    query: ListQuery = {},
  ): WatchStream {
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    return this.client.watch<T>(this.collection, { ...query, resourceVersion, allowWatchBookmarks: true, timeoutSeconds }, onEvent, onEnd);
  }

  /** POST; throws KubeApiError 409 (AlreadyExists) when the name is taken. */
  public create(object: T): Promise<T> {
    return this.client.request<T>('POST', this.collection, { body: object });
  }

  /** PUT; with `metadata.resourceVersion` set this is compare-and-swap (409 Conflict when stale). */
  public replace(object: T): Promise<T> {
    return this.client.request<T>('PUT', this.item(object.metadata.name), { body: object });
  }

  /** PATCH the object or a subresource (`status`). @default strategic merge patch */
  public patch(name: string, patch: unknown, options: { readonly type?: PatchType; readonly subresource?: string } = {}): Promise<T> {
    const target = options.subresource ? `${this.item(name)}/${options.subresource}` : this.item(name);
    return this.client.request<T>('PATCH', target, { body: patch, patchType: options.type ?? 'strategic' });
  }

  /**
   * DELETE; with `resourceVersion` only if unchanged (409 Conflict otherwise).
   * Returns false when the object did not exist.
   */
  public async delete(name: string, resourceVersion?: string): Promise<boolean> {
    const body = resourceVersion === undefined ? undefined
      : { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } };
    try {
      await this.client.request<unknown>('DELETE', this.item(name), { body });
      return true;
    } catch (error) {
      if (isKubeApiError(error, 404)) {
        if (resourceVersion !== undefined) throw error;
        return false;
      }
      throw error;
    }
  }

  private item(name: string): string {
    if (!name) throw new KubeApiError(0, 'Invalid', 'kubernetes: empty object name');
    return `${this.collection}/${encodeURIComponent(name)}`;
  }
}

export function nodesApi(client: KubeClient): ResourceApi<Node> {
  return new ResourceApi<Node>(client, { version: 'v1', plural: 'nodes' });
}

/** Calico's CRDs (`crd.projectcalico.org/v1`), cluster-scoped unless `namespace` is given. */
export const CALICO_CRD_GROUP = 'crd.projectcalico.org';
export const CALICO_CRD_VERSION = 'v1';

export function calicoResourceApi(client: KubeClient, plural: string, namespace?: string): ResourceApi<CustomResource> {
  return new ResourceApi<CustomResource>(client, { group: CALICO_CRD_GROUP, version: CALICO_CRD_VERSION, plural, namespace });
}
