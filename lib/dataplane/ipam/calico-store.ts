import { KeyValue, KeyValueStore, ListResult, PutOptions, Revision, WatchEvent, WatchHandle, WatchOptions } from '../datastore/types';

/**
 * Where Calico-style resources live. Keys are `<plural>/<name>` and values the resource's `spec`
 * as JSON — exactly what `KubeCrdStore` maps onto `crd.projectcalico.org/v1` objects. In etcd the
 * same keys sit under `/calico/resources/v3/projectcalico.org/` (Calico's etcd v3 layout).
 */
export const CALICO_ETCD_PREFIX = '/calico/resources/v3/projectcalico.org/';

export const CALICO_KEYS = {
  pools: 'ippools/',
  blocks: 'ipamblocks/',
  affinities: 'blockaffinities/',
  handles: 'ipamhandles/',
  config: 'ipamconfigs/default',
  reservations: 'ipreservations/',
  /** etcd only: in Kubernetes mode the pod is the workload endpoint. */
  workloadEndpoints: 'workloadendpoints/',
  /** Node registration (address, tunnel address); etcd only, Kubernetes mode annotates the Node. */
  nodes: 'nodes/',
} as const;

/** A view of `store` with `prefix` added to every key (and removed from what it returns). */
export function prefixedStore(store: KeyValueStore, prefix: string): KeyValueStore {
  const strip = (kv: KeyValue): KeyValue => ({ ...kv, key: kv.key.slice(prefix.length) });
  const stripEvent = (event: WatchEvent): WatchEvent => {
    switch (event.type) {
      case 'put':
        return { type: 'put', kv: strip(event.kv) };
      case 'delete':
        return { ...event, key: event.key.slice(prefix.length), ...(event.previous ? { previous: strip(event.previous) } : {}) };
      case 'reset':
        return { ...event, items: event.items.map(strip) };
    }
  };
  return {
    kind: store.kind,
    get: async (key: string) => {
      const kv = await store.get(prefix + key);
      return kv && strip(kv);
    },
    list: async (p: string): Promise<ListResult> => {
      const result = await store.list(prefix + p);
      return { items: result.items.map(strip), revision: result.revision };
    },
    put: async (key: string, value: string, options?: PutOptions) => strip(await store.put(prefix + key, value, options)),
    create: async (key: string, value: string, options?: PutOptions) => strip(await store.create(prefix + key, value, options)),
    update: async (key: string, value: string, revision: Revision, options?: PutOptions) =>
      strip(await store.update(prefix + key, value, revision, options)),
    delete: (key: string, revision?: Revision) => store.delete(prefix + key, revision),
    watch: (p: string, onEvent: (event: WatchEvent) => void, options?: WatchOptions): WatchHandle =>
      store.watch(prefix + p, (event) => onEvent(stripEvent(event)), options),
    close: () => store.close(),
  };
}
