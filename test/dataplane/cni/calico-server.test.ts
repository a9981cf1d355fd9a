import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CalicoDatastoreConfig } from '../../../lib/dataplane/calico/datastore';
import { KeyValueStore } from '../../../lib/dataplane/datastore/types';
import { CalicoServerMode } from '../../../lib/dataplane/cni/calico-server';
import { CalicoPluginKernels } from '../../../lib/dataplane/cni/calico-plugin';

/** A store that counts closes and whose every call fails (STATUS then reports the datastore as unreachable). */
function failingStore(closed: { count: number }): KeyValueStore {
  const fail = () => Promise.reject(new Error('store down'));
  return {
    get: fail, list: fail, put: fail, create: fail, update: fail, delete: fail,
    watch: () => { throw new Error('store down'); },
    close: () => { closed.count++; return Promise.resolve(); },
  } as unknown as KeyValueStore;
}

const conf = (datastore: Record<string, unknown>) => JSON.stringify({
  cniVersion: '1.1.0', name: 'k8s-pod-network', type: 'cnikit-calico', nodename: 'n1', ipam: { type: 'cnikit-calico-ipam' }, ...datastore,
});
const env = { CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' };

describe('Calico mode in the resident CNI server', () => {
  // STATUS touches no kernel
  const unused = (): never => { throw new Error('no kernel expected'); };
  const kernels: CalicoPluginKernels = { host: unused, container: unused };

  test('keeps one etcd client per datastore configuration open across calls, closed with the server', async () => {
    const opened: CalicoDatastoreConfig[] = [];
    const closed = { count: 0 };
    const mode = new CalicoServerMode(kernels, (config) => {
      opened.push(config);
      return Promise.resolve(failingStore(closed));
    });
    const etcd = conf({ datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:1' });
    for (let i = 0; i < 3; i++) expect((await mode.handle(env, etcd)).exitCode).toBe(1);
    await mode.handle(env, conf({ datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:2' }));
    expect(opened.map((c) => c.type === 'etcdv3' && c.endpoints)).toEqual([['http://127.0.0.1:1'], ['http://127.0.0.1:2']]);
    expect(closed.count).toBe(0);
    await mode.close();
    expect(closed.count).toBe(2);
  });

  test('keeps one Kubernetes client while the kubeconfig stays the same; a refreshed token opens a new one and closes the old', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-calico-server-'));
    try {
      const kubeconfig = path.join(dir, 'calico-kubeconfig');
      fs.writeFileSync(kubeconfig, 'token: one\n');
      const closed = { count: 0 };
      let opens = 0;
      const mode = new CalicoServerMode(kernels, () => {
        opens++;
        return Promise.resolve(failingStore(closed));
      });
      const kube = conf({ datastore_type: 'kubernetes', kubernetes: { kubeconfig } });
      for (let i = 0; i < 3; i++) await mode.handle(env, kube);
      expect({ opens, closed: closed.count }).toEqual({ opens: 1, closed: 0 });
      fs.writeFileSync(kubeconfig, 'token: two\n');
      await mode.handle(env, kube);
      expect({ opens, closed: closed.count }).toEqual({ opens: 2, closed: 1 });
      await mode.close();
      expect(closed.count).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a kubeconfig that changes while a call uses the client closes that client only when the call is done', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-calico-server-'));
    try {
      const kubeconfig = path.join(dir, 'calico-kubeconfig');
      fs.writeFileSync(kubeconfig, 'token: one\n');
      const closes: string[] = [];
      let answer: () => void = () => undefined;
      const slow = (name: string): KeyValueStore => ({
        ...failingStore({ count: 0 }),
        // the first client's first call hangs until released; every other call fails at once
        list: () => (name === 'first' ? new Promise((_, reject) => { answer = () => reject(new Error('store down')); }) : Promise.reject(new Error('store down'))),
        close: () => { closes.push(name); return Promise.resolve(); },
      }) as KeyValueStore;
      let opens = 0;
      const mode = new CalicoServerMode(kernels, () => Promise.resolve(slow(++opens === 1 ? 'first' : 'second')));
      const kube = conf({ datastore_type: 'kubernetes', kubernetes: { kubeconfig } });
      const first = mode.handle(env, kube);
      while (opens === 0) await new Promise((resolve) => setImmediate(resolve));
      fs.writeFileSync(kubeconfig, 'token: two\n');
      await mode.handle(env, kube);
      expect(closes).toEqual([]);
      answer();
      await first;
      expect(closes).toEqual(['first']);
      await mode.close();
      expect(closes).toEqual(['first', 'second']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('does not keep a client that could not be made: the next call tries again, with error 11', async () => {
    let opens = 0;
    const mode = new CalicoServerMode(kernels, () => {
      opens++;
      return Promise.reject(new Error('no etcd'));
    });
    const etcd = conf({ datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:1' });
    const first = await mode.handle(env, etcd);
    expect(JSON.parse(first.stdout)).toMatchObject({ code: 11, msg: expect.stringContaining('no etcd') as unknown });
    await mode.handle(env, etcd);
    expect(opens).toBe(2);
  });
});

describe('Calico mode in the resident CNI server: a command past its deadline', () => {
  test('holds back the next command for the same container until its late datastore call has landed', async () => {
    const log: string[] = [];
    let thaw: () => void = () => undefined;
    let frozen = true;
    const store = {
      kind: 'etcd',
      get: (key: string) => {
        log.push(`get ${key}`);
        if (!frozen) return Promise.resolve(undefined);
        return new Promise<undefined>((resolve) => { thaw = () => { log.push('etcd back'); resolve(undefined); }; });
      },
      list: () => Promise.resolve({ items: [], revision: '1' }),
      delete: () => Promise.resolve(),
      close: () => Promise.resolve(),
    } as unknown as KeyValueStore;
    // no veth exists; nothing else of the kernel is reached before IPAM
    const host = { link: () => Promise.resolve(undefined), apply: () => Promise.resolve() };
    const kernels = { host: () => host, container: () => host } as unknown as CalicoPluginKernels;
    const mode = new CalicoServerMode(kernels, () => Promise.resolve(store));
    const stdin = conf({ datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:1', datastore_timeout_seconds: 0.05, mtu: 1400 });
    const env = (command: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: 'c1', CNI_NETNS: '/proc/self/ns/net', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' });

    const add = await mode.handle(env('ADD'), stdin);
    expect(JSON.parse(add.stdout)).toMatchObject({ code: 11 });
    const del = mode.handle(env('DEL'), stdin);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['get ipamhandles/k8s-pod-network.c1']);
    frozen = false;
    thaw();
    expect((await del).exitCode).toBe(0);
    expect(log.slice(0, 3)).toEqual(['get ipamhandles/k8s-pod-network.c1', 'etcd back', 'get ipamhandles/k8s-pod-network.c1']);
  });
});
