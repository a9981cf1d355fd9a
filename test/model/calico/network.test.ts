import { IpAutodetection } from '../../../lib/model/calico/autodetection';
import { isPeerAddress } from '../../../lib/model/calico/bgp';
import { Encapsulation, Mtu } from '../../../lib/model/calico/mtu';
import { CalicoNetworkSpec, resolveCalicoNetwork } from '../../../lib/model/calico/network';
import { EncapsulationMode, PoolUse, blockName } from '../../../lib/model/calico/pool';
import { TyphaMode, typhaReplicasFor } from '../../../lib/model/calico/typha';
import { Cidr } from '../../../lib/model/cidr';
import { ValidationError } from '../../../lib/model/errors';

const vxlanPool = { name: 'pods', cidr: '10.244.0.0/16', vxlanMode: EncapsulationMode.CROSS_SUBNET };

function failure(spec: CalicoNetworkSpec): string {
  try {
    resolveCalicoNetwork(spec);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    return message;
  }
  throw new Error('expected a validation error');
}

describe('defaults follow the upstream manifest', () => {
  const n = resolveCalicoNetwork();
  test('one IPv4 pool 192.168.0.0/16, /26 blocks, IPIP Always, NAT outgoing', () => {
    expect(n.pools).toHaveLength(1);
    const p = n.pools[0];
    expect([p.name, p.cidr.toString(), p.blockSize, p.ipipMode, p.vxlanMode, p.natOutgoing, p.nodeSelector.toString()])
      .toEqual(['default-ipv4-ippool', '192.168.0.0/16', 26, 'Always', 'Never', true, 'all()']);
    expect(p.allowedUses).toEqual(['Workload', 'Tunnel']);
  });
  test('BGP on, AS 64512, mesh on, port 179; auto MTU; first-found; no Typha for 3 nodes', () => {
    expect(n.bgp).toMatchObject({ enabled: true, asNumber: 64512, nodeMesh: true, listenPort: 179 });
    expect(n.networkingBackend).toBe('bird');
    expect(n.podMtu).toBe(0);
    expect(n.encapsulation).toBe(Encapsulation.IPIP);
    expect(n.ipAutodetection).toBe('first-found');
    expect(n.typha).toEqual({ enabled: false, replicas: 0 });
    expect(n.felix).toEqual({
      healthPort: 9099, vxlanPort: 4789, vxlanVni: 4096, vxlanMtu: 0, vxlanMtuV6: 0, defaultEndpointToHostAction: 'Accept', logSeverity: 'Info',
      prometheusMetricsEnabled: false, prometheusMetricsPort: 9091, routeRefreshIntervalSeconds: 90, policyRefreshIntervalSeconds: 180,
    });
  });
  test('IPv6 pools default to /122 blocks and no NAT', () => {
    const v6 = resolveCalicoNetwork({ pools: [{ name: 'v6', cidr: 'fd00:10:244::/48' }] });
    expect(v6.pools[0]).toMatchObject({ blockSize: 122, natOutgoing: false, family: 6 });
    expect(v6.families).toEqual([6]);
  });
  test('route refresh is at least 1 s (the agent\'s liveness counts refresh periods); policy refresh may be 0 (none)', () => {
    expect(() => resolveCalicoNetwork({ felixRouteRefreshIntervalSeconds: 0 })).toThrow('calico.felixRouteRefreshIntervalSeconds: 0 is not valid; expected a number of seconds from 1 to 86400');
    expect(resolveCalicoNetwork({ felixPolicyRefreshIntervalSeconds: 0 }).felix.policyRefreshIntervalSeconds).toBe(0);
  });
});

describe('Typha', () => {
  test.each<[number, number]>([[1, 1], [2, 1], [3, 2], [4, 2], [5, 3], [50, 3], [51, 3], [200, 3], [400, 4], [1000, 7], [3600, 20], [10000, 20]])(
    '%i nodes → %i replicas', (nodes, replicas) => {
      expect(typhaReplicasFor(nodes)).toBe(replicas);
    });
  test('auto: off at the 50-node threshold, on above it with at least 3 replicas', () => {
    expect(resolveCalicoNetwork({ nodeCount: 50 }).typha).toEqual({ enabled: false, replicas: 0 });
    expect(resolveCalicoNetwork({ nodeCount: 51 }).typha).toEqual({ enabled: true, replicas: 3 });
    expect(resolveCalicoNetwork({ nodeCount: 800 }).typha).toEqual({ enabled: true, replicas: 6 });
  });
  test('threshold, forced modes and explicit replicas', () => {
    expect(resolveCalicoNetwork({ nodeCount: 20, typhaNodeThreshold: 10 }).typha.enabled).toBe(true);
    expect(resolveCalicoNetwork({ nodeCount: 2, typha: TyphaMode.ENABLED }).typha).toEqual({ enabled: true, replicas: 1 });
    expect(resolveCalicoNetwork({ nodeCount: 500, typha: TyphaMode.DISABLED }).typha.enabled).toBe(false);
    expect(resolveCalicoNetwork({ nodeCount: 500, typhaReplicas: 5 }).typha.replicas).toBe(5);
  });
});

describe('MTU', () => {
  test.each<[CalicoNetworkSpec, number]>([
    [{ mtu: Mtu.fromLinkMtu(1500) }, 1480],
    [{ mtu: Mtu.fromLinkMtu(1500), pools: [vxlanPool], bgpEnabled: false }, 1450],
    [{ mtu: Mtu.fromLinkMtu(9001), pools: [{ name: 'p', cidr: '10.0.0.0/16' }] }, 9001],
    [{ mtu: Mtu.fromLinkMtu(1500), pools: [{ name: 'p', cidr: 'fd00::/48', vxlanMode: EncapsulationMode.ALWAYS }] }, 1430],
  ])('explicit link MTU minus the encapsulation overhead (%#)', (spec, mtu) => {
    expect(resolveCalicoNetwork(spec).podMtu).toBe(mtu);
  });
  test('Felix\'s vxlanMTU: the pod MTU when the link MTU is known and an IPv4 pool uses VXLAN, else 0 (detected on the node)', () => {
    expect(resolveCalicoNetwork({ mtu: Mtu.fromLinkMtu(1500), pools: [vxlanPool], bgpEnabled: false }).felix.vxlanMtu).toBe(1450);
    expect(resolveCalicoNetwork({ pools: [vxlanPool], bgpEnabled: false }).felix.vxlanMtu).toBe(0);
    expect(resolveCalicoNetwork({ mtu: Mtu.fromLinkMtu(1500) }).felix.vxlanMtu).toBe(0);
    expect(resolveCalicoNetwork({ mtu: Mtu.fromLinkMtu(1500), pools: [{ name: 'p', cidr: 'fd00::/48', vxlanMode: EncapsulationMode.ALWAYS }] }).felix.vxlanMtu).toBe(0);
    // Per device, as Felix: IPv6 VXLAN gets vxlanMTUV6 (link − 70); dual-stack VXLAN renders both, pods get the smaller.
    const v6Only = resolveCalicoNetwork({ mtu: Mtu.fromLinkMtu(1500), pools: [{ name: 'p', cidr: 'fd00::/48', vxlanMode: EncapsulationMode.ALWAYS }] });
    expect(v6Only.felix.vxlanMtuV6).toBe(1430);
    const dual = resolveCalicoNetwork({
      mtu: Mtu.fromLinkMtu(1500), bgpEnabled: false,
      pools: [vxlanPool, { name: 'p6', cidr: 'fd00::/48', vxlanMode: EncapsulationMode.CROSS_SUBNET }],
    });
    expect([dual.felix.vxlanMtu, dual.felix.vxlanMtuV6, dual.podMtu]).toEqual([1450, 1430, 1430]);
    expect(resolveCalicoNetwork({ pools: [vxlanPool, { name: 'p6', cidr: 'fd00::/48', vxlanMode: EncapsulationMode.ALWAYS }], bgpEnabled: false }).felix.vxlanMtuV6).toBe(0);
  });
  test('fails on a link MTU out of range', () => {
    expect(() => Mtu.fromLinkMtu(100)).toThrow('calico.mtu: 100 is not valid; expected a link MTU from 1280 to 65535 bytes');
  });
});

describe('VXLAN-only networking', () => {
  test('every pool VXLAN → BGP off, vxlan backend', () => {
    const n = resolveCalicoNetwork({ pools: [vxlanPool] });
    expect(n.bgp.enabled).toBe(false);
    expect(n.networkingBackend).toBe('vxlan');
    expect(n.encapsulation).toBe(Encapsulation.VXLAN);
  });
});

describe('route reflectors', () => {
  test('add a peering from all nodes to the reflectors and turn the mesh off', () => {
    const n = resolveCalicoNetwork({ bgpRouteReflectorSelector: "route-reflector == 'true'" });
    expect(n.bgp.nodeMesh).toBe(false);
    expect(n.bgp.routeReflector?.clusterId).toBe('244.0.0.1');
    const rr = n.bgp.peers.find((p) => p.name === 'cnikit-route-reflectors');
    expect(rr?.nodeSelector?.toString()).toBe('all()');
    expect(rr?.peerSelector?.toString()).toBe("route-reflector == 'true'");
  });
});

describe('bad input: one-line messages naming field, value and expectation', () => {
  test.each<[string, CalicoNetworkSpec, string]>([
    ['overlapping pools', { pools: [{ name: 'a', cidr: '10.244.0.0/16' }, { name: 'b', cidr: '10.244.128.0/17' }] },
      'calico.pools[1].cidr: "10.244.128.0/17" is not valid; expected a range that does not overlap calico.pools[0] (a, 10.244.0.0/16)'],
    ['pool overlapping the service network', { pools: [{ name: 'a', cidr: '10.96.0.0/16' }] },
      'calico.pools[0].cidr: "10.96.0.0/16" is not valid; expected a range that does not overlap the service network 10.96.0.0/12'],
    ['IPv4 block size out of range', { pools: [{ name: 'a', cidr: '10.244.0.0/16', blockSize: 19 }] },
      'calico.pools[0].blockSize: 19 is not valid; expected an integer from 20 to 32 for an IPv4 pool'],
    ['IPv6 block size out of range', { pools: [{ name: 'a', cidr: 'fd00::/48', blockSize: 112 }] },
      'calico.pools[0].blockSize: 112 is not valid; expected an integer from 116 to 128 for an IPv6 pool'],
    ['block larger than the pool', { pools: [{ name: 'a', cidr: '10.244.0.0/28', blockSize: 26 }] },
      'calico.pools[0].blockSize: 26 is not valid; expected a block no larger than the pool 10.244.0.0/28 (at least /28)'],
    ['IPIP and VXLAN both on', { pools: [{ name: 'a', cidr: '10.244.0.0/16', ipipMode: EncapsulationMode.ALWAYS, vxlanMode: EncapsulationMode.CROSS_SUBNET }] },
      'calico.pools[0].vxlanMode: "CrossSubnet" is not valid; expected Never when ipipMode is Always (a pool uses IPIP or VXLAN, not both)'],
    ['unknown pool mode', { pools: [{ name: 'a', cidr: '10.244.0.0/16', vxlanMode: 'Sometimes' as EncapsulationMode }] },
      'calico.pools[0].vxlanMode: "Sometimes" is not valid; expected one of Never, Always, CrossSubnet'],
    ['IPIP on IPv6', { pools: [{ name: 'a', cidr: 'fd00::/48', ipipMode: EncapsulationMode.ALWAYS }] },
      'calico.pools[0].ipipMode: "Always" is not valid; expected Never for an IPv6 pool'],
    ['LoadBalancer mixed with Workload', { pools: [{ name: 'a', cidr: '10.1.0.0/16', allowedUses: [PoolUse.WORKLOAD, PoolUse.LOAD_BALANCER] }] },
      'calico.pools[0].allowedUses: ["Workload","LoadBalancer"] is not valid; expected LoadBalancer on its own'],
    ['pool not a network address', { pools: [{ name: 'a', cidr: '10.244.0.1/16' }] },
      'calico.pools[0].cidr: "10.244.0.1/16" is not valid; expected a network address (host bits zero), e.g. 10.244.0.0/16'],
    ['invalid pool node selector', { pools: [{ name: 'a', cidr: '10.244.0.0/16', nodeSelector: "zone = 'a'" }] },
      'calico.pools[0].nodeSelector: "zone = \'a\'" is not a valid selector; expected an operator (==, !=, in, not in, contains, starts with, ends with) at position 5'],
    ['AS number out of range', { bgpAsNumber: 4294967296 },
      'calico.bgpAsNumber: 4294967296 is not valid; expected an AS number from 1 to 4294967295'],
    ['AS number zero', { bgpAsNumber: 0 }, 'calico.bgpAsNumber: 0 is not valid; expected an AS number from 1 to 4294967295'],
    ['peer without an AS number', { bgpPeers: [{ name: 'tor', peerIp: '10.0.0.1' }] },
      'calico.bgpPeers[0].asNumber: (unset) is not valid; expected the AS number of peer 10.0.0.1 (from 1 to 4294967295)'],
    ['peer AS out of range', { bgpPeers: [{ name: 'tor', peerIp: '10.0.0.1', asNumber: -1 }] },
      'calico.bgpPeers[0].asNumber: -1 is not valid; expected an AS number from 1 to 4294967295'],
    ['peer with neither address nor selector', { bgpPeers: [{ name: 'tor', asNumber: 65000 }] },
      'calico.bgpPeers[0].peerIp: (unset) is not valid; expected exactly one of peerIp'],
    ['peer with a bad address', { bgpPeers: [{ name: 'tor', peerIp: '10.0.0.300', asNumber: 65000 }] },
      'calico.bgpPeers[0].peerIp: "10.0.0.300" is not valid; expected an address as ip, ip:port or [ipv6]:port'],
    ['peer with an invalid node selector', { bgpPeers: [{ name: 'tor', peerIp: '10.0.0.1', asNumber: 65000, nodeSelector: 'rack ==' }] },
      'calico.bgpPeers[0].nodeSelector: "rack ==" is not a valid selector; expected a quoted value at position 7'],
    ['invalid route-reflector selector', { bgpRouteReflectorSelector: 'has(rr' },
      'calico.bgpRouteReflectorSelector: "has(rr" is not a valid selector; expected ")" after the label in has() at position 6'],
    ['bad cluster ID', { bgpRouteReflectorSelector: 'has(rr)', bgpRouteReflectorClusterId: '1.2.3' },
      'calico.bgpRouteReflectorClusterId: "1.2.3" is not valid; expected a dotted-quad cluster ID'],
    ['IPIP without BGP', { bgpEnabled: false },
      'calico.pools[0].ipipMode: "Always" is not valid; expected Never when bgpEnabled is false'],
    ['mesh off with nothing instead', { bgpNodeMesh: false },
      'calico.bgpNodeMesh: false is not valid; expected true, or route reflectors / BGP peers configured'],
    ['max blocks without strict affinity', { ipamMaxBlocksPerHost: 4 },
      'calico.ipamMaxBlocksPerHost: 4 is not valid; expected 0 unless ipamStrictAffinity is true'],
    ['MTU too small after overhead', { mtu: Mtu.fromLinkMtu(1290), pools: [{ name: 'p', cidr: 'fd00::/48', vxlanMode: EncapsulationMode.ALWAYS }] },
      'calico.mtu: 1290 is not valid; expected a link MTU leaving at least 1280 bytes after the VXLANv6 overhead'],
    ['too many typha replicas', { typhaReplicas: 21 }, 'calico.typhaReplicas: 21 is not valid; expected a replica count from 1 to 20'],
  ])('fails on %s', (_name, spec, message) => {
    expect(failure(spec)).toContain(message);
  });
});

describe('helpers', () => {
  test('IP autodetection methods render the agent syntax', () => {
    expect(IpAutodetection.interface('eth.*', 'ens.*').toString()).toBe('interface=eth.*,ens.*');
    expect(IpAutodetection.skipInterface('docker.*').toString()).toBe('skip-interface=docker.*');
    expect(IpAutodetection.cidrs('10.0.0.0/8').toString()).toBe('cidr=10.0.0.0/8');
    expect(IpAutodetection.canReach('8.8.8.8').toString()).toBe('can-reach=8.8.8.8');
    expect(IpAutodetection.kubernetesInternalIp().toString()).toBe('kubernetes-internal-ip');
    expect(() => IpAutodetection.interface('eth[')).toThrow('calico.ipAutodetection.interface[0]: "eth[" is not valid; expected a valid regular expression');
  });
  test('peer address forms', () => {
    expect(['10.0.0.1', '10.0.0.1:1179', '[fd00::1]:179', 'fd00::1'].every(isPeerAddress)).toBe(true);
    expect(['10.0.0.1:0', 'router', '[10.0.0.1]:179'].some(isPeerAddress)).toBe(false);
  });
  test('block names', () => {
    expect(blockName(Cidr.parse('100.80.6.0/26', 'b'))).toBe('100-80-6-0-26');
  });
});

describe('unknown fields (JavaScript callers, object spreads) are errors, not silently ignored', () => {
  test.each<[object, string]>([
    [{ bgpASNumber: 65000 }, 'calico.bgpASNumber: "bgpASNumber" is not valid; expected an option of the Calico-style network: pools, '],
    [{ pools: [{ name: 'a', cidr: '10.244.0.0/16', ipipmode: 'Always' }] }, 'calico.pools[0].ipipmode: "ipipmode" is not valid; expected an option of an IP pool: name, cidr'],
    [{ bgpPeers: [{ name: 'p', peerIp: '10.0.0.1', asNumber: 1, password: 'x' }] }, 'calico.bgpPeers[0].password: "password" is not valid; expected an option of a BGP peer'],
  ])('%#', (spec, message) => {
    expect(failure(spec as CalicoNetworkSpec)).toContain(message);
  });
});
