import { formatReport, Lab } from '../../lib/lab';
export { describeLab } from './describe-lab';

/** Agents resync every RESYNC seconds in these labs; "within one resync" allows one period plus slack. */
export const RESYNC = 2;
export const ONE_RESYNC_MS = RESYNC * 1000 + 1500;

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The Must-show behaviour of a 3-node flat lab, shared by the host-gw and the vxlan suites. */
export function flatClusterSuite(backend: Readonly<Record<string, string | number | boolean>>, expectDevice: boolean): void {
  let lab: Lab;

  beforeAll(async () => {
    lab = await Lab.create({ nodes: 3, backend, resyncSeconds: RESYNC });
    for (const node of lab.nodes) await lab.addPod(node);
    await lab.addPod(lab.nodes[0]); // two pods on n1: same-node traffic too
  }, 90_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('gives each node its own subnet and every pod reaches every other pod (TCP echo and ICMP)', async () => {
    const subnets = lab.nodes.map((n) => lab.subnetOf(n));
    expect(new Set(subnets).size).toBe(3);
    const report = await lab.waitForConnectivity(20_000);
    if (!report.ok) throw new Error(formatReport(report));
    expect(report.pairs).toHaveLength(12);
    expect(report.pairs.every((p) => p.tcp === true && p.icmp === true)).toBe(true);
  });

  it('programs only its own objects, tagged with its route protocol', async () => {
    const [n1, n2, n3] = lab.nodes;
    const routes = await lab.routes(n1);
    const ours = routes.filter((r) => r.protocol === '76');
    expect(ours.map((r) => r.dst).sort()).toEqual([lab.subnetOf(n2), lab.subnetOf(n3)].sort());
    expect(routes.some((r) => r.dst === 'default' && r.protocol !== '76')).toBe(true);
    const links = (await lab.exec(n1.netns, ['ip', '-o', 'link', 'show'])).stdout;
    expect(links.includes('flannel.1')).toBe(expectDevice);
  });

  it('serves /healthz, /readyz and Prometheus metrics', async () => {
    const n1 = lab.nodes[0];
    expect((await lab.agentHttp(n1, '/healthz')).status).toBe(200);
    expect((await lab.agentHttp(n1, '/readyz')).status).toBe(200);
    const metrics = (await lab.agentHttp(n1, '/metrics')).body;
    expect(metrics).toMatch(/^flannel_routes 2$/m);
    expect(metrics).toMatch(/^flannel_leases 3$/m);
    expect(metrics).toContain('flannel_reconcile_duration_seconds_bucket');
  });

  it('repairs a deleted route within one resync', async () => {
    const [n1, n2] = lab.nodes;
    const subnet = lab.subnetOf(n2)!;
    await lab.exec(n1.netns, ['ip', 'route', 'del', subnet]);
    await waitFor('route restored', async () => ((await lab.routes(n1)).some((r) => r.dst === subnet) ? true : undefined), ONE_RESYNC_MS);
  });

  if (expectDevice) {
    it('recreates a deleted VXLAN device with the same VTEP MAC and reprograms its peers within one resync', async () => {
      const [n1] = lab.nodes;
      const macOf = async () => {
        const out = await lab.exec(n1.netns, ['ip', '-j', 'link', 'show', 'flannel.1'], { allowFailure: true });
        return out.code === 0 ? (JSON.parse(out.stdout) as Array<{ address: string }>)[0].address : undefined;
      };
      const before = await macOf();
      await lab.exec(n1.netns, ['ip', 'link', 'del', 'flannel.1']);
      expect(await macOf()).toBeUndefined();
      await waitFor('flannel.1 recreated', macOf, ONE_RESYNC_MS);
      expect(await macOf()).toBe(before);
      const report = await lab.waitForConnectivity(ONE_RESYNC_MS);
      if (!report.ok) throw new Error(formatReport(report));
    });
  }

  it('keeps an established TCP stream between pods on different nodes while both agents are killed and restarted', async () => {
    const [n1, n2] = lab.nodes;
    const from = lab.pods.find((p) => p.node === n1)!;
    const to = lab.pods.find((p) => p.node === n2)!;
    const before = [lab.subnetOf(n1), lab.subnetOf(n2)];
    const stream = await lab.openStream(from, to);
    try {
      await stream.advance(5);
      await lab.stopAgent(n1, 'SIGKILL');
      await lab.stopAgent(n2, 'SIGKILL');
      await stream.advance(5);
      const [a1, a2] = await Promise.all([lab.startAgent(n1), lab.startAgent(n2)]);
      await stream.advance(10);
      // Wait past the restarted agents' first resync, then the stream must still be the same connection.
      await new Promise((resolve) => setTimeout(resolve, ONE_RESYNC_MS));
      await stream.advance(5);
      expect(stream.error()).toBeUndefined();
      expect([lab.subnetOf(n1), lab.subnetOf(n2)]).toEqual(before);
      // Restarting changed nothing that was already right: no reconcile pass applied a change.
      for (const agent of [a1, a2]) expect(agent.output().filter((l) => l.includes('"msg":"reconciled"'))).toEqual([]);
    } finally {
      await stream.close();
    }
  }, 60_000);

  it('drops a removed node\'s routes on the other nodes within one resync', async () => {
    const [n1, n2, n3] = lab.nodes;
    const gone = lab.subnetOf(n3)!;
    await lab.removeNode(n3);
    for (const node of [n1, n2]) {
      await waitFor(`route to ${gone} removed on ${node.name}`, async () => ((await lab.routes(node)).some((r) => r.dst === gone) ? undefined : true), ONE_RESYNC_MS);
    }
    if (expectDevice) {
      const neigh = (await lab.exec(n1.netns, ['ip', 'neigh', 'show', 'dev', 'flannel.1'])).stdout;
      expect(neigh).not.toContain(gone.split('/')[0]);
    }
    const report = await lab.connectivity();
    expect(report.ok).toBe(true);
  });
}
