import { formatReport, Lab } from '../../lib/lab';
import { LabProcess } from '../../lib/lab/process';
import { describeLab } from '../lab/describe-lab';
import { eachLogged, logLines, routeSnapshot, sampleRoutes } from './support/outage';

/**
 * Issue 14, Deliver 4 and 5: etcd frozen (SIGSTOP) and crashed (SIGKILL + restart on its data
 * dir) under a running 3-node flannel-style lab. Routes never change, an established TCP stream
 * survives, no agent restarts, and each agent logs the outage once when it starts and once when
 * it ends (not once per retry).
 */
const FLANNEL_PROTOCOL = ['76'];
// An agent notices a frozen etcd when its periodic config read passes the 10 s call deadline.
const NOTICE_MS = 25_000;

describeLab('fault: etcd away under a flannel-style lab', () => {
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

  const marks = () => agents.map((a) => a.output().length);
  const outageLines = (from: readonly number[]) => agents.map((a, i) => ({
    lost: logLines(a, /^datastore lost: /, from[i]).length,
    regained: logLines(a, /^datastore regained after /, from[i]).length,
    warnings: a.output().slice(from[i]).filter((l) => l.includes('"level":"warn"') || l.includes('"level":"error"')).length,
  }));

  it('etcd frozen (SIGSTOP) across many resyncs: routes unchanged, the TCP stream survives, one lost and one regained line per agent', async () => {
    const [n1, n2] = lab.nodes;
    const stream = await lab.openStream(lab.pods.find((p) => p.node === n1)!, lab.pods.find((p) => p.node === n2)!);
    const from = marks();
    const baseline = await routeSnapshot(lab, FLANNEL_PROTOCOL);
    const sampler = sampleRoutes(lab, FLANNEL_PROTOCOL, baseline);
    try {
      await stream.advance(5);
      lab.signalEtcd('SIGSTOP');
      try {
        await eachLogged(agents, /datastore lost: /, NOTICE_MS, from);
        // Frozen for several more resync periods (1 s each): retries must stay quiet.
        await stream.advance(30);
      } finally {
        lab.signalEtcd('SIGCONT');
      }
      await eachLogged(agents, /datastore regained after /, NOTICE_MS, from);
      await stream.advance(5);
      expect(stream.error()).toBeUndefined();
    } finally {
      await stream.close();
    }
    expect(await sampler.stop()).toEqual([]);
    expect(sampler.samples()).toBeGreaterThan(10);
    expect(agents.every((a) => a.running && lab.agent(lab.nodes[agents.indexOf(a)]) === a)).toBe(true);
    expect(outageLines(from)).toEqual(agents.map(() => ({ lost: 1, regained: 1, warnings: 1 })));
  }, 120_000);

  it('etcd killed (SIGKILL) and restarted on its data dir: routes unchanged, stream survives, one line each way, a pod added after recovery is reachable', async () => {
    const [n1, n2, n3] = lab.nodes;
    const stream = await lab.openStream(lab.pods.find((p) => p.node === n2)!, lab.pods.find((p) => p.node === n3)!);
    const from = marks();
    const baseline = await routeSnapshot(lab, FLANNEL_PROTOCOL);
    const sampler = sampleRoutes(lab, FLANNEL_PROTOCOL, baseline);
    try {
      await stream.advance(5);
      lab.signalEtcd('SIGKILL');
      await eachLogged(agents, /datastore lost: /, NOTICE_MS, from);
      await stream.advance(20);
      await lab.restartEtcd();
      await eachLogged(agents, /datastore regained after /, NOTICE_MS, from);
      await stream.advance(5);
      expect(stream.error()).toBeUndefined();
    } finally {
      await stream.close();
    }
    expect(await sampler.stop()).toEqual([]);
    expect(agents.every((a, i) => a.running && lab.agent(lab.nodes[i]) === a)).toBe(true);
    expect(outageLines(from)).toEqual(agents.map(() => ({ lost: 1, regained: 1, warnings: 1 })));

    await lab.addPod(n1);
    const report = await lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
    expect(report.pairs.filter((p) => p.to === lab.pods[lab.pods.length - 1].name || p.from === lab.pods[lab.pods.length - 1].name).length).toBeGreaterThan(0);
  }, 120_000);
});
