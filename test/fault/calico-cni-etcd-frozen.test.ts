import { canCreateNetns } from '../support/netns';
import { CalicoCniCluster, CniPath, podAddresses, resultAddress } from './support/calico-cni';

const describeRoot = canCreateNetns() ? describe : describe.skip;

/**
 * Table row "Calico-style CNI ADD while etcd is frozen: hangs with no output until killed". With etcd
 * SIGSTOPped (it keeps its sockets, answers nothing), an ADD answers error 11 once its datastore
 * deadline passes, through the executable and through the shim + resident server; once etcd is back a
 * retried ADD completes with the container's address and DEL leaves nothing in etcd or the kernel.
 */
describeRoot('Calico CNI ADD while etcd is frozen (real etcd SIGSTOP, real kernel)', () => {
  let cluster: CalicoCniCluster;

  beforeAll(async () => {
    cluster = await CalicoCniCluster.create(1);
    await cluster.startServer(cluster.nodes[0]);
  }, 120_000);
  afterAll(() => cluster?.dispose(), 60_000);

  for (const via of ['executable', 'shim'] as const satisfies readonly CniPath[]) {
    test(`${via}: error 11 naming the deadline, then a retry completes and DEL frees everything`, async () => {
      const node = cluster.nodes[0];
      const conf = cluster.conf(node, { datastore_timeout_seconds: 2 });
      const pod = cluster.namespace(`fz${via[0]}`);
      const id = `frozen-${via}`;
      // the server's client is connected before the freeze, as on a node that ran pods already
      if (via === 'shim') expect((await cluster.run(node, via, 'DEL', 'warm-up', undefined, { conf })).code).toBe(0);
      cluster.freezeEtcd();
      let add;
      try {
        add = await cluster.run(node, via, 'ADD', id, pod, { conf });
      } finally {
        cluster.thawEtcd();
      }
      expect({ code: add.code, json: add.json }).toEqual({
        code: 1,
        json: { cniVersion: '1.0.0', code: 11, msg: 'datastore etcdv3 did not answer within 2 s (datastore_timeout_seconds): try again later' },
      });

      const retry = await cluster.run(node, via, 'ADD', id, pod, { conf });
      expect({ code: retry.code, stdout: retry.code === 0 ? '' : retry.stdout }).toEqual({ code: 0, stdout: '' });
      expect(podAddresses(pod)).toEqual([resultAddress(retry)]);
      const held = await cluster.audit();
      expect(held.allocations).toEqual([expect.stringMatching(new RegExp(` k8s-pod-network\\.${id}$`))]);

      expect((await cluster.run(node, via, 'DEL', id, pod, { conf })).code).toBe(0);
      expect(await cluster.audit()).toEqual({ handles: [], allocations: [], endpoints: [], veths: [] });
    }, 120_000);
  }
});
