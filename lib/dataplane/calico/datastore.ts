import { KeyValueStore } from '../datastore/types';
import type { OutageLog } from '../datastore/outage';
import { CALICO_ETCD_PREFIX, prefixedStore } from '../ipam/calico-store';

/**
 * Which datastore the Calico-style components use (Calico's `DATASTORE_TYPE`):
 * etcd v3 with Calico's resource layout, or the Kubernetes API through the CRDs.
 */
export type CalicoDatastoreConfig =
  | { readonly type: 'etcdv3'; readonly endpoints: readonly string[]; /** @default CALICO_ETCD_PREFIX */ readonly prefix?: string }
  | { readonly type: 'kubernetes'; /** @default in-cluster */ readonly kubeconfig?: string };

/**
 * Opens the store; the etcd or Kubernetes client is loaded only for the type in use. With `outage`,
 * every call and watch reports to it, so the component logs the datastore lost and regained once each.
 */
export async function openCalicoStore(config: CalicoDatastoreConfig, outage?: OutageLog): Promise<KeyValueStore> {
  const store = await open(config);
  if (!outage) return store;
  const { observedStore } = await import('../datastore/outage');
  return observedStore(store, outage);
}

async function open(config: CalicoDatastoreConfig): Promise<KeyValueStore> {
  if (config.type === 'etcdv3') {
    const { EtcdStore } = await import('../datastore/etcd');
    return prefixedStore(EtcdStore.connect({ endpoints: config.endpoints }), config.prefix ?? CALICO_ETCD_PREFIX);
  }
  const [{ KubeClient, inClusterConnection, kubeconfigConnection }, { KubeCrdStore }] = await Promise.all([
    import('../datastore/kube/client'),
    import('../datastore/kube/store'),
  ]);
  const connection = config.kubeconfig ? kubeconfigConnection(config.kubeconfig) : inClusterConnection();
  return new KubeCrdStore({ client: new KubeClient(connection) });
}
