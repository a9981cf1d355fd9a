import { CalicoDatastoreConfig, openCalicoStore } from '../calico/datastore';
import { KeyValueStore } from '../datastore/types';
import { linuxCalicoKernels } from './calico-kernels';
import { runCalicoCni, StoreOpener } from './calico-main';
import { CalicoPluginKernels } from './calico-plugin';
import { CniHandler } from './server';

/**
 * Calico mode in the resident CNI server (server.ts): besides Node's start-up, an ADD through the
 * executable pays for loading the etcd3/gRPC client and connecting in etcd mode; here both happen once.
 * One etcd client per datastore configuration is kept open (it reconnects by itself). Kubernetes mode
 * opens its plain HTTP client per call, because its kubeconfig's token is refreshed on disk by the agent.
 */
export class CalicoServerMode {
  private readonly etcd = new Map<string, Promise<KeyValueStore>>();
  /**
   * Per container ID, the previous command's last datastore call: a command that answered error 11
   * may have a write still in flight, and the runtime's DEL or retried ADD must see it landed (and
   * free or reuse it), not race it.
   */
  private readonly busy = new Map<string, Promise<void>>();

  constructor(
    private readonly kernels: CalicoPluginKernels = linuxCalicoKernels(),
    private readonly openStore: StoreOpener = openCalicoStore,
  ) {}

  readonly handle: CniHandler = async (env, stdin) => {
    const id = env.CNI_CONTAINERID ?? '';
    const previous = this.busy.get(id);
    let done = () => {};
    const mine = new Promise<void>((resolve) => { done = resolve; });
    if (id) this.busy.set(id, mine);
    const finished = () => {
      done();
      if (this.busy.get(id) === mine) this.busy.delete(id);
    };
    await previous;
    // Kubernetes-mode stores are opened and closed per call; cached etcd stores stay open.
    let opened: KeyValueStore | undefined;
    const outcome = await runCalicoCni(env, stdin, this.kernels, async (config) => {
      if (config.type === 'etcdv3') return this.etcdStore(config);
      opened = await this.openStore(config);
      return opened;
    }, true).catch((error: unknown) => {
      finished();
      throw error;
    });
    const settle = outcome.settled.then(async () => {
      await opened?.close().catch(() => undefined);
      finished();
    });
    // a call still in flight (past the deadline) may hang as long as the datastore does: answer now, settle later
    if (!outcome.pending) await settle;
    return outcome;
  };

  async close(): Promise<void> {
    const stores = [...this.etcd.values()];
    this.etcd.clear();
    await Promise.all(stores.map(async (store) => (await store.catch(() => undefined))?.close().catch(() => undefined)));
  }

  private etcdStore(config: CalicoDatastoreConfig): Promise<KeyValueStore> {
    const key = JSON.stringify(config);
    let store = this.etcd.get(key);
    if (store === undefined) {
      store = this.openStore(config);
      this.etcd.set(key, store);
      // a client that could not be made is not kept: the next call tries again
      store.catch(() => this.etcd.delete(key));
    }
    return store;
  }
}
