import { EtcdStore } from '../../lib/dataplane/datastore/etcd';
import { describeKeyValueStoreContract } from '../dataplane/datastore/contract';
import { startEtcd } from '../support/etcd';

describeKeyValueStoreContract('etcd v3 (real etcd)', async () => {
  const etcd = await startEtcd();
  const store = EtcdStore.connect({ endpoints: [etcd.endpoint] });
  return {
    store,
    teardown: async () => {
      await store.close();
      await etcd.stop();
    },
  };
});
