import { buildAndSynth, deployAndCheck, startCluster } from '../../apps/cluster';
import { dev } from '../../apps/environments/dev';
import { CheckResult, connectivityChecks, formatChecks, NETCHECK_NAMESPACE } from '../../lib/lab/cluster/checks';
import { ClusterLab } from '../../lib/lab/cluster/cluster-lab';
import { captureHostNetwork, hostNetworkChanges, labLeftovers } from '../../lib/lab/host-state';
import { describeLab } from '../lab/describe-lab';

const log = (line: string) => process.stdout.write(`    ${line}\n`);

/**
 * dev as a user deploys it: `npm run images && npm run synth`, then dist/dev/ applied unchanged to a
 * real 3-node Kubernetes (kubelet + containerd per node, kube-proxy, the control plane).
 */
describeLab('cluster lab: dev (Flannel-style VXLAN, Kubernetes datastore) deployed as synthesized on 3 nodes', () => {
  let lab: ClusterLab | undefined;
  let labId = '';
  let results: CheckResult[] = [];
  let hostBefore: Record<string, string> = {};

  beforeAll(async () => {
    hostBefore = await captureHostNetwork();
    const files = await buildAndSynth(dev, log);
    lab = await startCluster(dev, { nodes: 3, log });
    labId = lab.id;
    results = await deployAndCheck(lab, dev, files);
    log(formatChecks(`cluster lab: dev on 3 nodes (${labId})`, results));
  }, 1_200_000);

  afterAll(async () => {
    await lab?.destroy();
  });

  const failed = (list: readonly CheckResult[]) => list.filter((r) => !r.ok && !r.skipped).map((r) => `${r.name}: ${r.detail}`);

  test('dist/dev applies as written and the agent DaemonSet is Ready on every node', () => {
    expect(results.find((r) => r.name === 'apply dist/dev')?.ok).toBe(true);
    expect(results.find((r) => r.name === 'DaemonSet cnikit-flannel/cnikit-flannel ready')).toMatchObject({ ok: true, detail: '3/3 pods ready' });
    expect(results.find((r) => r.name === 'nodes Ready')).toMatchObject({ ok: true, detail: '3 nodes Ready' });
  });

  test('test pods on every node reach each other over TCP and ICMP', () => {
    const pairs = results.filter((r) => /^(icmp4|tcp4) /.test(r.name));
    expect(pairs).toHaveLength(3 * 2 * 2);
    expect(failed(pairs)).toEqual([]);
  });

  test('pods reach the kubernetes Service, their own ClusterIP Service and, masqueraded, the outside', () => {
    expect(results.filter((r) => r.name.endsWith('→ kubernetes'))).toHaveLength(3);
    expect(results.filter((r) => r.name.startsWith('outside ') && r.ok && !r.skipped)).toHaveLength(3);
    expect(failed(results)).toEqual([]);
  });

  test("the machine's own network namespace is untouched while the cluster runs", async () => {
    expect(hostNetworkChanges(hostBefore, await captureHostNetwork())).toEqual([]);
  });

  test('negative control: with the CNI conflist removed from one node the check fails and names that node', async () => {
    const node = lab!.node('n2');
    await lab!.execOnNode(node, ['rm', '/etc/cni/net.d/10-cnikit-flannel.conflist']);
    // Without its conflist the node cannot tear the old pod's network down either: force its removal
    // from the API so the DaemonSet places a new pod there at once.
    await lab!.kubectl(['delete', 'pod', '-n', NETCHECK_NAMESPACE, '-l', 'app=netcheck', '--field-selector=spec.nodeName=n2', '--force', '--grace-period=0', '--wait=false']);
    const again = await connectivityChecks(lab!, { dualStack: false, natOutgoing: true, timeoutMs: 45_000 });
    log(formatChecks('negative control (no conflist on n2)', again));
    expect(again.find((r) => r.name === 'test pod on n2')).toMatchObject({ ok: false, detail: expect.stringMatching(/^node n2: pod cnikit-lab\/netcheck-\S+ on n2: Pending; .*(network|cni)/i) });
    expect(again.filter((r) => r.name.startsWith('test pod on n') && r.name !== 'test pod on n2').every((r) => r.ok)).toBe(true);
  }, 300_000);

  test("a node drained and deleted disappears from the other nodes' routes", async () => {
    const node = lab!.node('n3');
    const podCidr = (await lab!.kubectl(['get', 'node', 'n3', '-o', 'jsonpath={.spec.podCIDR}'])).stdout.trim();
    expect(podCidr).toMatch(/^10\.244\.\d+\.0\/24$/);
    const routesOn = async (name: string) => (await lab!.execOnNode(lab!.node(name), ['ip', '-4', 'route', 'show'])).stdout;
    expect(await routesOn('n1')).toContain(`${podCidr} via`);
    await lab!.kubectl(['drain', 'n3', '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--timeout=90s'], { timeoutMs: 120_000 });
    // As an operator retires a machine: drained, shut down, then its Node object deleted.
    lab!.removeNode(node);
    await lab!.kubectl(['delete', 'node', 'n3']);
    const deadline = Date.now() + 60_000;
    let left: string[] = [];
    do {
      left = [];
      for (const name of ['n1', 'n2']) if ((await routesOn(name)).includes(podCidr)) left.push(name);
      if (left.length > 0) await new Promise((resolve) => setTimeout(resolve, 1000));
    } while (left.length > 0 && Date.now() < deadline);
    expect(left).toEqual([]);
  }, 300_000);

  test('nothing of the lab is left on the machine afterwards, and its own network namespace is as before', async () => {
    await lab!.destroy();
    lab = undefined;
    expect(labLeftovers(labId)).toEqual([]);
    expect(hostNetworkChanges(hostBefore, await captureHostNetwork())).toEqual([]);
  });
});
