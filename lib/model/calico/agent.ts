import { ResolvedCalicoNetwork } from './network';

/**
 * The contract between the Calico-style manifests and the dataplane they run: executables,
 * host paths, ports and the CNI plugin names. Where a file or name has an upstream twin it keeps
 * the upstream value, so existing Calico state (IPAM handles, /var/lib/calico/nodename) carries over.
 */
export const CALICO_AGENT = {
  /** The node agent's executable in the calico-agent image. */
  executable: 'cnikit-calico-agent',
  /** ConfigMap mount in the agent and installer containers. */
  configDir: '/etc/cnikit-calico',
  /** The CNI conflist as shipped in the ConfigMap (key `cni_network_config`), copied onto the host by the installer. */
  cniConfSourcePath: '/etc/cnikit-calico/cni_network_config',
  /** Shared with the CNI plugin: ipam.lock (host IPAM lock) and endpoint status. */
  varRunDir: '/var/run/calico',
  /** Shared with the CNI plugin: `nodename` (the plugin refuses to run without it) and the detected `mtu`. */
  varLibDir: '/var/lib/calico',
  /** The host's /proc/sys/net, mounted here because /proc/sys is read-only in an unprivileged container. */
  hostProcSysNet: '/host/proc/sys/net',
  /** The kubeconfig the agent writes (and refreshes) for the CNI plugin, with a token of the plugin's account. */
  cniKubeconfig: '/etc/cni/net.d/calico-kubeconfig',
} as const;

export const CALICO_CONTROLLERS = {
  executable: 'cnikit-calico-controllers',
  /** `/liveness` and `/readiness` on the pod network. */
  healthPort: 9094,
} as const;

export const CALICO_TYPHA = {
  /** Typha runs from the controllers image (one cluster-level image for both). */
  executable: 'cnikit-calico-typha',
  /** Agents connect here. */
  port: 5473,
  /** `/liveness` and `/readiness` on the node's loopback (host network). */
  healthPort: 9098,
} as const;

export const CALICO_CNI = {
  /** Plugin binaries in /opt/cni/bin, and their `type` in the conflist. */
  pluginType: 'cnikit-calico',
  ipamType: 'cnikit-calico-ipam',
  /**
   * The bundle both names run, in the cni-plugin image (apps/cni-calico.ts): apart from the flannel plugin's
   * so that one does not load the etcd client.
   */
  bundle: 'cni-calico.js',
  confFileName: '10-cnikit-calico.conflist',
  /** Upstream's network name: IPAM handles are `k8s-pod-network.<containerID>` as with Calico. */
  networkName: 'k8s-pod-network',
  /** The newest version both the kit's plugin and Debian's portmap (0.1.0–1.0.0) speak. */
  cniVersion: '1.0.0',
  logFile: '/var/log/calico/cni/cni.log',
} as const;

/**
 * The conflist installed on every node: the kit's plugin in Calico mode with the kit's block IPAM,
 * then the reference `portmap` plugin for hostPorts. The plugin reads its node name from
 * /var/lib/calico/nodename and its kubeconfig from the file the agent keeps fresh, so the conflist
 * is the same on every node and is installed verbatim.
 */
export function calicoCniConfList(network: ResolvedCalicoNetwork): Record<string, unknown> {
  return {
    name: CALICO_CNI.networkName,
    cniVersion: CALICO_CNI.cniVersion,
    plugins: [
      {
        type: CALICO_CNI.pluginType,
        log_level: 'info',
        log_file_path: CALICO_CNI.logFile,
        datastore_type: 'kubernetes',
        // 0 = use the MTU the agent detected (/var/lib/calico/mtu).
        mtu: network.podMtu,
        ipam: {
          type: CALICO_CNI.ipamType,
          assign_ipv4: String(network.families.includes(4)),
          assign_ipv6: String(network.families.includes(6)),
        },
        policy: { type: 'k8s' },
        kubernetes: { kubeconfig: CALICO_AGENT.cniKubeconfig },
      },
      { type: 'portmap', snat: true, capabilities: { portMappings: true } },
    ],
  };
}
