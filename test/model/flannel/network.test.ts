import {
  FlannelBackend, FlannelDatastore, FlannelNetworkSpec, WireGuardMode, defaultSubnetLength, podMtu, resolveFlannelNetwork,
} from '../../../lib/model/flannel';
import { ValidationError } from '../../../lib/model/errors';

const etcd = FlannelDatastore.etcd({ endpoints: ['https://10.0.0.10:2379'] });

describe('resolveFlannelNetwork defaults', () => {
  test('an empty spec is flannel\'s stock network: 10.244.0.0/16 in /24s, vxlan VNI 1 port 8472, Kubernetes API, masquerade', () => {
    const network = resolveFlannelNetwork();
    expect(network.ipv4).toEqual({
      family: 4, network: '10.244.0.0/16', subnetLength: 24, subnetMin: '10.244.1.0', subnetMax: '10.244.255.0',
      subnetCount: 256, nodeCapacity: 256, podsPerNode: 253,
    });
    expect(network.ipv6).toBeUndefined();
    expect(network.backend).toEqual({ type: 'vxlan', vni: 1, port: 8472, directRouting: false, gbp: false, encapsulationOverheadBytes: 50 });
    expect(network.datastore).toEqual({ type: 'kubernetes-api' });
    expect(network.masquerade).toBe(true);
    expect(network.nftables).toBe(false);
    expect(network.serviceNetwork).toBe('10.96.0.0/12');
    expect(network.podMtu).toBeUndefined();
  });

  test('the default subnet length follows flannel: 24 for /22 and larger, else prefix + 2 (64 / prefix + 2 for IPv6)', () => {
    expect(defaultSubnetLength(4, 16)).toBe(24);
    expect(defaultSubnetLength(4, 22)).toBe(24);
    expect(defaultSubnetLength(4, 23)).toBe(25);
    expect(defaultSubnetLength(6, 56)).toBe(64);
    expect(defaultSubnetLength(6, 62)).toBe(64);
    expect(defaultSubnetLength(6, 63)).toBe(65);
    expect(resolveFlannelNetwork({ podNetwork: '10.1.0.0/26' }).ipv4?.subnetLength).toBe(28);
  });

  test('the etcd datastore skips the first subnet: a /16 in /24s holds 255 nodes, the Kubernetes API 256', () => {
    expect(resolveFlannelNetwork({ datastore: etcd }).nodeCapacity).toBe(255);
    expect(resolveFlannelNetwork({ datastore: etcd, expectedNodeCount: 255 }).expectedNodeCount).toBe(255);
    expect(resolveFlannelNetwork({ expectedNodeCount: 256 }).nodeCapacity).toBe(256);
    const bounded = resolveFlannelNetwork({ datastore: etcd, subnetMin: '10.244.16.0', subnetMax: '10.244.31.0' });
    expect(bounded.nodeCapacity).toBe(16);
    expect(bounded.datastore).toEqual({ type: 'etcd', endpoints: ['https://10.0.0.10:2379'], keyPrefix: '/coreos.com/network' });
  });

  test('dual-stack: the IPv6 family resolves with /64 subnets and capacity is the smaller family\'s', () => {
    const network = resolveFlannelNetwork({ podNetwork: '10.244.0.0/20', podNetworkV6: 'fd00:10:244::/56', serviceNetworkV6: 'fd00:10:96::/112' });
    expect(network.ipv6).toEqual({
      family: 6, network: 'fd00:10:244::/56', subnetLength: 64, subnetMin: 'fd00:10:244:1::', subnetMax: 'fd00:10:244:ff::',
      subnetCount: 256, nodeCapacity: 256, podsPerNode: Number((1n << 64n) - 2n),
    });
    expect(network.nodeCapacity).toBe(16);
  });

  test('IPv6-only', () => {
    const network = resolveFlannelNetwork({ enableIpv4: false, podNetworkV6: 'fd00:10:244::/48' });
    expect(network.ipv4).toBeUndefined();
    expect(network.ipv6?.subnetCount).toBe(65536);
  });

  test('pod MTU is the uplink MTU minus the encapsulation overhead', () => {
    expect(podMtu(1500, 50)).toBe(1450);
    expect(resolveFlannelNetwork({ backend: FlannelBackend.vxlan({ mtu: 9001 }) }).podMtu).toBe(8951);
    expect(resolveFlannelNetwork({ backend: FlannelBackend.hostGw() }).encapsulationOverheadBytes).toBe(0);
    expect(resolveFlannelNetwork({ backend: FlannelBackend.wireGuard() }).encapsulationOverheadBytes).toBe(80);
  });

  test('wireguard options default as flannel', () => {
    expect(resolveFlannelNetwork({ backend: FlannelBackend.wireGuard({ pskSecretName: 'wg-psk' }) }).backend).toEqual({
      type: 'wireguard', listenPort: 51820, listenPortV6: 51821, pskSecretName: 'wg-psk', persistentKeepaliveSeconds: 0,
      mode: WireGuardMode.SEPARATE, encapsulationOverheadBytes: 80,
    });
  });
});

// Every bad input gets one line naming the field, the bad value and what is expected.
const badInputs: [string, FlannelNetworkSpec, string][] = [
  ['invalid CIDR', { podNetwork: '10.244.0.0/33' },
    'flannel.podNetwork: "10.244.0.0/33" is not valid; expected an IPv4 CIDR such as 10.244.0.0/16'],
  ['host bits set', { podNetwork: '10.244.0.1/16' },
    'flannel.podNetwork: "10.244.0.1/16" is not valid; expected a network address (host bits zero), e.g. 10.244.0.0/16'],
  ['IPv6 CIDR as IPv4 pod network', { podNetwork: 'fd00::/56' },
    'flannel.podNetwork: "fd00::/56" is not valid; expected an IPv4 CIDR such as 10.244.0.0/16'],
  ['pod network too small', { podNetwork: '10.244.0.0/29' },
    'flannel.podNetwork: "10.244.0.0/29" is not valid; expected a network of /28 or larger (room for at least 4 node subnets)'],
  ['subnet too small', { subnetLength: 31 },
    'flannel.subnetLength: 31 is not valid; expected an integer from 18 to 30: at least 4 subnets of 10.244.0.0/16, each with room for pods'],
  ['subnet as large as the network', { podNetwork: '10.0.0.0/24', subnetLength: 24 },
    'flannel.subnetLength: 24 is not valid; expected an integer from 26 to 30: at least 4 subnets of 10.0.0.0/24, each with room for pods'],
  ['too many nodes for a /16 in /24s', { expectedNodeCount: 400 },
    'flannel.expectedNodeCount: 400 is not valid; expected at most 256: 10.244.0.0/16 split into /24 subnets holds 256 node subnets'],
  ['etcd mode skips the first subnet', { datastore: etcd, expectedNodeCount: 256 },
    'flannel.expectedNodeCount: 256 is not valid; expected at most 255: 10.244.0.0/16 split into /24 subnets holds 256 node subnets, 255 of them between subnetMin 10.244.1.0 and subnetMax 10.244.255.0 (etcd datastore)'],
  ['pod network overlaps the service network', { podNetwork: '10.96.0.0/16' },
    'flannel.podNetwork: "10.96.0.0/16" is not valid; expected a range that does not overlap flannel.serviceNetwork (10.96.0.0/12)'],
  ['pod network overlaps the node network', { nodeNetwork: '10.0.0.0/8' },
    'flannel.podNetwork: "10.244.0.0/16" is not valid; expected a range that does not overlap flannel.nodeNetwork (10.0.0.0/8)'],
  ['IPv6 pod network overlaps the IPv6 service network', { podNetworkV6: 'fd00:10:244::/56', serviceNetworkV6: 'fd00:10:244::/108' },
    'flannel.podNetworkV6: "fd00:10:244::/56" is not valid; expected a range that does not overlap flannel.serviceNetworkV6 (fd00:10:244::/108)'],
  ['IPv6 subnet length without an IPv6 network', { subnetLengthV6: 64 },
    'flannel.subnetLengthV6: 64 is an IPv6 option, but IPv6 is not enabled: set flannel.podNetworkV6'],
  ['IPv6 service network without an IPv6 network', { serviceNetworkV6: 'fd00:10:96::/112' },
    'flannel.serviceNetworkV6: "fd00:10:96::/112" is an IPv6 option, but IPv6 is not enabled: set flannel.podNetworkV6'],
  ['no family at all', { enableIpv4: false },
    'flannel.podNetworkV6: (unset) is not valid; expected an IPv6 pod network when flannel.enableIpv4 is false'],
  ['IPv4 option with IPv4 disabled', { enableIpv4: false, podNetworkV6: 'fd00::/56', subnetLength: 24 },
    'flannel.subnetLength: 24 needs IPv4, but flannel.enableIpv4 is false'],
  ['subnetMin with the Kubernetes API datastore', { subnetMin: '10.244.1.0' },
    'flannel.subnetMin: "10.244.1.0" only applies to the etcd datastore (with the Kubernetes API, kube-controller-manager allocates node subnets)'],
  ['misaligned subnetMin', { datastore: etcd, subnetMin: '10.244.1.7' },
    'flannel.subnetMin: "10.244.1.7" is not valid; expected the network address of a /24 subnet inside 10.244.0.0/16'],
  ['subnetMin above subnetMax', { datastore: etcd, subnetMin: '10.244.9.0', subnetMax: '10.244.8.0' },
    'flannel.subnetMin: "10.244.9.0" is not valid; expected a subnet not above flannel.subnetMax (10.244.8.0)'],
  ['VNI out of range', { backend: FlannelBackend.vxlan({ vni: 16777216 }) },
    'flannel.backend.vni: 16777216 is not valid; expected an integer from 1 to 16777215'],
  ['VNI zero', { backend: FlannelBackend.vxlan({ vni: 0 }) },
    'flannel.backend.vni: 0 is not valid; expected an integer from 1 to 16777215'],
  ['VXLAN port out of range', { backend: FlannelBackend.vxlan({ port: 70000 }) },
    'flannel.backend.port: 70000 is not valid; expected an integer from 1 to 65535'],
  ['VXLAN MTU too small for IPv6 pods', { podNetworkV6: 'fd00::/56', backend: FlannelBackend.vxlan({ mtu: 1300 }) },
    'flannel.backend.mtu: 1300 is not valid; expected an integer from 1330 to 65535 bytes (pods get 50 less, at least 1280)'],
  ['unknown VXLAN option (JavaScript caller)', { backend: FlannelBackend.vxlan({ directrouting: true } as never) },
    'flannel.backend.directrouting: "directrouting" is not valid; expected an option of the vxlan backend: vni, port, mtu, directRouting, gbp'],
  ['directRouting with host-gw (JavaScript caller)', { backend: FlannelBackend.hostGw({ directRouting: true } as never) },
    'flannel.backend.directRouting: "directRouting" is not valid; expected no options for the host-gw backend'],
  ['VXLAN option on wireguard (JavaScript caller)', { backend: FlannelBackend.wireGuard({ vni: 2 } as never) },
    'flannel.backend.vni: "vni" is not valid; expected an option of the wireguard backend: listenPort, listenPortV6, pskSecretName, persistentKeepaliveSeconds, mode'],
  ['wireguard ports collide in separate mode', { podNetworkV6: 'fd00::/56', backend: FlannelBackend.wireGuard({ listenPort: 51820, listenPortV6: 51820 }) },
    'flannel.backend.listenPortV6: 51820 equals flannel.backend.listenPort: the IPv4 and IPv6 WireGuard devices of mode separate need different ports'],
  ['unknown wireguard mode', { backend: FlannelBackend.wireGuard({ mode: 'both' as never }) },
    'flannel.backend.mode: "both" is not valid; expected one of separate, auto, ipv4, ipv6'],
  ['backend that is not a FlannelBackend', { backend: { type: 'vxlan' } as never },
    'flannel.backend: {"type":"vxlan"} is not valid; expected a FlannelBackend: FlannelBackend.vxlan(), .hostGw() or .wireGuard()'],
  ['etcd without endpoints', { datastore: FlannelDatastore.etcd({ endpoints: [] }) },
    'flannel.datastore.endpoints: [] is not valid; expected a non-empty list of etcd client URLs such as https://10.0.0.10:2379'],
  ['etcd endpoint without a port', { datastore: FlannelDatastore.etcd({ endpoints: ['https://etcd.local'] }) },
    'flannel.datastore.endpoints[0]: "https://etcd.local" is not valid; expected an etcd client URL such as https://10.0.0.10:2379 (http or https, host and port, no path)'],
  ['etcd TLS over http', { datastore: FlannelDatastore.etcd({ endpoints: ['http://10.0.0.10:2379'], tlsSecretName: 'etcd-client' }) },
    'flannel.datastore.endpoints[0]: "http://10.0.0.10:2379" uses http, but flannel.datastore.tlsSecretName asks for TLS client certificates: use https'],
  ['etcd key prefix with a trailing slash', { datastore: FlannelDatastore.etcd({ endpoints: ['https://10.0.0.10:2379'], keyPrefix: '/cnikit/' }) },
    'flannel.datastore.keyPrefix: "/cnikit/" is not valid; expected an etcd key prefix such as /coreos.com/network (starts with "/", no trailing "/")'],
  ['two interface selections', { interfaceName: 'eth0', interfaceCanReach: '10.0.0.1' },
    'flannel.interfaceCanReach: "10.0.0.1" conflicts with flannel.interfaceName: choose one way to select the interface'],
  ['interface name too long', { interfaceName: 'a-very-long-interface' },
    'flannel.interfaceName: "a-very-long-interface" is not valid; expected a Linux interface name (1 to 15 characters, no space, "/" or ":")'],
  ['invalid interface regex', { interfaceRegex: ['eth[0-9'] },
    'flannel.interfaceRegex[0]: "eth[0-9" is not valid; expected a regular expression such as "^(eth|ens)[0-9]+$"'],
  ['can-reach that is no address', { interfaceCanReach: '10.0.0.0/8' },
    'flannel.interfaceCanReach: "10.0.0.0/8" is not valid; expected an IP address such as 10.0.0.1'],
  ['misspelled field (JavaScript caller)', { podnetwork: '10.0.0.0/8' } as never,
    'flannel.podnetwork: "podnetwork" is not valid; expected a field of the Flannel-style network: enableIpv4, podNetwork, subnetLength, subnetMin, subnetMax, podNetworkV6, subnetLengthV6, subnetMinV6, subnetMaxV6, backend, datastore, masquerade, nftables, interfaceName, interfaceRegex, interfaceCanReach, expectedNodeCount, serviceNetwork, serviceNetworkV6, nodeNetwork, nodeNetworkV6'],
  ['negative node count', { expectedNodeCount: -1 },
    `flannel.expectedNodeCount: -1 is not valid; expected an integer from 1 to ${Number.MAX_SAFE_INTEGER}`],
];

describe('resolveFlannelNetwork rejects bad input with one line', () => {
  test.each(badInputs)('fails on %s', (_name, spec, message) => {
    let error: unknown;
    try {
      resolveFlannelNetwork(spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe(message);
    expect((error as Error).message).not.toContain('\n');
  });
});
