import { formatReport } from '../../lib/lab';
import { CalicoLab } from '../../lib/lab/calico';
import { run } from '../../lib/lab/exec';
import { IpamBlockSpec } from '../../lib/dataplane/ipam/block-model';
import { Cidr } from '../../lib/model/cidr';
import { describeLab } from './flannel-suite';

// Dual-stack Calico-style VXLAN: an IPv4 and an IPv6 pool, both encapsulated; IPv6 rides
// vxlan-v6.calico over the nodes' IPv6 addresses, as Felix does. n1, n2 on segment 0
// (10.99.0.0/24, fd99::/64); n3 on segment 1 behind the gw namespace's router. Real calico-agent
// processes (etcd mode, IP6=autodetect), pods through the kit's CNI plugin with both families.

const POOL6 = 'fd00:10:244::/48';

/** The kernel's spelling of an IPv6 address (`fd99:0:0:0::11` → `fd99::11`). */
const canonical = (address: string) => Cidr.parse(`${address}/128`, 'address').address();

interface Facts {
  /** Per node: its IPv4 and IPv6 blocks, its IPv6 VXLAN tunnel address as registered. */
  readonly block4: Record<string, string>;
  readonly block6: Record<string, string>;
  readonly tunnel6: Record<string, string>;
}

async function facts(calico: CalicoLab): Promise<Facts> {
  const blocks = (await calico.store.list('ipamblocks/')).items.map((kv) => JSON.parse(kv.value) as IpamBlockSpec);
  const out: Facts = { block4: {}, block6: {}, tunnel6: {} };
  for (const { name } of calico.lab.nodes) {
    out.block4[name] = blocks.find((b) => b.affinity === `host:${name}` && !b.cidr.includes(':'))?.cidr ?? '';
    out.block6[name] = blocks.find((b) => b.affinity === `host:${name}` && b.cidr.includes(':'))?.cidr ?? '';
    out.tunnel6[name] = (JSON.parse((await calico.store.get(`nodes/${name}`))!.value) as { ipv6VXLANTunnelAddr?: string }).ipv6VXLANTunnelAddr ?? '';
  }
  return out;
}

describeLab('lab: Calico-style stack, dual-stack VXLAN (vxlan-v6.calico)', () => {
  describe('IPv6 pool Always, IPv4 CrossSubnet', () => {
    let calico: CalicoLab;
    let f: Facts;
    beforeAll(async () => {
      calico = await CalicoLab.create({ nodes: 3, segments: [0, 0, 1], vxlanMode: 'CrossSubnet', ipv6PoolCidr: POOL6, ipv6VxlanMode: 'Always' });
      for (const node of calico.lab.nodes) await calico.lab.addPod(node);
      f = await facts(calico);
    }, 90_000);
    afterAll(async () => {
      await calico?.destroy();
    });

    it('pods on every node reach each other over IPv6 through vxlan-v6.calico, and over IPv4 as before', async () => {
      const { lab } = calico;
      const [n1, n2, n3] = lab.nodes;
      expect(lab.pods.every((p) => p.ip6?.startsWith('fd00:10:244:'))).toBe(true);
      for (const family of [6, 4] as const) {
        const report = await lab.waitForConnectivity(20_000, { family });
        if (!report.ok) throw new Error(`IPv${family}\n${formatReport(report)}`);
        expect(report.pairs).toHaveLength(6);
      }

      // `ip -6 route` on n1: its own IPv6 block blackholed, the others via their IPv6 VTEPs on
      // vxlan-v6.calico, all with the agent's protocol (80).
      const routes = await lab.routes(n1, 6);
      expect(routes.find((r) => r.dst === f.block6.n1)).toMatchObject({ type: 'blackhole', protocol: '80' });
      for (const node of [n2, n3]) {
        expect(f.tunnel6[node.name]).toMatch(/^fd00:10:244:/);
        expect(routes.find((r) => r.dst === f.block6[node.name])).toMatchObject({ gateway: f.tunnel6[node.name], dev: 'vxlan-v6.calico', flags: ['onlink'], protocol: '80' });
      }
      // The device: the node's IPv6 address as underlay, Felix's VNI and port, uplink − 70.
      const link = (await lab.exec(n1.netns, ['ip', '-d', 'link', 'show', 'vxlan-v6.calico'])).stdout;
      expect(link).toMatch(/ mtu 1430 /);
      expect(link).toContain(`vxlan id 4096 local ${canonical(n1.address6)} dev eth0`);
      expect(link).toContain('dstport 4789');

      // Ping by ping: IPv6 to the same-subnet node (Always) and to the other subnet both leave through vxlan-v6.calico.
      const [p1, p2, p3] = lab.pods;
      const before = await calico.vxlanTxPackets(n1, 'vxlan-v6.calico');
      for (let i = 0; i < 5; i++) expect(await lab.pings(p1.netns, p2.ip6!)).toBe(true);
      for (let i = 0; i < 5; i++) expect(await lab.pings(p1.netns, p3.ip6!)).toBe(true);
      expect(await calico.vxlanTxPackets(n1, 'vxlan-v6.calico') - before).toBeGreaterThanOrEqual(10);
      // IPv4 CrossSubnet is untouched: n2's IPv4 block directly on eth0, n3's through vxlan.calico.
      const routes4 = await lab.routes(n1);
      expect(routes4.find((r) => r.dst === f.block4.n2)).toMatchObject({ gateway: n2.address, dev: 'eth0', protocol: '80' });
      expect(routes4.find((r) => r.dst === f.block4.n3)).toMatchObject({ dev: 'vxlan.calico', flags: ['onlink'], protocol: '80' });
    });

    it('an agent restarted changes nothing: vxlan-v6.calico is read back as created, not recreated', async () => {
      const { lab } = calico;
      const n1 = lab.nodes[0];
      const ifindex = async () => (JSON.parse((await run(['ip', '-n', n1.netns, '-j', 'link', 'show', 'vxlan-v6.calico'])).stdout) as { ifindex: number }[])[0].ifindex;
      const index = await ifindex();
      const routes = (await lab.routes(n1, 6)).filter((r) => r.protocol === '80');
      await calico.stopAgent(n1);
      await calico.startAgent(n1);
      await new Promise((r) => setTimeout(r, 3000)); // past one more resync (2 s)
      expect(await ifindex()).toBe(index);
      expect((await lab.routes(n1, 6)).filter((r) => r.protocol === '80')).toEqual(routes);
      expect(calico.agent(n1)?.output().some((l) => l.includes('"msg":"reconciled"'))).toBe(false);
      expect((await lab.connectivity({ family: 6, tcp: false })).failures).toEqual([]);
    });
  });

  describe('IPv6 pool CrossSubnet', () => {
    let calico: CalicoLab;
    let f: Facts;
    beforeAll(async () => {
      calico = await CalicoLab.create({ nodes: 3, segments: [0, 0, 1], vxlanMode: 'CrossSubnet', ipv6PoolCidr: POOL6 });
      for (const node of calico.lab.nodes) await calico.lab.addPod(node);
      f = await facts(calico);
    }, 90_000);
    afterAll(async () => {
      await calico?.destroy();
    });

    it('IPv6 to the same-subnet node goes directly on eth0, to the other subnet through vxlan-v6.calico (kernel counters)', async () => {
      const { lab } = calico;
      const [n1, n2] = lab.nodes;
      const report = await lab.waitForConnectivity(20_000, { family: 6 });
      if (!report.ok) throw new Error(formatReport(report));

      const routes = await lab.routes(n1, 6);
      expect(routes.find((r) => r.dst === f.block6.n2)).toMatchObject({ gateway: canonical(n2.address6), dev: 'eth0', protocol: '80' });
      expect(routes.find((r) => r.dst === f.block6.n3)).toMatchObject({ gateway: f.tunnel6.n3, dev: 'vxlan-v6.calico', flags: ['onlink'], protocol: '80' });

      const [p1, p2, p3] = lab.pods;
      const before = await calico.vxlanTxPackets(n1, 'vxlan-v6.calico');
      for (let i = 0; i < 10; i++) expect(await lab.pings(p1.netns, p2.ip6!)).toBe(true);
      const sameSubnet = await calico.vxlanTxPackets(n1, 'vxlan-v6.calico');
      for (let i = 0; i < 10; i++) expect(await lab.pings(p1.netns, p3.ip6!)).toBe(true);
      const crossSubnet = await calico.vxlanTxPackets(n1, 'vxlan-v6.calico');
      // The device's own IPv6 housekeeping (router solicitations, MLD) may add a packet or two.
      expect(sameSubnet - before).toBeLessThanOrEqual(2);
      expect(crossSubnet - sameSubnet).toBeGreaterThanOrEqual(10);
    });
  });
});
