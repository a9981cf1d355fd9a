import { ApiObject, Duration, JsonPatch } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { CALICO_AGENT, CALICO_CNI } from '../../model/calico/agent';
import { ResolvedCalicoNetwork } from '../../model/calico/network';
import { addCniInstaller, CNI_HOST_PATHS } from '../common/cni-installer';
import { addCniServer, CNI_SERVER_SHIM } from '../common/cni-server';
import { kitLabels, kitSelectorLabels } from '../common/labels';
import { addPolicyAgent } from '../common/policy-agent';
import {
  downwardApiEnv, hostPathVolume, nodeAgentResources, nodeAgentSecurityContext, removeConstructPathLabel, setPriorityClassName,
  setRollingUpdate,
} from '../common/node-agent';
import { CALICO_NAMES, CALICO_STACK_NAME, UPSTREAM_APP_LABEL } from './names';

export interface CalicoNodeAgentProps {
  readonly namespace: string;
  readonly network: ResolvedCalicoNetwork;
  /** Image of the node agent. */
  readonly agentImage: string;
  /** Image of the CNI installer (plugin binaries + conflist). */
  readonly cniInstallerImage: string;
  readonly configMap: kplus.IConfigMap;
  /** Thick-plugin mode: a `cni-server` container beside the agent, and the installer writes the shims. */
  readonly cniServer: boolean;
  /** A `policy-agent` container enforcing NetworkPolicy and Calico policy for the node's `cali*` workloads. */
  readonly networkPolicy: boolean;
}

/** The capabilities the agent gets, each for a reason (see CalicoNodeAgent). */
export function calicoAgentCapabilities(network: ResolvedCalicoNetwork): kplus.Capability[] {
  const bgpLowPort = network.bgp.enabled && network.bgp.listenPort < 1024;
  return [kplus.Capability.NET_ADMIN, ...(bgpLowPort ? [kplus.Capability.NET_BIND_SERVICE] : [])];
}

/**
 * The `calico-node` DaemonSet: on every Linux node, an init container installs the kit's CNI
 * plugin, IPAM plugin and conflist onto the host, then the agent programs routes, tunnels, BGP
 * and policy for the node. Host network, tolerates every taint, `system-node-critical`. In
 * thick-plugin mode a privileged `cni-server` container (common/cni-server.ts) serves the CNI calls,
 * and with network policy on a `policy-agent` container (common/policy-agent.ts, NET_ADMIN only)
 * enforces policy per `cali*` interface, as Felix does.
 *
 * Privileges: not privileged (upstream is). Every capability is dropped, then only:
 * - NET_ADMIN: routes, neighbours, FDB entries, the vxlan.calico/tunl0 links, nftables, and
 *   writing `net.*` sysctls (forwarding, rp_filter) in the host network namespace.
 * - NET_BIND_SERVICE: only when BGP listens below port 1024 (179 by default).
 * Not granted: NET_RAW (the kit programs nftables over netlink, never legacy iptables' raw
 * socket), SYS_MODULE (the kernel autoloads vxlan/nf_tables when a link or table is created, so
 * /lib/modules is not mounted either), SYS_ADMIN/BPF (no eBPF dataplane, no bpffs).
 * /proc/sys is read-only in an unprivileged container, so the host's /proc/sys/net is mounted at
 * /host/proc/sys/net for those sysctls (as Cilium does).
 */
export class CalicoNodeAgent extends Construct {
  public readonly daemonSet: kplus.DaemonSet;

  constructor(scope: Construct, id: string, props: CalicoNodeAgentProps) {
    super(scope, id);
    const n = props.network;
    const selector = kitSelectorLabels(CALICO_STACK_NAME, 'node-agent');
    const labels = { ...kitLabels(CALICO_STACK_NAME, 'node-agent'), [UPSTREAM_APP_LABEL]: CALICO_NAMES.agent };
    const fromConfig = (key: string) => kplus.EnvValue.fromConfigMap(props.configMap, key);
    // Typha's Service lives in the stack's namespace; Felix would look in kube-system otherwise.
    const typhaNamespace: Record<string, kplus.EnvValue> = n.typha.enabled ? { FELIX_TYPHAK8SNAMESPACE: kplus.EnvValue.fromValue(props.namespace) } : {};

    const probe = (path: string, failureThreshold: number) => kplus.Probe.fromHttpGet(path, {
      port: n.felix.healthPort,
      // The agent serves health on the node's loopback only (host network).
      host: 'localhost',
      periodSeconds: Duration.seconds(10),
      timeoutSeconds: Duration.seconds(10),
      failureThreshold,
    });

    this.daemonSet = new kplus.DaemonSet(this, 'Resource', {
      metadata: { name: CALICO_NAMES.agent, namespace: props.namespace, labels },
      podMetadata: { labels },
      select: false,
      serviceAccount: kplus.ServiceAccount.fromServiceAccountName(this, 'ServiceAccount', CALICO_NAMES.agent),
      automountServiceAccountToken: true,
      hostNetwork: true,
      dns: { policy: kplus.DnsPolicy.CLUSTER_FIRST_WITH_HOST_NET },
      securityContext: { ensureNonRoot: false },
      // Time for preStop: stop BGP with graceful restart so peers keep this node's routes meanwhile.
      terminationGracePeriod: Duration.seconds(10),
    });
    const ds = this.daemonSet;
    ds.select(kplus.LabelSelector.of({ labels: selector }));
    ds.scheduling.tolerate(kplus.Node.tainted(kplus.NodeTaintQuery.any()));

    const configVolume = kplus.Volume.fromConfigMap(this, 'ConfigVolume', props.configMap, { name: 'calico-config' });
    addCniInstaller(ds, {
      image: props.cniInstallerImage,
      plugins: [CALICO_CNI.pluginType, CALICO_CNI.ipamType].map((name) => ({ name, bundle: CALICO_CNI.bundle })),
      configVolume,
      configMountPath: CALICO_AGENT.configDir,
      confSourcePath: CALICO_AGENT.cniConfSourcePath,
      confFileName: CALICO_CNI.confFileName,
      ...(props.cniServer ? { shim: CNI_SERVER_SHIM } : {}),
    });

    const dir = kplus.HostPathVolumeType.DIRECTORY_OR_CREATE;
    const cniConf = hostPathVolume(ds, 'cni-net-dir', CNI_HOST_PATHS.confDir, dir);
    const varRun = hostPathVolume(ds, 'var-run-calico', CALICO_AGENT.varRunDir, dir);
    const varLib = hostPathVolume(ds, 'var-lib-calico', CALICO_AGENT.varLibDir, dir);
    const procSysNet = hostPathVolume(ds, 'host-proc-sys-net', '/proc/sys/net', kplus.HostPathVolumeType.DIRECTORY);
    const tmp = kplus.Volume.fromEmptyDir(this, 'Tmp', 'tmp');

    ds.addContainer({
      name: CALICO_NAMES.agent,
      image: props.agentImage,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: [CALICO_AGENT.executable],
      envVariables: {
        ...downwardApiEnv(),
        DATASTORE_TYPE: kplus.EnvValue.fromValue('kubernetes'),
        WAIT_FOR_DATASTORE: kplus.EnvValue.fromValue('true'),
        CALICO_NETWORKING_BACKEND: fromConfig('calico_backend'),
        CLUSTER_TYPE: kplus.EnvValue.fromValue('k8s,bgp'),
        IP: kplus.EnvValue.fromValue(n.families.includes(4) ? 'autodetect' : 'none'),
        IP6: kplus.EnvValue.fromValue(n.families.includes(6) ? 'autodetect' : 'none'),
        IP_AUTODETECTION_METHOD: fromConfig('ip_autodetection_method'),
        IP6_AUTODETECTION_METHOD: fromConfig('ip6_autodetection_method'),
        // Pools, BGP and Felix settings are declared as custom resources by this stack.
        NO_DEFAULT_POOLS: kplus.EnvValue.fromValue('true'),
        FELIX_TYPHAK8SSERVICENAME: fromConfig('typha_service_name'),
        ...typhaNamespace,
        FELIX_HEALTHENABLED: kplus.EnvValue.fromValue('true'),
        FELIX_HEALTHPORT: kplus.EnvValue.fromValue(String(n.felix.healthPort)),
        CALICO_ROUTE_REFLECTOR_SELECTOR: fromConfig('route_reflector_selector'),
        CALICO_ROUTE_REFLECTOR_CLUSTER_ID: fromConfig('route_reflector_cluster_id'),
        CNI_SERVICE_ACCOUNT: kplus.EnvValue.fromValue(CALICO_NAMES.cniPlugin),
        CNI_KUBECONFIG: kplus.EnvValue.fromValue(CALICO_AGENT.cniKubeconfig),
        HOST_PROC_SYS_NET: kplus.EnvValue.fromValue(CALICO_AGENT.hostProcSysNet),
      },
      // Requests as upstream (cpu 250m) plus memory for the scheduler; no CPU limit.
      resources: nodeAgentResources(250, 128),
      securityContext: {
        ...nodeAgentSecurityContext(calicoAgentCapabilities(n)),
        // Stricter than the shared default: nothing but the listed capabilities, and a read-only
        // root filesystem (scratch space is the /tmp emptyDir below).
        capabilities: { add: calicoAgentCapabilities(n), drop: [kplus.Capability.ALL] },
        readOnlyRootFilesystem: true,
        seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
      },
      liveness: probe('/liveness', 6),
      readiness: probe('/readiness', 3),
      lifecycle: { preStop: kplus.Handler.fromCommand([CALICO_AGENT.executable, '--shutdown']) },
      volumeMounts: [
        // Writes and refreshes the CNI plugin's kubeconfig (short-lived token).
        { volume: cniConf, path: CNI_HOST_PATHS.confDir },
        { volume: varRun, path: CALICO_AGENT.varRunDir },
        { volume: varLib, path: CALICO_AGENT.varLibDir },
        { volume: procSysNet, path: CALICO_AGENT.hostProcSysNet },
        { volume: tmp, path: '/tmp' },
      ],
    });

    if (props.cniServer) {
      addCniServer(ds, props.agentImage, [
        // The IPAM lock (ipam.lock), as the plugin on the host takes it.
        { volume: varRun, path: CALICO_AGENT.varRunDir },
        // The node name and MTU the agent wrote.
        { volume: varLib, path: CALICO_AGENT.varLibDir, readOnly: true },
        // The plugin's kubeconfig, which the agent keeps fresh.
        { volume: cniConf, path: CNI_HOST_PATHS.confDir, readOnly: true },
      ]);
    }
    // With Typha the policy agent follows the datastore through it too, as the agent does: the
    // node then holds no API server watch of its own (the agent's ServiceAccount may get endpoints).
    if (props.networkPolicy) {
      addPolicyAgent(ds, props.agentImage, 'interface', n.typha.enabled ? { FELIX_TYPHAK8SSERVICENAME: fromConfig('typha_service_name'), ...typhaNamespace } : {});
    }
    setRollingUpdate(ds, 1);
    setPriorityClassName(ds, 'system-node-critical');
    removeConstructPathLabel(ds);
    ApiObject.of(ds).addJsonPatch(JsonPatch.add('/spec/template/spec/nodeSelector', { 'kubernetes.io/os': 'linux' }));
  }
}
