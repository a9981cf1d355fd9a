import { randomBytes } from 'node:crypto';
import { canCreateNetns, destroyNetns } from '../support/netns';
import { invoke } from '../integration/cni/harness';
import { CalicoCniCluster, CniPath, podAddresses, resultAddress } from './support/calico-cni';

const describeRoot = canCreateNetns() ? describe : describe.skip;

/**
 * Table rows "shim: CNI_PATH unset", "CNI: non-existent netns path" and "shim: 10 MB stdin": the shim
 * (through the resident server) answers exactly what the executable answers, and nothing is allocated.
 */
describeRoot('the shim checks the environment and input as the executable does (real etcd, real kernel)', () => {
  let cluster: CalicoCniCluster;

  beforeAll(async () => {
    cluster = await CalicoCniCluster.create(1);
    await cluster.startServer(cluster.nodes[0]);
  }, 120_000);
  afterAll(() => cluster?.dispose(), 60_000);

  const paths: readonly CniPath[] = ['executable', 'shim'];

  test.each(paths)('%s: CNI_PATH unset is error 4 naming it; nothing allocated', async (via) => {
    const node = cluster.nodes[0];
    const out = await cluster.run(node, via, 'ADD', `nopath-${via}`, cluster.namespace('np'), { env: { CNI_PATH: undefined } });
    expect({ code: out.code, json: out.json }).toEqual({
      code: 1, json: { cniVersion: '1.0.0', code: 4, msg: 'required environment variables missing for ADD: CNI_PATH' },
    });
    expect(await cluster.audit()).toEqual({ handles: [], allocations: [], endpoints: [], veths: [] });
  }, 60_000);

  test.each(paths)('%s: a CNI_NETNS that does not exist is error 4 naming it; nothing allocated', async (via) => {
    const node = cluster.nodes[0];
    const out = await cluster.run(node, via, 'ADD', `nons-${via}`, undefined, { netnsPath: '/var/run/netns/cnikit-no-such-ns' });
    expect({ code: out.code, json: out.json }).toEqual({
      code: 1,
      json: { cniVersion: '1.0.0', code: 4, msg: 'CNI_NETNS: "/var/run/netns/cnikit-no-such-ns" does not exist; expected the path of the container\'s network namespace' },
    });
    expect(await cluster.audit()).toEqual({ handles: [], allocations: [], endpoints: [], veths: [] });
  }, 60_000);

  test.each(paths)('%s: DEL after the namespace is gone succeeds and frees the address', async (via) => {
    const node = cluster.nodes[0];
    const pod = cluster.namespace('gone');
    const add = await cluster.run(node, via, 'ADD', `gone-${via}`, pod);
    expect(add.code).toBe(0);
    expect(podAddresses(pod)).toEqual([resultAddress(add)]);
    destroyNetns(pod);
    expect((await cluster.run(node, via, 'DEL', `gone-${via}`, pod)).code).toBe(0);
    expect(await cluster.audit()).toEqual({ handles: [], allocations: [], endpoints: [], veths: [] });
  }, 60_000);

  test.each(paths)('%s: 10 MB on stdin is refused with error 6 naming the limit', async (via) => {
    const node = cluster.nodes[0];
    const conf = JSON.stringify({ ...cluster.conf(node), padding: randomBytes(5 * 1024 * 1024).toString('hex') });
    const out = await invoke({
      plugin: via === 'shim' ? node.shim : cluster.executable, node: node.netns, command: 'ADD', conf, containerId: `big-${via}`,
      netns: cluster.namespace('big'), ifname: 'eth0',
    });
    expect({ code: out.code, json: out.json }).toEqual({
      code: 1,
      json: { cniVersion: '1.1.0', code: 6, msg: 'network configuration on stdin: more than 4194304 bytes is not valid; expected at most 4194304 bytes (4 MiB)' },
    });
    expect(await cluster.audit()).toEqual({ handles: [], allocations: [], endpoints: [], veths: [] });
  }, 60_000);
});
