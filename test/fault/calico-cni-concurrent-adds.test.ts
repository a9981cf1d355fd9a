import { canCreateNetns } from '../support/netns';
import { CalicoCniCluster, CniPath, podAddresses, resultAddress } from './support/calico-cni';

const describeRoot = canCreateNetns() ? describe : describe.skip;

/**
 * Table rows "200 concurrent Calico ADDs through the shim + server" (the server's socket timeout cut
 * ADDs still waiting on the IPAM lock: 114 veths and allocations for 107 successes) and "200 concurrent
 * Calico ADDs through the executable, 3 nodes" (11/200 in 180 s, host lock polling every 2–10 ms).
 * All ADDs are started at once over 3 nodes; every one must succeed with an address of its own that is
 * on its pod, and DEL of all must leave no handle, allocation, endpoint or veth. The executable path
 * runs 60 pods: each ADD starts Node and an etcd client, which on 2 cores is minutes for 200.
 */
describeRoot('concurrent Calico CNI ADDs over 3 nodes (real etcd, real kernel)', () => {
  let cluster: CalicoCniCluster;

  beforeAll(async () => {
    cluster = await CalicoCniCluster.create(3);
    await Promise.all(cluster.nodes.map((node) => cluster.startServer(node)));
  }, 120_000);
  afterAll(() => cluster?.dispose(), 120_000);

  const cases: readonly [CniPath, number][] = [['shim', 200], ['executable', 60]];
  test.each(cases)('%s: %i concurrent ADDs all succeed, no duplicate address, DEL of all leaves nothing', async (via, count) => {
    const pods = Array.from({ length: count }, (_, i) => ({ id: `${via}-${i}`, node: cluster.nodes[i % 3], netns: cluster.namespace(`${via[0]}${i}`) }));
    // the server path runs on the defaults; the executables get a generous deadline, because on 2 shared
    // cores each one's start-up and etcd client (part of its first call) takes seconds under this load
    const conf = (i: number) => cluster.conf(cluster.nodes[i % 3], via === 'executable' ? { datastore_timeout_seconds: 120 } : {});
    const adds = await Promise.all(pods.map((p, i) => cluster.run(p.node, via, 'ADD', p.id, p.netns, { conf: conf(i) })));
    const failed = adds.flatMap((a, i) => (a.code === 0 ? [] : [`${pods[i].id}: ${a.stdout}${a.stderr}`]));
    expect(failed).toEqual([]);
    const addresses = adds.map(resultAddress);
    expect(new Set(addresses).size).toBe(count);
    expect(pods.map((p) => podAddresses(p.netns))).toEqual(addresses.map((a) => [a]));
    const held = await cluster.audit();
    expect({ allocations: held.allocations.length, handles: held.handles.length, endpoints: held.endpoints.length, veths: held.veths.length })
      .toEqual({ allocations: count, handles: count, endpoints: count, veths: count });

    const dels = await Promise.all(pods.map((p, i) => cluster.run(p.node, via, 'DEL', p.id, p.netns, { conf: conf(i) })));
    expect(dels.flatMap((d, i) => (d.code === 0 ? [] : [`${pods[i].id}: ${d.stdout}${d.stderr}`]))).toEqual([]);
    expect(await cluster.audit()).toEqual({ handles: [], allocations: [], endpoints: [], veths: [] });
  }, 900_000);
});
