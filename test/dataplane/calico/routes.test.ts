import { Cidr } from '../../../lib/model/cidr';
import { assignFromBlock, emptyBlock, resolvePool } from '../../../lib/dataplane/ipam/block-model';
import { CalicoNode, DEFAULT_VXLAN_PORT, DEFAULT_VXLAN_VNI, desiredRouting, natOutgoingRuleSet, vtepMac } from '../../../lib/dataplane/calico/routes';
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
