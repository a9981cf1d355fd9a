import { formatReport, Lab } from '../../lib/lab';
import { CalicoLab } from '../../lib/lab/calico';
import { IpamBlockSpec, blockAllocations } from '../../lib/dataplane/ipam/block-model';
import { waitFor } from '../dataplane/datastore/helpers';
import { describeLab } from '../lab/describe-lab';
import { routeSnapshot } from './support/outage';

/**
 * Issue 14, Deliver 5: a node agent SIGKILLed mid-work (during its start-up, after it has
 * written to the datastore and before it finished programming the kernel) and started again
 * converges to the routes it had, and leaves no duplicate or leaked record in the datastore.
 */
describeLab('fault: a flannel agent SIGKILLed mid-start-up', () => {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({ nodes: 3, backend: { Type: 'vxlan' }, resyncSeconds: 1 });
    for (const node of lab.nodes) await lab.addPod(node);
    const report = await lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
  }, 120_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('killed between acquiring its lease and programming the kernel, then restarted: same subnet, same routes everywhere, one lease per node', async () => {
    const [n1] = lab.nodes;
    const baseline = await routeSnapshot(lab, ['76']);
    const subnet = lab.subnetOf(n1);
    await lab.stopAgent(n1, 'SIGKILL');
    // Work for the next start: its device (and with it every route through it) is gone.
    await lab.exec(n1.netns, ['ip', 'link', 'del', 'flannel.1']);
    const starting = lab.startAgent(n1).then(() => 'ready', (e: Error) => e.message);
    await lab.agent(n1)!.waitForLine(/"msg":"lease acquired"/, 30_000);
    await lab.stopAgent(n1, 'SIGKILL');
    expect(await starting).toMatch(/exited/);

    await lab.startAgent(n1);
    await waitFor(async () => JSON.stringify(await routeSnapshot(lab, ['76'])) === JSON.stringify(baseline), 'the routes of before on every node');
    expect(lab.subnetOf(n1)).toBe(subnet);
    const leases = await lab.etcd.getAll().prefix(`${lab.etcdPrefix}/subnets/`).strings();
    const owners = Object.values(leases).map((v) => (JSON.parse(v) as { PublicIP: string }).PublicIP).sort();
    expect(owners).toEqual(lab.nodes.map((n) => n.address).sort());
    const report = await lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
  }, 120_000);
});

describeLab('fault: a Calico agent SIGKILLed mid-start-up', () => {
  let calico: CalicoLab;

  beforeAll(async () => {
    calico = await CalicoLab.create({ nodes: 3, segments: [0, 0, 1], vxlanMode: 'CrossSubnet', resyncSeconds: 1 });
    for (const node of calico.lab.nodes) await calico.lab.addPod(node);
    const report = await calico.lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
  }, 120_000);
  afterAll(async () => {
    await calico?.destroy();
  });

  async function allocations(): Promise<string[]> {
    const blocks = (await calico.store.list('ipamblocks/')).items.map((kv) => JSON.parse(kv.value) as IpamBlockSpec);
    return blocks.flatMap((b) => blockAllocations(b).map((a) => `${a.address} ${a.handleId ?? ''}`)).sort();
  }

  it('killed after registering its node, before its first reconcile, then restarted: same routes everywhere, no extra allocation', async () => {
    const { lab } = calico;
    const [n1] = lab.nodes;
    const baseline = await routeSnapshot(lab, ['80']);
    const before = await allocations();
    const affinities = (await calico.store.list('blockaffinities/')).items.map((kv) => kv.key).sort();
    await calico.stopAgent(n1, 'SIGKILL');
    // Work for the next start: its routes and its VXLAN device are gone.
    await lab.exec(n1.netns, ['ip', 'route', 'flush', 'proto', '80']);
    await lab.exec(n1.netns, ['ip', 'link', 'del', 'vxlan.calico']);
    const starting = calico.startAgent(n1).then(() => 'ready', (e: Error) => e.message);
    await calico.agent(n1)!.waitForLine(/"msg":"node registered"/, 30_000);
    await calico.stopAgent(n1, 'SIGKILL');
    expect(await starting).toMatch(/exited/);

    await calico.startAgent(n1);
    await waitFor(async () => JSON.stringify(await routeSnapshot(lab, ['80'])) === JSON.stringify(baseline), 'the routes of before on every node');
    expect(await allocations()).toEqual(before);
    expect((await calico.store.list('blockaffinities/')).items.map((kv) => kv.key).sort()).toEqual(affinities);
    const report = await lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
  }, 120_000);
});
