import { parseNetConf } from '../../../lib/dataplane/cni/config';
import { parseAgentConfig } from '../../../lib/dataplane/flannel/agent-config';
import { parseNetConfig } from '../../../lib/dataplane/flannel/net-config';
import {
  FLANNEL_AGENT, FlannelBackend, FlannelDatastore, FlannelNetworkSpec, flannelAgentArgs, flannelCniConfList, flannelNetConf,
  resolveFlannelNetwork,
} from '../../../lib/model/flannel';

// What the manifests ship must be what the kit's agent and CNI plugin read: the same parsers the
// executables use accept the model's net-conf.json, flags and conflist, and understand them alike.

const specs: [string, FlannelNetworkSpec][] = [
  ['stock', {}],
  ['dual-stack vxlan, etcd with TLS', {
    podNetwork: '10.128.0.0/14', podNetworkV6: 'fd00:10:128::/48', backend: FlannelBackend.vxlan({ vni: 4096, directRouting: true, mtu: 9000 }),
    datastore: FlannelDatastore.etcd({ endpoints: ['https://10.0.0.10:2379'], tlsSecretName: 'etcd-client' }),
    subnetMin: '10.128.4.0', subnetMax: '10.131.250.0', interfaceName: 'eth1',
  }],
  ['host-gw, no masquerade', { backend: FlannelBackend.hostGw(), masquerade: false, interfaceRegex: ['^ens'] }],
  ['IPv6-only', { enableIpv4: false, podNetworkV6: 'fd00::/56' }],
  ['wireguard with a pre-shared key', { backend: FlannelBackend.wireGuard({ pskSecretName: 'wg-psk', persistentKeepaliveSeconds: 25 }) }],
];

test.each(specs)('the agent reads the %s network as the model resolved it', (_name, spec) => {
  const network = resolveFlannelNetwork(spec);
  const parsed = parseNetConfig(JSON.stringify(flannelNetConf(network)));
  expect(parsed.ipv4?.network.toString()).toBe(network.ipv4?.network);
  expect(parsed.ipv4?.subnetLen).toBe(network.ipv4?.subnetLength);
  expect(parsed.ipv4?.subnetMin.address()).toBe(network.ipv4?.subnetMin);
  expect(parsed.ipv4?.subnetMax.address()).toBe(network.ipv4?.subnetMax);
  expect(parsed.ipv6?.network.toString()).toBe(network.ipv6?.network);
  expect(parsed.ipv6?.subnetLen).toBe(network.ipv6?.subnetLength);
  expect(parsed.backend.type).toBe(network.backend.type);

  const config = parseAgentConfig(flannelAgentArgs(network), { NODE_NAME: 'node-1' });
  expect(config.netConfigPath).toBe(FLANNEL_AGENT.netConfPath);
  expect(config.subnetFile).toBe(FLANNEL_AGENT.subnetFile);
  expect(config.stateDir).toBe(FLANNEL_AGENT.stateDir);
  expect(config.ipMasq).toBe(network.masquerade);
  expect(config.datastore.kind).toBe(network.datastore.type === 'etcd' ? 'etcd' : 'kubernetes');
});

test('the CNI plugin reads the conflist\'s plugin entry with the agent\'s subnet file', () => {
  const conflist = flannelCniConfList();
  const conf = parseNetConf(JSON.stringify({ cniVersion: conflist.cniVersion, name: conflist.name, ...conflist.plugins[0] }));
  expect(conf.subnetFile).toBe(FLANNEL_AGENT.subnetFile);
  expect(conf.dataDir).toBe('/var/lib/cni/cnikit-flannel');
});
