import * as fs from 'fs';
import { formatReport, Lab } from '../../lib/lab';
import { run } from '../../lib/lab/exec';
import { ONE_RESYNC_MS, RESYNC, describeLab } from './flannel-suite';

// Dual-stack (the prod environment's shape): IPv4 and IPv6 pod networks over both underlays.
describeLab.each([
  ['vxlan', 'flannel-v6.1'],
  ['host-gw', 'eth0'],
])('lab: dual-stack %s across three nodes', (type, v6Dev) => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ nodes: 3, backend: { Type: type }, ipv6Network: 'fd00:10:244::/56', resyncSeconds: RESYNC });
    for (const node of lab.nodes) await lab.addPod(node);
  }, 90_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  it('writes both subnets to the subnet file and gives pods both families', () => {
    const text = fs.readFileSync(lab.nodes[0].subnetFile, 'utf8');
    expect(text).toMatch(/^FLANNEL_IPV6_NETWORK=fd00:10:244::\/56$/m);
    expect(text).toMatch(/^FLANNEL_IPV6_SUBNET=fd00:10:244:[0-9a-f]+::1\/64$/m);
    expect(lab.pods.every((p) => p.ip6?.startsWith('fd00:10:244:'))).toBe(true);
  });

  it('connects every pod to every other pod over IPv4 and over IPv6', async () => {
    for (const family of [4, 6] as const) {
      const report = await lab.waitForConnectivity(20_000, { family });
      if (!report.ok) throw new Error(`IPv${family}\n${formatReport(report)}`);
    }
  });

  it('programs the IPv6 routes with its protocol, and resyncs leave the devices and routes in place', async () => {
    const node = lab.nodes[0];
    const ifindex = async (dev: string) => (JSON.parse((await run(['ip', '-n', node.netns, '-j', 'link', 'show', dev])).stdout) as { ifindex: number }[])[0].ifindex;
    const before = await ifindex(v6Dev);
    // Sampled across two resync passes: a pass that recreated a device would drop its routes for a moment.
    const counts = new Set<number>();
    for (const end = Date.now() + 2 * ONE_RESYNC_MS; Date.now() < end;) {
      counts.add((await lab.routes(node, 6)).filter((r) => r.protocol === '76' && r.dev === v6Dev).length);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect([...counts]).toEqual([2]);
    expect(await ifindex(v6Dev)).toBe(before);
  });
});
