// The datastore layer: one KeyValueStore interface, etcd v3 and Kubernetes implementations.
// Not re-exported from lib/index.ts on purpose: importing the constructs must not load gRPC.
export * from './types';
export * from './errors';
export * from './kube/types';
export { EtcdStore } from './etcd';
export type { EtcdStoreOptions } from './etcd';
export { KubeClient, KubeApiError, isKubeApiError, inClusterConnection, inClusterNamespace, kubeconfigConnection } from './kube/client';
export type { KubeConnection, PatchType, RequestOptions, WatchStream } from './kube/client';
export { ResourceApi, nodesApi, calicoResourceApi, CALICO_CRD_GROUP, CALICO_CRD_VERSION } from './kube/resource';
export type { ResourcePath, ListQuery } from './kube/resource';
export { patchNodeAnnotations, markNetworkAvailable } from './kube/nodes';
export { KubeCrdStore, CALICO_KINDS } from './kube/store';
export type { KubeCrdStoreOptions } from './kube/store';
export { KUBE_NODES_VIEW, KUBE_NODES_PREFIX, nodeFromDocument } from './kube/node-view';
export { WatchCache, storeFeed, cachedStore } from './watch-cache';
export type { SnapshotFeed } from './watch-cache';
