import { canCreateNetns, createNetns, destroyNetns, execIn } from '../../support/netns';
import { bundlePlugin, invoke, tempNetwork } from './harness';

const describeRoot = canCreateNetns() ? describe : describe.skip;

describeRoot('cnikit CNI plugin, dual-stack, on a real kernel', () => {
  const net = tempNetwork([
    'FLANNEL_NETWORK=10.252.0.0/16', 'FLANNEL_SUBNET=10.252.4.1/24',
    'FLANNEL_IPV6_NETWORK=fd00:252::/56', 'FLANNEL_IPV6_SUBNET=fd00:252:0:4::1/64',
    'FLANNEL_MTU=1450', 'FLANNEL_IPMASQ=true', '',
  ].join('\n'));
  const names: string[] = [];
  afterAll(() => {
    for (const n of names) destroyNetns(n);
    net.dispose();
  });

  it('gives each pod an IPv4 and an IPv6 address and routes, and pods reach each other over both', async () => {
    const plugin = bundlePlugin(net.dir);
    const node = createNetns('node6');
    const a = createNetns('a6');
    const b = createNetns('b6');
    names.push(node, a, b);
    const conf = { cniVersion: '1.1.0', name: 'ds', type: 'cnikit-flannel', subnetFile: net.subnetFile, dataDir: net.dataDir };
    const ra = await invoke({ plugin, node, command: 'ADD', conf, containerId: 'ds-a', netns: a, ifname: 'eth0' });
    const rb = await invoke({ plugin, node, command: 'ADD', conf, containerId: 'ds-b', netns: b, ifname: 'eth0' });
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const ips = (rb.json as { ips: { address: string; gateway: string }[] }).ips;
    expect(ips).toEqual([
      { address: '10.252.4.3/24', gateway: '10.252.4.1', interface: 2 },
      { address: 'fd00:252:0:4::3/64', gateway: 'fd00:252:0:4::1', interface: 2 },
    ]);
    expect(execIn(b, ['ip', '-6', 'route']).stdout).toMatch(/default via fd00:252:0:4::1 dev eth0/);
    expect(execIn(b, ['ip', '-6', 'route']).stdout).toMatch(/fd00:252::\/56 via fd00:252:0:4::1 dev eth0/);
    expect(execIn(a, ['ping', '-c1', '-W2', '10.252.4.3']).code).toBe(0);
    expect(execIn(a, ['ping', '-6', '-c1', '-W2', 'fd00:252:0:4::3']).code).toBe(0);
    expect(execIn(a, ['ping', '-6', '-c1', '-W2', 'fd00:252:0:4::1']).code).toBe(0);
  });
});
