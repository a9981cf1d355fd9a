import {
  FLANNEL_AGENT, FlannelBackend, FlannelDatastore, flannelAgentArgs, flannelCniConfList, flannelNetConf, resolveFlannelNetwork,
} from '../../../lib/model/flannel';

describe('flannelNetConf', () => {
  test('writes every default out in flannel\'s shape', () => {
    expect(flannelNetConf(resolveFlannelNetwork())).toEqual({
      Network: '10.244.0.0/16', EnableIPv4: true, EnableIPv6: false, EnableNFTables: false,
      SubnetLen: 24, SubnetMin: '10.244.1.0', SubnetMax: '10.244.255.0',
      Backend: { Type: 'vxlan', VNI: 1, Port: 8472, DirectRouting: false, GBP: false },
    });
  });

  test('dual-stack VXLAN with direct routing and a known uplink MTU', () => {
    const network = resolveFlannelNetwork({
      podNetwork: '10.42.0.0/16', podNetworkV6: 'fd00:42::/56', serviceNetworkV6: 'fd00:43::/112',
      backend: FlannelBackend.vxlan({ vni: 4096, port: 4789, directRouting: true, gbp: true, mtu: 9000 }),
    });
    expect(flannelNetConf(network)).toEqual({
      Network: '10.42.0.0/16', IPv6Network: 'fd00:42::/56', EnableIPv4: true, EnableIPv6: true, EnableNFTables: false,
      SubnetLen: 24, SubnetMin: '10.42.1.0', SubnetMax: '10.42.255.0',
      IPv6SubnetLen: 64, IPv6SubnetMin: 'fd00:42:0:1::', IPv6SubnetMax: 'fd00:42:0:ff::',
      Backend: { Type: 'vxlan', VNI: 4096, Port: 4789, DirectRouting: true, GBP: true, MTU: 9000 },
    });
  });

  test('IPv6-only, host-gw and wireguard backends', () => {
    const v6 = flannelNetConf(resolveFlannelNetwork({ enableIpv4: false, podNetworkV6: 'fd00::/56', backend: FlannelBackend.hostGw() }));
    expect(v6).toEqual({
      IPv6Network: 'fd00::/56', EnableIPv4: false, EnableIPv6: true, EnableNFTables: false,
      IPv6SubnetLen: 64, IPv6SubnetMin: 'fd00:0:0:1::', IPv6SubnetMax: 'fd00:0:0:ff::', Backend: { Type: 'host-gw' },
    });
    const wg = flannelNetConf(resolveFlannelNetwork({ backend: FlannelBackend.wireGuard({ pskSecretName: 'psk', persistentKeepaliveSeconds: 25 }) }));
    expect(wg.Backend).toEqual({
      Type: 'wireguard', ListenPort: 51820, ListenPortV6: 51821, PersistentKeepaliveInterval: 25, Mode: 'separate',
      PSKFile: '/etc/cnikit/wireguard/psk',
    });
  });
});

describe('flannelAgentArgs', () => {
  test('Kubernetes API mode with masquerade', () => {
    expect(flannelAgentArgs(resolveFlannelNetwork())).toEqual([
      '--net-config-path=/etc/cnikit-flannel/net-conf.json', '--subnet-file=/run/cnikit-flannel/subnet.env',
      '--state-dir=/run/cnikit-flannel', '--healthz-port=8081', '--ip-masq', '--kube-subnet-mgr',
    ]);
  });

  test('etcd mode with TLS, no masquerade, interface regexes', () => {
    const network = resolveFlannelNetwork({
      masquerade: false, interfaceRegex: ['^eth[0-9]+$', '^ens'],
      datastore: FlannelDatastore.etcd({ endpoints: ['https://10.0.0.10:2379', 'https://10.0.0.11:2379'], keyPrefix: '/cnikit/network', tlsSecretName: 'etcd-client' }),
    });
    expect(flannelAgentArgs(network)).toEqual([
      '--net-config-path=/etc/cnikit-flannel/net-conf.json', '--subnet-file=/run/cnikit-flannel/subnet.env', '--state-dir=/run/cnikit-flannel', '--healthz-port=8081',
      '--etcd-endpoints=https://10.0.0.10:2379,https://10.0.0.11:2379', '--etcd-prefix=/cnikit/network',
      '--etcd-cafile=/etc/cnikit/etcd-tls/ca.crt', '--etcd-certfile=/etc/cnikit/etcd-tls/tls.crt',
      '--etcd-keyfile=/etc/cnikit/etcd-tls/tls.key', '--iface-regex=^eth[0-9]+$', '--iface-regex=^ens',
    ]);
    expect(flannelAgentArgs(resolveFlannelNetwork({ interfaceName: 'eth1' }))).toContain('--iface=eth1');
    expect(flannelAgentArgs(resolveFlannelNetwork({ interfaceCanReach: '10.0.0.1' }))).toContain('--iface-can-reach=10.0.0.1');
  });
});

test('the CNI conflist chains the kit\'s plugin (flannel NetConf keys) and portmap', () => {
  expect(flannelCniConfList()).toEqual({
    cniVersion: '1.0.0',
    name: 'cnikit-flannel',
    plugins: [
      { type: 'cnikit-flannel', subnetFile: FLANNEL_AGENT.subnetFile, dataDir: '/var/lib/cni/cnikit-flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  });
});
