import { formatReport } from '../../lib/lab';
import { CalicoLab } from '../../lib/lab/calico';
import { workloadVethName } from '../../lib/dataplane/calico/workload-endpoint';
import { IpamBlockSpec, blockAllocations } from '../../lib/dataplane/ipam/block-model';
import { describeLab } from './flannel-suite';

// n1, n2 on 10.99.0.0/24; n3 on 10.99.1.0/24 behind the gw namespace's router. Real calico-agent
// processes (etcd mode), pods through the kit's CNI plugin in Calico mode.
describeLab('lab: Calico-style stack, VXLAN across two subnets', () => {
  describe('CrossSubnet', () => {
    let calico: CalicoLab;
    beforeAll(async () => {
      calico = await CalicoLab.create({ nodes: 3, segments: [0, 0, 1], vxlanMode: 'CrossSubnet' });
      for (const node of calico.lab.nodes) await calico.lab.addPod(node);
    }, 90_000);
    afterAll(async () => {
      await calico?.destroy();
    });

    it('pods on every node reach each other; only cross-subnet traffic is encapsulated (kernel counters)', async () => {
      const { lab } = calico;
      const [n1, n2] = lab.nodes;
      const report = await lab.waitForConnectivity(20_000);
      if (!report.ok) throw new Error(formatReport(report));
      expect(report.pairs).toHaveLength(6);

      const routes = await lab.routes(n1);
      const blocks = (await calico.store.list('ipamblocks/')).items.map((kv) => JSON.parse(kv.value) as IpamBlockSpec);
      const blockOf = (node: string) => blocks.find((b) => b.affinity === `host:${node}`)?.cidr;
      expect(routes.find((r) => r.dst === blockOf('n1'))).toMatchObject({ type: 'blackhole', protocol: '80' });
      expect(routes.find((r) => r.dst === blockOf('n2'))).toMatchObject({ gateway: n2.address, dev: 'eth0', protocol: '80' });
      expect(routes.find((r) => r.dst === blockOf('n3'))).toMatchObject({ dev: 'vxlan.calico', flags: ['onlink'], protocol: '80' });

      const [p1, p2, p3] = lab.pods;
      // 10 pings each way; the device's own IPv6 housekeeping (router solicitations, MLD) may add a packet or two.
      const before = await calico.vxlanTxPackets(n1);
      for (let i = 0; i < 10; i++) expect(await lab.pings(p1.netns, p2.ip)).toBe(true);
      const sameSubnet = await calico.vxlanTxPackets(n1);
      for (let i = 0; i < 10; i++) expect(await lab.pings(p1.netns, p3.ip)).toBe(true);
      const crossSubnet = await calico.vxlanTxPackets(n1);
      expect(sameSubnet - before).toBeLessThanOrEqual(2);
      expect(crossSubnet - sameSubnet).toBeGreaterThanOrEqual(10);
      // NAT outgoing: the router knows no route to the pool, so only a masqueraded ping comes back.
      expect(await lab.pings(p1.netns, lab.plan.segments[1].gateway)).toBe(true);
      const nat = await lab.exec(n1.netns, ['nft', 'list', 'table', 'ip', 'cnikit-calico']);
      expect(nat.stdout).toMatch(/ip saddr 10\.244\.0\.0\/16 .*masquerade/);
      // The workload endpoint on the node: cali veth with proxy ARP.
      const veth = workloadVethName('default', p1.containerId);
      expect((await lab.exec(n1.netns, ['cat', `/proc/sys/net/ipv4/conf/${veth}/proxy_arp`])).stdout.trim()).toBe('1');
    });

    it('an agent stopped keeps its routes; restarted, it changes nothing', async () => {
      const { lab } = calico;
      const n1 = lab.nodes[0];
      await calico.stopAgent(n1);
      const routes = (await lab.routes(n1)).filter((r) => r.protocol === '80');
      expect(routes.length).toBeGreaterThanOrEqual(3);
      const report = await lab.connectivity({ tcp: false });
      expect(report.ok).toBe(true);
      await calico.startAgent(n1);
      expect((await lab.routes(n1)).filter((r) => r.protocol === '80')).toEqual(routes);
      expect(calico.agent(n1)?.output().some((l) => l.includes('"msg":"reconciled"'))).toBe(false);
    });
  });

  describe('Always, with a borrowed address', () => {
    let calico: CalicoLab;
    beforeAll(async () => {
      // Four /31 blocks, one reserved: the three tunnel addresses take one block per node, so a
      // second pod on n1 has to borrow an address from another node's block.
      calico = await CalicoLab.create({
        nodes: 3, segments: [0, 0, 1], vxlanMode: 'Always', poolCidr: '10.244.0.0/29', blockSize: 31, reservedCidrs: ['10.244.0.6/31'],
      });
      const [n1, , n3] = calico.lab.nodes;
      await calico.lab.addPod(n1);
      await calico.lab.addPod(n1);
      await calico.lab.addPod(n3);
    }, 90_000);
    afterAll(async () => {
      await calico?.destroy();
    });

    it('every pair connects through the tunnel, same subnet included; the borrowed address has /32 routes elsewhere', async () => {
      const { lab } = calico;
      const [n1, n2, n3] = lab.nodes;
      const before = await calico.vxlanTxPackets(n1);
      const report = await lab.waitForConnectivity(20_000);
      if (!report.ok) throw new Error(formatReport(report));
      expect(await calico.vxlanTxPackets(n1)).toBeGreaterThan(before);

      const blocks = (await calico.store.list('ipamblocks/')).items.map((kv) => JSON.parse(kv.value) as IpamBlockSpec);
      const borrowed = blocks.flatMap((b) => blockAllocations(b).filter((a) => a.attributes.node === 'n1' && b.affinity !== 'host:n1').map((a) => a.address));
      expect(borrowed).toHaveLength(1);
      expect(lab.pods.map((p) => p.ip)).toContain(borrowed[0]);
      const n1Tunnel = (JSON.parse((await calico.store.get('nodes/n1'))!.value) as { ipv4VXLANTunnelAddr: string }).ipv4VXLANTunnelAddr;
      for (const node of [n2, n3]) {
        const waitRoute = async () => (await lab.routes(node)).find((r) => r.dst === borrowed[0]);
        expect(await waitRoute()).toMatchObject({ gateway: n1Tunnel, dev: 'vxlan.calico', protocol: '80' });
      }
      // Same-subnet n2 also reaches n1 through vxlan.calico in Always mode.
      expect((await lab.routes(n2)).filter((r) => r.dev === 'eth0' && r.protocol === '80')).toEqual([]);
    });
  });
});
