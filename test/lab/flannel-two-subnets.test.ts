import { formatReport, Lab } from '../../lib/lab';
import { RESYNC, describeLab, waitFor } from './flannel-suite';

// n1, n2 on segment 10.99.0.0/24; n3 on 10.99.1.0/24 behind the gw namespace's router.
describeLab('lab: two L3 subnets behind a router', () => {
  describe('vxlan', () => {
    let lab: Lab;
    beforeAll(async () => {
      lab = await Lab.create({ nodes: 3, topology: 'two-subnets', backend: { Type: 'vxlan' }, resyncSeconds: RESYNC });
      for (const node of lab.nodes) await lab.addPod(node);
    }, 90_000);
    afterAll(async () => {
      await lab?.destroy();
    });

    it('connects pods across the subnets (the tunnel crosses the router)', async () => {
      const report = await lab.waitForConnectivity(20_000);
      if (!report.ok) throw new Error(formatReport(report));
      expect(report.pairs).toHaveLength(6);
    });
  });

  describe('vxlan with DirectRouting', () => {
    let lab: Lab;
    beforeAll(async () => {
      lab = await Lab.create({ nodes: 3, topology: 'two-subnets', backend: { Type: 'vxlan', DirectRouting: true }, resyncSeconds: RESYNC });
      for (const node of lab.nodes) await lab.addPod(node);
    }, 90_000);
    afterAll(async () => {
      await lab?.destroy();
    });

    it('routes same-segment peers directly and tunnels to the other subnet', async () => {
      const [n1, n2, n3] = lab.nodes;
      const report = await lab.waitForConnectivity(20_000);
      if (!report.ok) throw new Error(formatReport(report));
      const routes = await lab.routes(n1);
      expect(routes.find((r) => r.dst === lab.subnetOf(n2))).toMatchObject({ gateway: n2.address, dev: 'eth0' });
      expect(routes.find((r) => r.dst === lab.subnetOf(n3))).toMatchObject({ dev: 'flannel.1', flags: ['onlink'] });
    });
  });

  describe('host-gw', () => {
    let lab: Lab;
    beforeAll(async () => {
      lab = await Lab.create({ nodes: 3, topology: 'two-subnets', backend: { Type: 'host-gw' }, resyncSeconds: RESYNC });
      for (const node of lab.nodes) await lab.addPod(node);
    }, 90_000);
    afterAll(async () => {
      await lab?.destroy();
    });

    it('refuses peers that are not on-link, with its one-line message, and installs no route to them', async () => {
      const [n1, n2, n3] = lab.nodes;
      const refusal = await waitFor('refusal logged on n1', async () => lab.agent(n1)!.output().find((l) => l.includes('is not on-link')), 10_000);
      const message = (JSON.parse(refusal) as { msg: string }).msg;
      expect(message).toBe(`host-gw: peer ${n3.address} (subnet ${lab.subnetOf(n3)}) is not on-link for eth0 (${n1.address}/24); `
        + 'host-gw needs every node on one L2 segment, use the vxlan backend across subnets');
      expect(lab.agent(n3)!.output().some((l) => l.includes(`host-gw: peer ${n1.address}`))).toBe(true);
      const routes = await lab.routes(n1);
      expect(routes.some((r) => r.dst === lab.subnetOf(n3))).toBe(false);
      expect(routes.find((r) => r.dst === lab.subnetOf(n2))).toMatchObject({ gateway: n2.address });
      expect((await lab.agentHttp(n1, '/metrics')).body).toMatch(/^flannel_refused_peers 1$/m);
    });

    it('still connects the pods that share a segment, and only those', async () => {
      // Routes were programmed in the pass that logged the refusals: one round of probes is enough.
      const report = await lab.connectivity({ timeoutMs: 1500 });
      const ok = (a: string, b: string) => report.pairs.find((p) => p.from === a && p.to === b)?.tcp;
      expect(ok('n1p1', 'n2p1')).toBe(true);
      expect(ok('n2p1', 'n1p1')).toBe(true);
      expect(ok('n1p1', 'n3p1')).toBe(false);
      expect(ok('n3p1', 'n2p1')).toBe(false);
    });
  });
});
