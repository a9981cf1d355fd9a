import { formatReport, Lab } from '../../lib/lab';
import { LabProcess } from '../../lib/lab/process';
import { describeLab } from '../lab/describe-lab';
import { logLines, routeSnapshot, sampleRoutes } from './support/outage';

/**
 * Issue 14 rows 7 and 8, on a running 3-node flannel-style lab with its real etcd: a node's own
 * lease value corrupted (the agent used to exit 1, "Lease has been revoked", and crash-loop) and a
 * lease key outside the configured Network (peers used to install `192.168.5.0/24 via 192.168.5.0
 * dev flannel.1`).
 */
const FLANNEL_PROTOCOL = ['76'];

describeLab('fault: bad flannel lease records in etcd', () => {
  let lab: Lab;
  let agents: LabProcess[];

  beforeAll(async () => {
    lab = await Lab.create({ nodes: 3, backend: { Type: 'vxlan' }, resyncSeconds: 1 });
    for (const node of lab.nodes) await lab.addPod(node);
    agents = lab.nodes.map((n) => lab.agent(n)!);
    const report = await lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
  }, 120_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  const leaseKey = (subnet: string) => `${lab.etcdPrefix}/subnets/${subnet.replace('/', '-')}`;

  /** How many full resyncs the node's agent has run (its reconcile histogram, trigger=resync). */
  async function resyncs(index: number): Promise<number> {
    const metrics = (await lab.agentHttp(lab.nodes[index], '/metrics')).body;
    return Number(/^flannel_reconcile_duration_seconds_count\{trigger="resync"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
  }

  /** Resolves once every agent has run `count` more full resyncs than now. */
  async function afterResyncs(count: number): Promise<void> {
    const start = await Promise.all(lab.nodes.map((_, i) => resyncs(i)));
    const deadline = Date.now() + 60_000;
    for (;;) {
      const now = await Promise.all(lab.nodes.map((_, i) => resyncs(i)));
      if (now.every((n, i) => n >= start[i] + count)) return;
      if (Date.now() > deadline) throw new Error(`agents did not run ${count} resyncs within 60 s (${start} -> ${now}): ${agents.map((a) => a.output().slice(-4).join('\n')).join('\n---\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('row 8: a lease outside the Network is ignored: no route on any node, one line per agent', async () => {
    const from = agents.map((a) => a.output().length);
    const baseline = await routeSnapshot(lab, FLANNEL_PROTOCOL);
    const key = `${lab.etcdPrefix}/subnets/192.168.5.0-24`;
    await lab.etcd.put(key).value(JSON.stringify({ PublicIP: '192.168.5.10', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0a:58:c0:a8:05:0a' } }));
    try {
      await Promise.all(agents.map((a, i) => a.waitForLine(/"msg":"lease refused"/, 15_000, from[i])));
      await afterResyncs(2);
      for (const node of lab.nodes) expect((await lab.routes(node)).filter((r) => r.dst.startsWith('192.168.5.'))).toEqual([]);
      expect(await routeSnapshot(lab, FLANNEL_PROTOCOL)).toEqual(baseline);
      for (const [i, agent] of agents.entries()) {
        const lines = logLines(agent, /^lease refused$/, from[i]);
        expect(lines).toHaveLength(1);
        expect((JSON.parse(lines[0]) as { reason: string }).reason).toBe(`${key}: subnet "192.168.5.0/24" is not valid; expected a /24 inside Network 10.244.0.0/16`);
      }
    } finally {
      await lab.etcd.delete().key(key);
    }
  }, 120_000);

  it('row 7: a node\'s own lease value corrupted: the agent keeps running on the same subnet and rewrites it; peers keep their routes', async () => {
    const [n1] = lab.nodes;
    const agent = agents[0];
    const subnet = lab.subnetOf(n1)!;
    const key = leaseKey(subnet);
    const from = agent.output().length;
    const baseline = await routeSnapshot(lab, FLANNEL_PROTOCOL);
    const sampler = sampleRoutes(lab, FLANNEL_PROTOCOL, baseline);
    try {
      await lab.etcd.put(key).value('{"PublicIP": corrupt');
      await agent.waitForLine(/"msg":"own lease was corrupt/, 15_000, from);
      const repaired = JSON.parse(await lab.etcd.get(key).string() ?? '{}') as { PublicIP?: string };
      expect(repaired.PublicIP).toBe(n1.address);
      await afterResyncs(2);
    } finally {
      expect(await sampler.stop()).toEqual([]);
    }
    expect(agent.running).toBe(true);
    expect(lab.agent(n1)).toBe(agent);
    expect(lab.subnetOf(n1)).toBe(subnet);
    expect(logLines(agent, /^Lease has been revoked$/, from)).toEqual([]);
    const report = await lab.connectivity();
    if (!report.ok) throw new Error(formatReport(report));
  }, 120_000);
});
