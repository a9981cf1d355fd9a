import { spawn } from 'node:child_process';
import { canCreateNetns, execIn } from '../support/netns';
import { CalicoCniCluster, CalicoCniNode, podAddresses, resultAddress } from './support/calico-cni';

const describeRoot = canCreateNetns() ? describe : describe.skip;

/** Resolves once the node has a host veth (`cali*`): the ADD has its address and is doing kernel work. */
async function vethAppears(node: CalicoCniNode): Promise<void> {
  for (;;) {
    if (/^cali/m.test(execIn(node.netns, ['ip', '-br', 'link', 'show', 'type', 'veth']).stdout)) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Table row "resident CNI server killed mid-ADD, shim falls back: 999 interface eth0 already exists;
 * 2 addresses held by nobody until DEL". The server is SIGKILLed after it made the pod's veth and
 * while its endpoint write waits on a frozen etcd; the shim falls back to the executable, which
 * completes the same ADD: the container's one address (its IPAM handle reused), a working interface,
 * and after DEL nothing left in etcd or the kernel.
 */
describeRoot('Calico CNI server SIGKILLed mid-ADD (real etcd, real kernel)', () => {
  let cluster: CalicoCniCluster;

  beforeAll(async () => {
    cluster = await CalicoCniCluster.create(1);
  }, 120_000);
  afterAll(() => cluster?.dispose(), 60_000);

  test('the shim falls back and the executable completes the ADD: one address, no leak', async () => {
    const node = cluster.nodes[0];
    // The kill must land before the server answered; the window is the server's last kernel and etcd
    // work, so a try in which it answered first is repeated with another pod.
    let landed = 0;
    for (let attempt = 0; attempt < 5 && landed === 0; attempt++) {
      await cluster.startServer(node);
      const id = `killed-${attempt}`;
      const pod = cluster.namespace(`k${attempt}`);
      let answered = false;
      const add = cluster.run(node, 'shim', 'ADD', id, pod).finally(() => { answered = true; });
      await vethAppears(node);
      cluster.freezeEtcd();
      const server = node.server;
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server?.kill('SIGKILL');
      await exited;
      const killedFirst = !answered;
      cluster.thawEtcd();
      const out = await add;
      expect({ code: out.code, stdout: out.code === 0 ? '' : out.stdout }).toEqual({ code: 0, stdout: '' });
      const address = resultAddress(out);
      expect(podAddresses(pod)).toEqual([address]);
      const held = await cluster.audit();
      expect(held.allocations).toEqual([expect.stringMatching(new RegExp(` k8s-pod-network\\.${id}$`))]);
      expect(held.handles).toEqual([`ipamhandles/k8s-pod-network.${id}`]);
      expect(held.veths).toHaveLength(1);
      expect(held.endpoints).toHaveLength(1);
      expect((await cluster.run(node, 'executable', 'DEL', id, pod)).code).toBe(0);
      expect(await cluster.audit()).toEqual({ handles: [], allocations: [], endpoints: [], veths: [] });
      if (killedFirst) landed++;
    }
    expect(landed).toBe(1);
  }, 300_000);

  test('the shim killed mid-ADD (the runtime gave up): the server finishes; a retry completes with the one address of the container, DEL frees it', async () => {
    const node = cluster.nodes[0];
    if (!node.server || node.server.exitCode !== null || node.server.signalCode !== null) await cluster.startServer(node);
    const id = 'runtime-gave-up';
    const pod = cluster.namespace('rg');
    // the runtime's view: it runs the shim, then kills it (its own timeout) while the server works
    const shim = spawn('nsenter', [`--net=/var/run/netns/${node.netns}`, node.shim], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: `/var/run/netns/${pod}`,
        CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: `K8S_POD_NAMESPACE=fault;K8S_POD_NAME=${id}`,
      },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    shim.stdin.end(JSON.stringify(cluster.conf(node)));
    await vethAppears(node);
    cluster.freezeEtcd();
    const gone = new Promise((resolve) => shim.once('exit', resolve));
    shim.kill('SIGKILL');
    await gone;
    cluster.thawEtcd();
    // the retry waits for the server's own ADD of this container to finish, then completes it again
    const retry = await cluster.run(node, 'shim', 'ADD', id, pod);
    expect({ code: retry.code, stdout: retry.code === 0 ? '' : retry.stdout }).toEqual({ code: 0, stdout: '' });
    expect(podAddresses(pod)).toEqual([resultAddress(retry)]);
    const held = await cluster.audit();
    expect(held.allocations).toEqual([expect.stringMatching(new RegExp(` k8s-pod-network\\.${id}$`))]);
    expect(held.veths).toHaveLength(1);
    expect((await cluster.run(node, 'shim', 'DEL', id, pod)).code).toBe(0);
    expect(await cluster.audit()).toEqual({ handles: [], allocations: [], endpoints: [], veths: [] });
  }, 120_000);
});
