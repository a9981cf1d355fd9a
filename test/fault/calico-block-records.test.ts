import { formatReport } from '../../lib/lab';
import { CalicoLab } from '../../lib/lab/calico';
import { inNetns, run } from '../../lib/lab/exec';
import { LabNode } from '../../lib/lab/lab';
import { LabProcess } from '../../lib/lab/process';
import { IpamBlockSpec } from '../../lib/dataplane/ipam/block-model';
import { CALICO_KEYS } from '../../lib/dataplane/ipam/calico-store';
import { Cidr } from '../../lib/model/cidr';
import { describeLab } from '../lab/describe-lab';
import { eachLogged, logLines, routeSnapshot } from './support/outage';

/**
 * Issue 14 rows 4–6 on a running 2-node Calico-style lab (real agents, real etcd, real kernel): a
 * node's IPAM block corrupted in place. Every agent used to withdraw the real block's routes (CIDR
 * rewritten outside the pool), or fail its whole reconcile on every pass (`allocations: "x"`,
 * non-JSON); ADD allocated from the corrupt block or failed with code 999. Now each agent logs the
 * key once, keeps the block's last good version in force (routes unchanged), and a pod added
 * meanwhile gets a fresh address from another block; the record is left byte for byte.
 */
const POOL = '10.244.0.0/16';
const METRICS_PORT = 9091;
const CORRUPTIONS: readonly { readonly row: string; readonly value: (good: string) => string; readonly field: string }[] = [
  { row: 'row 4: a block rewritten with a CIDR outside its pool', value: (good) => JSON.stringify({ ...JSON.parse(good), cidr: '192.168.77.0/26' }), field: 'cidr' },
  { row: 'row 5: a block with allocations "x"', value: (good) => JSON.stringify({ ...JSON.parse(good), allocations: 'x' }), field: 'allocations' },
  { row: 'row 6: a block that is not JSON', value: (good) => good.slice(0, 25), field: 'value' },
];

describeLab('fault: corrupt Calico IPAM blocks under running agents', () => {
  let calico: CalicoLab;
  let agents: LabProcess[];

  beforeAll(async () => {
    calico = await CalicoLab.create({ nodes: 2, vxlanMode: 'Always' });
    for (const node of calico.lab.nodes) await calico.lab.addPod(node);
    agents = calico.lab.nodes.map((n) => calico.agent(n)!);
    // The agents follow FelixConfiguration live: /metrics tells how many passes each has run.
    await calico.store.put('felixconfigurations/default', JSON.stringify({ prometheusMetricsEnabled: true, prometheusMetricsPort: METRICS_PORT }));
    await Promise.all(calico.lab.nodes.map((n) => metric(n, 'cnikit_calico_reconcile_duration_seconds_count', 15_000)));
    const report = await calico.lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
  }, 120_000);
  afterAll(async () => {
    await calico?.destroy();
  });

  /** A counter of the node agent's /metrics (polled until the endpoint answers, up to `waitMs`). */
  async function metric(node: LabNode, name: string, waitMs = 0): Promise<number> {
    const script = `fetch('http://127.0.0.1:${METRICS_PORT}/metrics').then(r=>r.text()).then(t=>process.stdout.write(t),()=>process.exit(1))`;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const out = await run(inNetns(node.netns, ['node', '-e', script]), { allowFailure: true });
      if (out.code === 0) return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(out.stdout)?.[1] ?? 0);
      if (Date.now() > deadline) throw new Error(`${node.name}: no /metrics on port ${METRICS_PORT}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** Resolves once every agent has run `count` more reconcile passes than now. */
  async function afterPasses(count: number): Promise<void> {
    const passes = () => Promise.all(calico.lab.nodes.map((n) => metric(n, 'cnikit_calico_reconcile_duration_seconds_count')));
    const start = await passes();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const now = await passes();
      if (now.every((n, i) => n >= start[i] + count)) return;
      if (Date.now() > deadline) throw new Error(`agents did not run ${count} passes within 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  for (const corruption of CORRUPTIONS) {
    it(`${corruption.row}: every agent keeps its routes and logs the key once; a new pod gets a good address`, async () => {
      const { lab, store } = calico;
      const n1 = lab.nodes[0];
      const original = (await store.list(CALICO_KEYS.blocks)).items.find((kv) => (JSON.parse(kv.value) as IpamBlockSpec).affinity === `host:${n1.name}`)!;
      const blockCidr = Cidr.parse((JSON.parse(original.value) as IpamBlockSpec).cidr, 'cidr');
      const baseline = await routeSnapshot(lab, ['80']);
      const from = agents.map((a) => a.output().length);
      const refusedBefore = await Promise.all(lab.nodes.map((n) => metric(n, 'cnikit_calico_bad_records_total')));
      const bad = corruption.value(original.value);
      await store.put(original.key, bad);
      try {
        await eachLogged(agents, /datastore record refused/, 15_000, from);
        await afterPasses(3);
        expect(await routeSnapshot(lab, ['80'])).toEqual(baseline);
        for (const [i, agent] of agents.entries()) {
          const lines = logLines(agent, /^datastore record refused/, from[i]);
          expect(lines).toHaveLength(1);
          expect(lines[0]).toContain(`${original.key}: ${corruption.field} `);
          expect(await metric(lab.nodes[i], 'cnikit_calico_bad_records_total')).toBe(refusedBefore[i] + 1);
        }

        const others = lab.pods.map((p) => p.ip);
        const pod = await lab.addPod(n1);
        expect(Cidr.parse(POOL, 'pool').containsAddress(pod.ip)).toBe(true);
        expect(blockCidr.containsAddress(pod.ip)).toBe(false);
        expect(others).not.toContain(pod.ip);
        const report = await lab.waitForConnectivity(20_000);
        if (!report.ok) throw new Error(formatReport(report));
        expect((await store.get(original.key))?.value).toBe(bad);
      } finally {
        await store.put(original.key, original.value);
      }
    }, 90_000);
  }
});
