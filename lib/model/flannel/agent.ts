import { FlannelDatastoreType } from './datastore';
import { ResolvedFlannelNetwork } from './network';

/**
 * The contract between the Flannel-style manifests and the agent and CNI plugin they run: where
 * files are, which flags the agent gets (flanneld's names), what the CNI plugin is called.
 */
export const FLANNEL_AGENT = {
  /** ConfigMap mount in the agent and installer containers. */
  configDir: '/etc/cnikit-flannel',
  /** net-conf.json, in flannel's shape (`flannelNetConf`). */
  netConfPath: '/etc/cnikit-flannel/net-conf.json',
  /** The CNI conflist as shipped in the ConfigMap (copied onto the host by the installer). */
  cniConfSourcePath: '/etc/cnikit-flannel/cni-conf.json',
  /** Host directory the agent writes its state into (shared with the CNI plugin). */
  runDir: '/run/cnikit-flannel',
  /** State kept across agent restarts (the VXLAN device's MAC), on the host like the subnet file. */
  stateDir: '/run/cnikit-flannel',
  /** The agent writes the node's lease here; the CNI plugin reads it (flannel's subnet.env format). */
  subnetFile: '/run/cnikit-flannel/subnet.env',
  /** Where the etcd client certificate Secret is mounted (outside configDir: a ConfigMap volume is read-only, so nothing can be mounted inside it) (`ca.crt`, `tls.crt`, `tls.key`). */
  etcdTlsDir: '/etc/cnikit/etcd-tls',
  /** Where the WireGuard pre-shared key Secret is mounted (key `psk`). */
  wireGuardPskDir: '/etc/cnikit/wireguard',
  /** `/healthz` (alive) and `/readyz` (rules in place and subnet file written) on the node's addresses. */
  healthPort: 8081,
  /** The executable name of the agent in its image. */
  executable: 'cnikit-flannel-agent',
} as const;

/** The CNI side: plugin name (= binary in /opt/cni/bin), conflist file, network name. */
export const FLANNEL_CNI = {
  /** The plugin binary's name on the host and its `type` in the conflist. */
  pluginType: 'cnikit-flannel',
  /** The plugin's bundle in the cni-plugin image (apps/cni-plugin.ts), which the installer copies to the host. */
  bundle: 'cni-plugin.js',
  /** The conflist's file name in /etc/cni/net.d (sorted first among typical files, as flannel's 10-). */
  confFileName: '10-cnikit-flannel.conflist',
  /** The network name (also the IPAM store's directory name). */
  networkName: 'cnikit-flannel',
  cniVersion: '1.0.0',
  /** Where the plugin keeps per-container state (flannel's `dataDir`). */
  dataDir: '/var/lib/cni/cnikit-flannel',
} as const;

/** The agent's command-line flags for a resolved network (flanneld's flag names, so its docs apply). */
export function flannelAgentArgs(network: ResolvedFlannelNetwork): string[] {
  const args = [
    `--net-config-path=${FLANNEL_AGENT.netConfPath}`,
    `--subnet-file=${FLANNEL_AGENT.subnetFile}`,
    `--state-dir=${FLANNEL_AGENT.stateDir}`,
    `--healthz-port=${FLANNEL_AGENT.healthPort}`,
  ];
  if (network.masquerade) args.push('--ip-masq');
  const datastore = network.datastore;
  if (datastore.type === FlannelDatastoreType.KUBERNETES_API) {
    args.push('--kube-subnet-mgr');
  } else {
    args.push(`--etcd-endpoints=${datastore.endpoints.join(',')}`, `--etcd-prefix=${datastore.keyPrefix}`);
    if (datastore.tlsSecretName !== undefined) {
      args.push(`--etcd-cafile=${FLANNEL_AGENT.etcdTlsDir}/ca.crt`, `--etcd-certfile=${FLANNEL_AGENT.etcdTlsDir}/tls.crt`,
        `--etcd-keyfile=${FLANNEL_AGENT.etcdTlsDir}/tls.key`);
    }
  }
  if (network.interfaceName !== undefined) args.push(`--iface=${network.interfaceName}`);
  for (const regex of network.interfaceRegex) args.push(`--iface-regex=${regex}`);
  if (network.interfaceCanReach !== undefined) args.push(`--iface-can-reach=${network.interfaceCanReach}`);
  return args;
}
