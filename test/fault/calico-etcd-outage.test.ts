import { formatReport } from '../../lib/lab';
import { CalicoLab } from '../../lib/lab/calico';
import { LabProcess } from '../../lib/lab/process';
import { describeLab } from '../lab/describe-lab';
import { eachLogged, logLines, routeSnapshot, sampleRoutes } from './support/outage';

/**
 * Issue 14, Deliver 4 and 5, for the Calico-style stack: etcd frozen (SIGSTOP) and crashed
 * (SIGKILL + restart on its data dir) under a running 3-node lab. The agents read everything
 * through watches, so they notice a frozen etcd by the client's keepalive; routes never change,
 * an established TCP stream survives, no agent restarts, and each agent logs the outage once when
 * it starts and once when it ends.
 */
const CALICO_PROTOCOL = ['80'];
// keepalive 10 s + 5 s timeout, and a reconnect backoff on the way back.
const NOTICE_MS = 40_000;

describeLab('fault: etcd away under a Calico-style lab', () => {
  let calico: CalicoLab;
  let agents: LabProcess[];

  beforeAll(async () => {
    calico = await CalicoLab.create({ nodes: 3, segments: [0, 0, 1], vxlanMode: 'CrossSubnet', resyncSeconds: 1 });
    for (const node of calico.lab.nodes) await calico.lab.addPod(node);
    agents = calico.lab.nodes.map((n) => calico.agent(n)!);
    const report = await calico.lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
  }, 120_000);
  afterAll(async () => {
    await calico?.destroy();
  });

  const marks = () => agents.map((a) => a.output().length);
  const outageLines = (from: readonly number[]) => agents.map((a, i) => ({
    lost: logLines(a, /^datastore lost: /, from[i]).length,
    regained: logLines(a, /^datastore regained after /, from[i]).length,
    warnings: a.output().slice(from[i]).filter((l) => l.includes('"level":"warn"') || l.includes('"level":"error"')).length,
  }));
  const sameAgents = () => agents.every((a, i) => a.running && calico.agent(calico.lab.nodes[i]) === a);

  it('etcd frozen (SIGSTOP): routes unchanged, the TCP stream survives, one lost and one regained line per agent', async () => {
    const { lab } = calico;
    const [n1, , n3] = lab.nodes;
    const stream = await lab.openStream(lab.pods.find((p) => p.node === n1)!, lab.pods.find((p) => p.node === n3)!);
    const from = marks();
    const sampler = sampleRoutes(lab, CALICO_PROTOCOL, await routeSnapshot(lab, CALICO_PROTOCOL));
    try {
      await stream.advance(5);
      lab.signalEtcd('SIGSTOP');
      try {
        await eachLogged(agents, /datastore lost: /, NOTICE_MS, from);
        await stream.advance(30); // several more resync periods (1 s) frozen: retries stay quiet
      } finally {
        lab.signalEtcd('SIGCONT');
      }
      await eachLogged(agents, /datastore regained after /, NOTICE_MS, from);
      await stream.advance(5);
      expect(stream.error()).toBeUndefined();
    } finally {
      await stream.close();
      expect(await sampler.stop()).toEqual([]);
    }
    expect(sameAgents()).toBe(true);
    expect(outageLines(from)).toEqual(agents.map(() => ({ lost: 1, regained: 1, warnings: 1 })));
  }, 150_000);

  it('etcd killed (SIGKILL) and restarted on its data dir: routes unchanged, stream survives, one line each way, a pod added after recovery is reachable', async () => {
    const { lab } = calico;
    const [, n2, n3] = lab.nodes;
    const stream = await lab.openStream(lab.pods.find((p) => p.node === n2)!, lab.pods.find((p) => p.node === n3)!);
    const from = marks();
    const sampler = sampleRoutes(lab, CALICO_PROTOCOL, await routeSnapshot(lab, CALICO_PROTOCOL));
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
      expect(await sampler.stop()).toEqual([]);
    }
    expect(sameAgents()).toBe(true);
    expect(outageLines(from)).toEqual(agents.map(() => ({ lost: 1, regained: 1, warnings: 1 })));

    // The new pod's address comes from IPAM in the restarted etcd; the other nodes route to it.
    const pod = await lab.addPod(n3);
    const report = await lab.waitForConnectivity(30_000);
    if (!report.ok) throw new Error(formatReport(report));
    expect(report.pairs.filter((p) => p.to === pod.name && p.tcp === true)).toHaveLength(lab.pods.length - 1);
  }, 150_000);
});
