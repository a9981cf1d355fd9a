import { Duration } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { FLANNEL_AGENT, FLANNEL_CNI, flannelAgentArgs } from '../../model/flannel/agent';
import { FlannelBackendType } from '../../model/flannel/backend';
import { FlannelDatastoreType } from '../../model/flannel/datastore';
import { ResolvedFlannelNetwork } from '../../model/flannel/network';
import { addCniInstaller } from '../common/cni-installer';
import { addCniServer, CNI_SERVER_SHIM } from '../common/cni-server';
import { addPolicyAgent } from '../common/policy-agent';
import {
  downwardApiEnv, hostPathVolume, removeConstructPathLabel, nodeAgentResources, nodeAgentSecurityContext, removeStartupProbe, setPriorityClassName,
  setRollingUpdate,
} from '../common/node-agent';

export interface FlannelAgentProps {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
  readonly selectorLabels: Record<string, string>;
  readonly network: ResolvedFlannelNetwork;
  readonly serviceAccount: kplus.IServiceAccount;
  readonly configMap: kplus.IConfigMap;
  /** A digest of the ConfigMap's content; changing it rolls the agents so they read the new configuration. */
  readonly configHash: string;
  readonly agentImage: string;
  readonly installerImage: string;
  readonly cpuRequestMillis: number;
  readonly memoryRequestMebibytes: number;
  readonly memoryLimitMebibytes?: number;
  readonly priorityClassName: string;
  readonly maxUnavailable: number;
  /** Thick-plugin mode: a `cni-server` container beside the agent, and the installer writes the shim. */
  readonly cniServer: boolean;
  /** A `policy-agent` container enforcing NetworkPolicy per pod address, as canal adds policy to flannel. */
  readonly networkPolicy: boolean;
}

/**
 * The node DaemonSet: CNI installer init container and the agent, on every Linux node, and in
 * thick-plugin mode the resident CNI server the installed shim forwards each CNI call to; with network
 * policy on, the policy agent (common/policy-agent.ts) in address mode.
 */
export class FlannelAgent extends Construct {
  public readonly daemonSet: kplus.DaemonSet;

  constructor(scope: Construct, id: string, props: FlannelAgentProps) {
    super(scope, id);
    const ds = new kplus.DaemonSet(this, 'Resource', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      podMetadata: {
        labels: { ...props.labels, ...props.selectorLabels },
        annotations: {
          'kubectl.kubernetes.io/default-container': 'agent',
          // flanneld reads net-conf.json only at start; a changed ConfigMap must restart the agents.
          'cnikit.io/config-hash': props.configHash,
        },
      },
      // Select by the stable labels only (the default adds a construct-path label).
      select: false,
      serviceAccount: props.serviceAccount,
      automountServiceAccountToken: true,
      hostNetwork: true,
      // The agent runs as root (see the container); the pod-level default would forbid it.
      securityContext: { ensureNonRoot: false },
    });
    ds.select(kplus.LabelSelector.of({ labels: props.selectorLabels }));
    ds.scheduling.attract(kplus.Node.labeled(kplus.NodeLabelQuery.is('kubernetes.io/os', 'linux')));
    // Every node needs pod networking, whatever its taints (NoSchedule, NoExecute, not-ready).
    ds.scheduling.tolerate(kplus.Node.tainted(kplus.NodeTaintQuery.any()));

    const config = kplus.Volume.fromConfigMap(ds, 'config-volume', props.configMap, { name: 'config' });
    addCniInstaller(ds, {
      image: props.installerImage,
      plugins: [{ name: FLANNEL_CNI.pluginType, bundle: FLANNEL_CNI.bundle }],
      configVolume: config,
      configMountPath: FLANNEL_AGENT.configDir,
      confSourcePath: FLANNEL_AGENT.cniConfSourcePath,
      confFileName: FLANNEL_CNI.confFileName,
      ...(props.cniServer ? { shim: CNI_SERVER_SHIM } : {}),
    });

    const run = hostPathVolume(ds, 'run', FLANNEL_AGENT.runDir, kplus.HostPathVolumeType.DIRECTORY_OR_CREATE);
    const xtablesLock = hostPathVolume(ds, 'xtables-lock', '/run/xtables.lock', kplus.HostPathVolumeType.FILE_OR_CREATE);
    const mounts: kplus.VolumeMount[] = [
      { path: FLANNEL_AGENT.runDir, volume: run },
      { path: FLANNEL_AGENT.configDir, volume: config, readOnly: true },
      // iptables (and flannel's rules) take this lock; sharing the host's file serialises with kube-proxy.
      { path: '/run/xtables.lock', volume: xtablesLock },
    ];
    const { datastore, backend } = props.network;
    if (datastore.type === FlannelDatastoreType.ETCD && datastore.tlsSecretName !== undefined) {
      const secret = kplus.Secret.fromSecretName(ds, 'etcd-tls-secret', datastore.tlsSecretName);
      mounts.push({ path: FLANNEL_AGENT.etcdTlsDir, volume: kplus.Volume.fromSecret(ds, 'etcd-tls-volume', secret, { name: 'etcd-tls', defaultMode: 0o400 }), readOnly: true });
    }
    if (backend.type === FlannelBackendType.WIREGUARD && backend.pskSecretName !== undefined) {
      const secret = kplus.Secret.fromSecretName(ds, 'wireguard-psk-secret', backend.pskSecretName);
      mounts.push({ path: FLANNEL_AGENT.wireGuardPskDir, volume: kplus.Volume.fromSecret(ds, 'wireguard-psk-volume', secret, { name: 'wireguard-psk', defaultMode: 0o400 }), readOnly: true });
    }

    const healthPort = FLANNEL_AGENT.healthPort;
    ds.addContainer({
      name: 'agent',
      image: props.agentImage,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: flannelAgentArgs(props.network),
      envVariables: downwardApiEnv(),
      ports: [{ number: healthPort, name: 'healthz', protocol: kplus.Protocol.TCP }],
      liveness: kplus.Probe.fromHttpGet('/healthz', {
        port: healthPort, initialDelaySeconds: Duration.seconds(10), periodSeconds: Duration.seconds(30),
      }),
      readiness: kplus.Probe.fromHttpGet('/readyz', {
        port: healthPort, initialDelaySeconds: Duration.seconds(5), periodSeconds: Duration.seconds(10),
      }),
      // NET_ADMIN: links, addresses, routes, neighbours, FDB, nftables; NET_RAW: raw sockets (iptables, ARP).
      securityContext: nodeAgentSecurityContext([kplus.Capability.NET_ADMIN, kplus.Capability.NET_RAW]),
      resources: nodeAgentResources(props.cpuRequestMillis, props.memoryRequestMebibytes, props.memoryLimitMebibytes),
      volumeMounts: mounts,
    });
    if (props.cniServer) {
      addCniServer(ds, props.agentImage, [
        // The IPAM store, shared with the plugin the shim falls back to on the host.
        { path: FLANNEL_CNI.dataDir, volume: hostPathVolume(ds, 'cni-data', FLANNEL_CNI.dataDir, kplus.HostPathVolumeType.DIRECTORY_OR_CREATE) },
        // The agent's subnet file, which the conflist names.
        { path: FLANNEL_AGENT.runDir, volume: run, readOnly: true },
      ]);
    }
    if (props.networkPolicy) addPolicyAgent(ds, props.agentImage, 'address');
    removeStartupProbe(ds, 0);
    removeConstructPathLabel(ds);
    setRollingUpdate(ds, props.maxUnavailable);
    setPriorityClassName(ds, props.priorityClassName);
    this.daemonSet = ds;
  }
}
