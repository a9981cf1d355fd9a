import * as fs from 'node:fs';
import { CalicoDatastoreConfig, openCalicoStore } from '../calico/datastore';
import { KeyValueStore } from '../datastore/types';
import { linuxCalicoKernels } from './calico-kernels';
import { runCalicoCni, StoreOpener } from './calico-main';
import { CalicoPluginKernels } from './calico-plugin';
import { CniHandler } from './server';

/** A Kubernetes-mode store shared by the calls that read the same kubeconfig, token included. */
interface KubeStoreLease {
  readonly kubeconfig: string;
  readonly store: Promise<KeyValueStore>;
  users: number;
  /** The kubeconfig changed on disk (a refreshed token): closed once its last call is done. */
  retired: boolean;
}

/**
 * Calico mode in the resident CNI server (server.ts): besides Node's start-up, an ADD through the
 * executable pays for loading the etcd3/gRPC client and connecting in etcd mode; here both happen once.
 * One etcd client per datastore configuration is kept open (it reconnects by itself). One Kubernetes
 * client per datastore configuration too, with its kept-alive connection, for as long as the
 * kubeconfig on disk stays the same: the agent refreshes its token there, and the next call then
 * opens a client with the new one.
 */
export class CalicoServerMode {
  private readonly etcd = new Map<string, Promise<KeyValueStore>>();
  private readonly kube = new Map<string, KubeStoreLease>();
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
    // A Kubernetes-mode store is leased for the call; etcd stores stay open.
    let lease: KubeStoreLease | undefined;
    const outcome = await runCalicoCni(env, stdin, this.kernels, async (config) => {
      if (config.type === 'etcdv3') return this.etcdStore(config);
      lease = await this.leaseKubeStore(config);
      return lease.store;
    }, true).catch((error: unknown) => {
      if (lease) this.release(lease);
      finished();
      throw error;
    });
    const settle = outcome.settled.then(() => {
      if (lease) this.release(lease);
      finished();
    });
    // a call still in flight (past the deadline) may hang as long as the datastore does: answer now, settle later
    if (!outcome.pending) await settle;
    return outcome;
  };

  async close(): Promise<void> {
    const stores = [...this.etcd.values(), ...[...this.kube.values()].map((lease) => lease.store)];
    this.etcd.clear();
    this.kube.clear();
    await Promise.all(stores.map(closeStore));
  }

  private async leaseKubeStore(config: CalicoDatastoreConfig & { type: 'kubernetes' }): Promise<KubeStoreLease> {
    const key = JSON.stringify(config);
    // In-cluster, the client re-reads its service-account token file by itself.
    const kubeconfig = config.kubeconfig ? await fs.promises.readFile(config.kubeconfig, 'utf8') : '';
    let lease = this.kube.get(key);
    if (lease?.kubeconfig !== kubeconfig) {
      if (lease) this.retire(lease);
      const fresh: KubeStoreLease = { kubeconfig, store: this.openStore(config), users: 0, retired: false };
      this.kube.set(key, fresh);
      // a client that could not be made is not kept: the next call tries again
      fresh.store.catch(() => {
        if (this.kube.get(key) === fresh) this.kube.delete(key);
      });
      lease = fresh;
    }
    lease.users++;
    return lease;
  }

  private release(lease: KubeStoreLease): void {
    lease.users--;
    if (lease.retired && lease.users === 0) void closeStore(lease.store);
  }

  private retire(lease: KubeStoreLease): void {
    lease.retired = true;
    if (lease.users === 0) void closeStore(lease.store);
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

async function closeStore(store: Promise<KeyValueStore>): Promise<void> {
  await (await store.catch(() => undefined))?.close().catch(() => undefined);
}
