import { Cidr } from '../../../lib/model/cidr';
import { assignFromBlock, emptyBlock, resolvePool } from '../../../lib/dataplane/ipam/block-model';
import { CalicoNode, DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI, RoutingInput, desiredRouting, natOutgoingRuleSet, vtepMac } from '../../../lib/dataplane/calico/routes';
import { checkIpip, linuxModuleProbe } from '../../../lib/dataplane/calico/ipip';

const block = (cidr: string, node: string) => emptyBlock(Cidr.parse(cidr, 'x'), node, false);
const node = (name: string, ip: string, tunnel: string): CalicoNode => ({
  name, spec: { bgp: { ipv4Address: ip }, ipv4VXLANTunnelAddr: tunnel, vxlanTunnelMACAddr: vtepMac(name) },
});
const nodes = [node('a', '10.0.1.2/24', '10.244.0.0'), node('b', '10.0.1.3/24', '10.244.0.64'), node('c', '10.0.2.2/24', '10.244.0.128')];
const blocks = [block('10.244.0.0/26', 'a'), block('10.244.0.64/26', 'b'), block('10.244.0.128/26', 'c')];
const input = (vxlanMode: 'Always' | 'CrossSubnet' | 'Never') => ({
  node: 'a', nodeAddress: '10.0.1.2/24', uplink: 'eth0', uplinkMtu: 1500, nodes, blocks, vxlanTunnelAddress: '10.244.0.0',
  pools: [resolvePool('default', { cidr: '10.244.0.0/16', vxlanMode, natOutgoing: true })],
});

describe('Calico-style routes', () => {
  test('dual-stack with BGP: the own IPv6 block is blackholed; remote IPv6 blocks are left to the BGP speaker', () => {
    const d = desiredRouting({
      node: 'a', nodeAddress: '10.0.1.2/24', uplink: 'eth0', uplinkMtu: 1500, nodes, bgp: true,
      pools: [resolvePool('v4', { cidr: '10.244.0.0/16', vxlanMode: 'Never' }), resolvePool('v6', { cidr: 'fd00:10:244::/48', blockSize: 122 })],
      blocks: [block('10.244.0.0/26', 'a'), block('10.244.0.64/26', 'b'), block('fd00:10:244::/122', 'a'), block('fd00:10:244::40/122', 'b')],
    });
    expect(d.routes).toEqual([
      { dst: '10.244.0.0/26', type: 'blackhole', protocol: 80 },
      { dst: 'fd00:10:244::/122', type: 'blackhole', protocol: 80 },
    ]);
  });

  test('VXLAN Always: blackhole for the own block, on-link routes via remote VTEPs, neighbour and FDB entries', () => {
    const d = desiredRouting(input('Always'));
    expect(d.links).toEqual([expect.objectContaining({ kind: 'vxlan', name: 'vxlan.calico', vni: 4096, port: 4789, local: '10.0.1.2', device: 'eth0', mtu: 1450 })]);
    expect(d.addresses).toEqual([{ dev: 'vxlan.calico', cidr: '10.244.0.0/32' }]);
    expect(d.routes).toEqual([
      { dst: '10.244.0.0/26', type: 'blackhole', protocol: 80 },
      { dst: '10.244.0.64/26', via: '10.244.0.64', dev: 'vxlan.calico', onlink: true, protocol: 80 },
      { dst: '10.244.0.128/26', via: '10.244.0.128', dev: 'vxlan.calico', onlink: true, protocol: 80 },
    ]);
    expect(d.neighbours).toContainEqual({ dev: 'vxlan.calico', address: '10.244.0.64', mac: vtepMac('b') });
    expect(d.fdb).toContainEqual({ dev: 'vxlan.calico', mac: vtepMac('c'), dst: '10.0.2.2' });
  });

  test('FelixConfiguration vxlanVNI, vxlanPort and vxlanMTU set the device; unset, Felix\'s defaults and uplink − 50', () => {
    const d = desiredRouting({ ...input('Always'), vxlanVni: 4097, vxlanPort: 8472, vxlanMtu: 1400 });
    expect(d.links).toEqual([expect.objectContaining({ kind: 'vxlan', vni: 4097, port: 8472, mtu: 1400 })]);
    expect(desiredRouting({ ...input('Always'), vxlanMtu: 0 }).links).toEqual([expect.objectContaining({ vni: DEFAULT_VXLAN_VNI, port: DEFAULT_VXLAN_PORT, mtu: 1450 })]);
  });

  test('vxlanEnabled false: no device and no VXLAN routes, each encapsulated peer refused with the reason; true or unset follows the pools', () => {
    const d = desiredRouting({ ...input('CrossSubnet'), vxlanEnabled: false });
    expect(d.links).toEqual([]);
    expect(d.addresses).toEqual([]);
    expect(d.routes).toContainEqual({ dst: '10.244.0.64/26', via: '10.0.1.3', dev: 'eth0', protocol: 80 });
    expect(d.routes.some((r) => r.dev === 'vxlan.calico')).toBe(false);
    expect(d.refusals).toEqual([{ lease: 'c', reason: 'pool default uses VXLAN but FelixConfiguration vxlanEnabled is false on this node' }]);
    expect(desiredRouting({ ...input('CrossSubnet'), vxlanEnabled: true })).toEqual(desiredRouting(input('CrossSubnet')));
  });

  test('ipipEnabled false: no tunl0 address and no IPIP routes', () => {
    const ipip = { ...input('Never'), vxlanTunnelAddress: undefined, ipipTunnelAddress: '10.244.0.1', pools: [resolvePool('default', { cidr: '10.244.0.0/16', ipipMode: 'Always' })] };
    expect(desiredRouting(ipip).routes).toContainEqual({ dst: '10.244.0.128/26', via: '10.0.2.2', dev: 'tunl0', onlink: true, protocol: 80 });
    const off = desiredRouting({ ...ipip, ipipEnabled: false });
    expect(off.addresses).toEqual([]);
    expect(off.routes.some((r) => r.dev === 'tunl0')).toBe(false);
  });

  test('CrossSubnet: the same-subnet node is routed directly, only the other subnet is encapsulated', () => {
    const d = desiredRouting(input('CrossSubnet'));
    expect(d.routes).toContainEqual({ dst: '10.244.0.64/26', via: '10.0.1.3', dev: 'eth0', protocol: 80 });
    expect(d.routes).toContainEqual({ dst: '10.244.0.128/26', via: '10.244.0.128', dev: 'vxlan.calico', onlink: true, protocol: 80 });
    expect(d.fdb).toEqual([{ dev: 'vxlan.calico', mac: vtepMac('c'), dst: '10.0.2.2' }]);
  });

  test('no encapsulation: a node in another subnet is refused with a reason, no device', () => {
    const d = desiredRouting(input('Never'));
    expect(d.links).toEqual([]);
    expect(d.refusals).toEqual([{ lease: 'c', reason: expect.stringContaining('is not in this node\'s subnet 10.0.1.0/24') }]);
  });

  test('borrowed addresses get /32 routes towards the node that uses them', () => {
    const borrowed = assignFromBlock(blocks[1], 1, 'k8s-pod-network.x', { node: 'c' }, () => false).block;
    const d = desiredRouting({ ...input('CrossSubnet'), blocks: [blocks[0], borrowed, blocks[2]] });
    expect(d.routes).toContainEqual({ dst: '10.244.0.64/32', via: '10.244.0.128', dev: 'vxlan.calico', onlink: true, protocol: 80 });
    // On the block's owner a borrowed address also beats its blackhole.
    const onB = desiredRouting({ ...input('CrossSubnet'), node: 'b', nodeAddress: '10.0.1.3/24', vxlanTunnelAddress: '10.244.0.64', blocks: [borrowed] });
    expect(onB.routes).toEqual([
      { dst: '10.244.0.64/26', type: 'blackhole', protocol: 80 },
      { dst: '10.244.0.64/32', via: '10.244.0.128', dev: 'vxlan.calico', onlink: true, protocol: 80 },
    ]);
  });

  test('NAT outgoing: pool-to-pool keeps its source, everything else from the pool is masqueraded', () => {
    const set = natOutgoingRuleSet(input('Always').pools);
    expect(set?.chains[0].rules).toEqual([
      expect.objectContaining({ saddr: { cidr: '10.244.0.0/16' }, daddr: { cidr: '10.244.0.0/16' }, verdict: 'return' }),
      expect.objectContaining({ saddr: { cidr: '10.244.0.0/16' }, verdict: 'masquerade' }),
    ]);
    expect(natOutgoingRuleSet([resolvePool('p', { cidr: '10.0.0.0/16' })])).toBeUndefined();
    // Per family: an IPv6 pool with natOutgoing gets its own ip6 table; IPv4 pools do not appear in it.
    const dual = [resolvePool('v4', { cidr: '10.244.0.0/16', natOutgoing: true }), resolvePool('v6', { cidr: 'fd00:10:244::/48', blockSize: 122, natOutgoing: true })];
    const v6 = natOutgoingRuleSet(dual, 6);
    expect(v6?.family).toBe(6);
    expect(v6?.chains[0].rules).toEqual([
      expect.objectContaining({ saddr: { cidr: 'fd00:10:244::/48' }, daddr: { cidr: 'fd00:10:244::/48' }, verdict: 'return' }),
      expect.objectContaining({ saddr: { cidr: 'fd00:10:244::/48' }, verdict: 'masquerade' }),
    ]);
    expect(natOutgoingRuleSet([dual[0]], 6)).toBeUndefined();
  });

  test('VTEP MACs are unicast, locally administered and stable', () => {
    expect(vtepMac('a')).toBe(vtepMac('a'));
    expect(vtepMac('a')).not.toBe(vtepMac('b'));
    expect(parseInt(vtepMac('a').slice(0, 2), 16) & 0x03).toBe(0x02);
  });

  test('IPIP: detected at start-up and refused without the module, with one line naming the pool', async () => {
    const ipipPool = [resolvePool('legacy', { cidr: '10.9.0.0/16', ipipMode: 'Always' })];
    const without = { loaded: () => false, load: async () => false };
    await expect(checkIpip(ipipPool, without)).rejects.toThrow(
      'ippools/legacy.ipipMode: "Always" is not usable on this node; expected "Never" because the kernel has no ipip module (modprobe ipip failed): use vxlanMode Always instead');
    await expect(checkIpip(ipipPool, { loaded: () => true, load: async () => true })).resolves.toBe(true);
    await expect(checkIpip(input('Always').pools, without)).resolves.toBe(false);
    // This machine has no ipip module (modprobe is not tried here: loading it would add tunl0 to the host's namespace).
    expect(linuxModuleProbe.loaded('ipip')).toBe(false);
    expect(linuxModuleProbe.loaded('vxlan')).toBe(true);
  });
});

describe('Calico-style routes, IPv6 over VXLAN (vxlan-v6.calico)', () => {
  // a and b share 10.0.1.0/24 and fd00:99:1::/64; c is in 10.0.2.0/24 and fd00:99:2::/64.
  const node6 = (name: string, ip: string, ip6: string, tunnel: string, tunnel6: string): CalicoNode => ({
    name, spec: {
      bgp: { ipv4Address: ip, ipv6Address: ip6 }, ipv4VXLANTunnelAddr: tunnel, vxlanTunnelMACAddr: vtepMac(name),
      ipv6VXLANTunnelAddr: tunnel6, vxlanTunnelMACAddrV6: vtepMac(name, 6),
    },
  });
  const nodes6 = [
    node6('a', '10.0.1.2/24', 'fd00:99:1::2/64', '10.244.0.0', 'fd00:10:244::'),
    node6('b', '10.0.1.3/24', 'fd00:99:1::3/64', '10.244.0.64', 'fd00:10:244::40'),
    node6('c', '10.0.2.2/24', 'fd00:99:2::2/64', '10.244.0.128', 'fd00:10:244::80'),
  ];
  const blocks6 = [...blocks, block('fd00:10:244::/122', 'a'), block('fd00:10:244::40/122', 'b'), block('fd00:10:244::80/122', 'c')];
  const dual = (mode6: 'Always' | 'CrossSubnet' | 'Never', extra: Partial<RoutingInput> = {}): RoutingInput => ({
    node: 'a', nodeAddress: '10.0.1.2/24', uplink: 'eth0', uplinkMtu: 1500, nodes: nodes6, blocks: blocks6, vxlanTunnelAddress: '10.244.0.0',
    nodeAddress6: 'fd00:99:1::2/64', vxlanTunnelAddress6: 'fd00:10:244::',
    pools: [resolvePool('v4', { cidr: '10.244.0.0/16', vxlanMode: 'Always' }), resolvePool('v6', { cidr: 'fd00:10:244::/48', blockSize: 122, vxlanMode: mode6 })],
    ...extra,
  });
  const v6Routes = (d: ReturnType<typeof desiredRouting>) => d.routes.filter((r) => r.dst.includes(':'));

  test('Always: a second device over the IPv6 underlay, same VNI and port, uplink − 70; remote IPv6 blocks via their VTEPs on-link', () => {
    const d = desiredRouting(dual('Always'));
    expect(d.links).toEqual([
      expect.objectContaining({ name: 'vxlan.calico', local: '10.0.1.2', mtu: 1450 }),
      { kind: 'vxlan', name: 'vxlan-v6.calico', vni: 4096, port: 4789, local: 'fd00:99:1::2', device: 'eth0', mac: vtepMac('a', 6), mtu: 1430, learning: false, up: true },
    ]);
    expect(d.addresses).toEqual([{ dev: 'vxlan.calico', cidr: '10.244.0.0/32' }, { dev: 'vxlan-v6.calico', cidr: 'fd00:10:244::/128', nodad: true }]);
    expect(v6Routes(d)).toEqual([
      { dst: 'fd00:10:244::/122', type: 'blackhole', protocol: 80 },
      { dst: 'fd00:10:244::40/122', via: 'fd00:10:244::40', dev: 'vxlan-v6.calico', onlink: true, protocol: 80 },
      { dst: 'fd00:10:244::80/122', via: 'fd00:10:244::80', dev: 'vxlan-v6.calico', onlink: true, protocol: 80 },
    ]);
    expect(d.neighbours).toContainEqual({ dev: 'vxlan-v6.calico', address: 'fd00:10:244::40', mac: vtepMac('b', 6) });
    expect(d.fdb).toContainEqual({ dev: 'vxlan-v6.calico', mac: vtepMac('c', 6), dst: 'fd00:99:2::2' });
    // The IPv4 side is unchanged by the IPv6 one.
    expect(d.fdb).toContainEqual({ dev: 'vxlan.calico', mac: vtepMac('c'), dst: '10.0.2.2' });
    expect(d.refusals).toEqual([]);
  });

  test('CrossSubnet compares IPv6 subnets: the same-subnet node directly on the IPv6 uplink, the other through vxlan-v6.calico', () => {
    const d = desiredRouting(dual('CrossSubnet', { uplink6: 'eth1' }));
    expect(v6Routes(d)).toEqual([
      { dst: 'fd00:10:244::/122', type: 'blackhole', protocol: 80 },
      { dst: 'fd00:10:244::40/122', via: 'fd00:99:1::3', dev: 'eth1', protocol: 80 },
      { dst: 'fd00:10:244::80/122', via: 'fd00:10:244::80', dev: 'vxlan-v6.calico', onlink: true, protocol: 80 },
    ]);
    expect(d.links.find((l) => l.name === 'vxlan-v6.calico')).toMatchObject({ device: 'eth1' });
    expect(d.fdb.filter((f) => f.dev === 'vxlan-v6.calico')).toEqual([{ dev: 'vxlan-v6.calico', mac: vtepMac('c', 6), dst: 'fd00:99:2::2' }]);
  });

  test('vxlanMTUV6 sets the device MTU; unset, the IPv6 uplink\'s MTU − 70; VNI and port are vxlanVNI and vxlanPort', () => {
    const dev6 = (d: ReturnType<typeof desiredRouting>) => d.links.find((l) => l.name === 'vxlan-v6.calico');
    expect(dev6(desiredRouting(dual('Always', { vxlanMtu6: 1400, vxlanVni: 5000, vxlanPort: 4790 })))).toMatchObject({ mtu: 1400, vni: 5000, port: 4790 });
    expect(dev6(desiredRouting(dual('Always', { uplinkMtu6: 9000 })))).toMatchObject({ mtu: 8930 });
  });

  test('vxlanEnabled false turns off IPv4 VXLAN only; IPv6 VXLAN follows the IPv6 pools, as in Felix', () => {
    const d = desiredRouting(dual('Always', { vxlanEnabled: false }));
    expect(d.links.map((l) => l.name)).toEqual(['vxlan-v6.calico']);
    expect(v6Routes(d)).toHaveLength(3);
  });

  test('without an IPv6 node address or tunnel: no device, each IPv6-encapsulated peer refused with the reason', () => {
    const d = desiredRouting(dual('Always', { nodeAddress6: undefined }));
    expect(d.links.map((l) => l.name)).toEqual(['vxlan.calico']);
    expect(v6Routes(d)).toEqual([{ dst: 'fd00:10:244::/122', type: 'blackhole', protocol: 80 }]);
    expect(d.refusals).toEqual([
      { lease: 'b', reason: 'pool v6 uses VXLAN but this node has no IPv6 VXLAN tunnel (it needs an IPv6 address, IP6=autodetect, and a tunnel address from the pool)' },
      { lease: 'c', reason: expect.stringContaining('no IPv6 VXLAN tunnel') },
    ]);
    expect(desiredRouting(dual('Always', { vxlanTunnelAddress6: undefined })).links.map((l) => l.name)).toEqual(['vxlan.calico']);
  });

  test('a peer without its IPv6 VTEP registered yet is refused; the others are routed', () => {
    const [a, b, c] = nodes6;
    const bare = { name: 'c', spec: { ...c.spec, ipv6VXLANTunnelAddr: undefined, vxlanTunnelMACAddrV6: undefined } };
    const d = desiredRouting(dual('Always', { nodes: [a, b, bare] }));
    expect(v6Routes(d).map((r) => r.dst)).toEqual(['fd00:10:244::/122', 'fd00:10:244::40/122']);
    expect(d.refusals).toEqual([{ lease: 'c', reason: 'node c has no IPv6 address, IPv6 VXLAN tunnel address or MAC registered yet' }]);
  });

  test('IPv6 pool without encapsulation: with BGP left to the speaker; without, same IPv6 subnet direct and the other refused', () => {
    expect(v6Routes(desiredRouting(dual('Never', { bgp: true })))).toEqual([{ dst: 'fd00:10:244::/122', type: 'blackhole', protocol: 80 }]);
    const d = desiredRouting(dual('Never'));
    expect(v6Routes(d)).toEqual([
      { dst: 'fd00:10:244::/122', type: 'blackhole', protocol: 80 },
      { dst: 'fd00:10:244::40/122', via: 'fd00:99:1::3', dev: 'eth0', protocol: 80 },
    ]);
    expect(d.links.map((l) => l.name)).toEqual(['vxlan.calico']);
    expect(d.refusals).toEqual([{ lease: 'c', reason: expect.stringContaining('is not in this node\'s IPv6 subnet fd00:99:1::/64') }]);
  });

  test('a borrowed IPv6 address gets a /128 through vxlan-v6.calico towards the node that uses it', () => {
    const borrowed = assignFromBlock(blocks6[4], 1, 'k8s-pod-network.x', { node: 'c' }, () => false).block;
    const d = desiredRouting(dual('Always', { blocks: [blocks6[3], borrowed, blocks6[5]] }));
    expect(d.routes).toContainEqual({ dst: 'fd00:10:244::40/128', via: 'fd00:10:244::80', dev: 'vxlan-v6.calico', onlink: true, protocol: 80 });
  });

  test('IPv6 VTEP MACs differ from the IPv4 ones, and are unicast, locally administered and stable', () => {
    expect(vtepMac('a', 6)).toBe(vtepMac('a', 6));
    expect(vtepMac('a', 6)).not.toBe(vtepMac('a'));
    expect(vtepMac('a', 4)).toBe(vtepMac('a'));
    expect(parseInt(vtepMac('a', 6).slice(0, 2), 16) & 0x03).toBe(0x02);
  });
});
