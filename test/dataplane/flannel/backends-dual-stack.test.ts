import { ExternalInterface, FLANNEL_ROUTE_PROTOCOL } from '../../../lib/dataplane/flannel/backend';
import { HostGwBackend, parseVxlanOptions, VxlanBackend } from '../../../lib/dataplane/flannel/backends';
import { flannelRuleSet } from '../../../lib/dataplane/flannel/reconcile-rules';
import { Cidr } from '../../../lib/model/cidr';
import { dualLease } from './backend-fixtures';

const external: ExternalInterface = {
  name: 'eth0', address: '10.99.0.11', localAddress: '10.99.0.11', address6: 'fd99::11', localAddress6: 'fd99::11',
  prefixes: ['10.99.0.11/24', 'fd99::11/64'], mtu: 1500,
};
const own = dualLease('10.244.1.0/24', '10.99.0.11', 'fd00:10:244:1::/64', 'fd99::11', 'vxlan', ['0a:00:00:00:00:01', '0a:00:00:00:06:01']);
const peer = dualLease('10.244.2.0/24', '10.99.0.12', 'fd00:10:244:2::/64', 'fd99::12', 'vxlan', ['0a:00:00:00:00:02', '0a:00:00:00:06:02']);

describe('dual-stack backends', () => {
  it('vxlan programs a flannel-v6 device and the IPv6 neighbour, FDB entry and route per peer', () => {
    const backend = new VxlanBackend(external, parseVxlanOptions({}), '0a:00:00:00:00:01', '0a:00:00:00:06:01');
    expect(backend.mtu).toBe(1430);
    expect(backend.backendV6Data).toEqual({ VNI: 1, VtepMAC: '0a:00:00:00:06:01' });
    const desired = backend.desired(own, [own, peer]);
    expect(desired.links.map((l) => [l.name, l.mtu, l.kind === 'vxlan' ? l.local : ''])).toEqual([['flannel.1', 1450, '10.99.0.11'], ['flannel-v6.1', 1430, 'fd99::11']]);
    expect(desired.addresses).toEqual([{ dev: 'flannel.1', cidr: '10.244.1.0/32' }, { dev: 'flannel-v6.1', cidr: 'fd00:10:244:1::/128', nodad: true }]);
    expect(desired.neighbours).toContainEqual({ dev: 'flannel-v6.1', address: 'fd00:10:244:2::', mac: '0a:00:00:00:06:02' });
    expect(desired.fdb).toContainEqual({ dev: 'flannel-v6.1', mac: '0a:00:00:00:06:02', dst: 'fd99::12' });
    expect(desired.routes).toContainEqual({ dst: 'fd00:10:244:2::/64', via: 'fd00:10:244:2::', dev: 'flannel-v6.1', onlink: true, protocol: FLANNEL_ROUTE_PROTOCOL });
    expect(desired.routes).toHaveLength(2);
  });

  it('vxlan without an IPv6 VTEP MAC stays IPv4-only', () => {
    const desired = new VxlanBackend(external, parseVxlanOptions({}), '0a:00:00:00:00:01').desired(own, [own, peer]);
    expect(desired.links.map((l) => l.name)).toEqual(['flannel.1']);
    expect(desired.routes.map((r) => r.dst)).toEqual(['10.244.2.0/24']);
  });

  it('host-gw routes both families via the peer\'s addresses and refuses an off-link IPv6 peer', () => {
    const hostGwOwn = dualLease('10.244.1.0/24', '10.99.0.11', 'fd00:10:244:1::/64', 'fd99::11', 'host-gw');
    const far = dualLease('10.244.3.0/24', '10.99.0.13', 'fd00:10:244:3::/64', 'fd98::13', 'host-gw');
    const near = dualLease('10.244.2.0/24', '10.99.0.12', 'fd00:10:244:2::/64', 'fd99::12', 'host-gw');
    const desired = new HostGwBackend(external).desired(hostGwOwn, [hostGwOwn, near, far]);
    expect(desired.routes.map((r) => `${r.dst} via ${r.via}`)).toEqual([
      '10.244.2.0/24 via 10.99.0.12', '10.244.3.0/24 via 10.99.0.13', 'fd00:10:244:2::/64 via fd99::12',
    ]);
    expect(desired.refusals.map((r) => r.reason)).toEqual([
      'host-gw: peer fd98::13 (subnet fd00:10:244:3::/64) is not on-link for eth0 (fd99::11/64); host-gw needs every node on one L2 segment, use the vxlan backend across subnets',
    ]);
  });

  it('masquerade rules for IPv6 go to ip6 flannel-ipv6 and spare ff00::/8', () => {
    const set = flannelRuleSet({ network: Cidr.parse('fd00:10:244::/56', 'n', 6), podCidr: Cidr.parse('fd00:10:244:1::/64', 'p', 6), ipMasq: true })!;
    expect(set).toMatchObject({ name: 'flannel-ipv6', family: 6 });
    expect(set.chains[0].rules[4]).toMatchObject({ saddr: { cidr: 'fd00:10:244::/56' }, daddr: { cidr: 'ff00::/8', not: true }, verdict: 'masquerade' });
  });
});
