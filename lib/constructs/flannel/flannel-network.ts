import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { checkBoolean, checkDnsLabel, checkDnsSubdomain, checkInteger } from '../../model/checks';
import { ValidationError } from '../../model/errors';
import { FLANNEL_NETWORK_SPEC_KEYS, FlannelNetworkSpec, ResolvedFlannelNetwork, resolveFlannelNetwork } from '../../model/flannel/network';
import { ImageSettings, KitImage, imageReference } from '../../model/images';
import { kitLabels, kitSelectorLabels } from '../common/labels';
import { PrivilegedNamespace } from '../common/privileged-namespace';
import { FlannelAgent } from './flannel-agent';
import { FlannelConfig } from './flannel-config';
import { FlannelRbac } from './flannel-rbac';

/** Props of `FlannelNetwork`: the network (see `FlannelNetworkSpec`) plus how it is deployed. */
export interface FlannelNetworkProps extends FlannelNetworkSpec {
  /**
   * Namespace of the stack (created, labelled for privileged Pod Security).
   * @default 'cnikit-flannel'
   */
  readonly namespace?: string;
  /**
   * Registry and path prefix of the kit's images.
   * @default 'ghcr.io/cnikit'
   */
  readonly imageRegistry?: string;
  /**
   * Tag of the kit's images, used for images without a known digest.
   * @default KIT_VERSION
   */
  readonly imageVersion?: string;
  /**
   * Digests by image name (the content of IMAGE_DIGESTS_FILE); a known digest pins that image.
   * @default none: images are referenced by tag
   */
  readonly imageDigests?: Readonly<Record<string, string>>;
  /**
   * CPU the agent requests, in millicores; there is never a CPU limit.
   * @default 100
   */
  readonly agentCpuRequestMillis?: number;
  /**
   * Memory the agent requests, in MiB.
   * @default 50
   */
  readonly agentMemoryRequestMebibytes?: number;
  /**
   * Memory limit of the agent, in MiB.
   * @default no limit (as upstream: an OOM-killed network agent stops new pods from starting)
   */
  readonly agentMemoryLimitMebibytes?: number;
  /**
   * Priority class of the agent pods.
   * @default 'system-node-critical'
   */
  readonly priorityClassName?: string;
  /**
   * How many nodes' agents a rolling update replaces at once.
   * @default 1
   */
  readonly maxUnavailable?: number;
  /**
   * Thick-plugin mode (docs/cni.md): run the resident CNI server as a `cni-server` container in the agent's
   * pod and install `/opt/cni/bin/cnikit-flannel` as a bash shim that forwards each CNI call to it over the
   * node's loopback (port 7331), falling back to the plain Node plugin while the server is down. A pod's ADD
   * then costs no Node start-up (about 1.1x Debian's `bridge`+`host-local` instead of about 5x, BENCHMARKS.md).
   * Turn it off where nodes have no bash or no process may listen on loopback port 7331: the plain plugin
   * (a `/bin/sh` launcher running Node per call) is installed instead.
   * @default true
   */
  readonly cniServer?: boolean;
  /**
   * Enforce Kubernetes NetworkPolicy (and Calico's policy kinds, where their CRDs are installed), as canal
   * adds Calico's policy to flannel (docs/policy.md): a `policy-agent` container in the agent's pod follows
   * pods, namespaces, service accounts and policies through the API server and programs nftables per pod
   * address, and the agent's ClusterRole gains read-only list/watch on them. Needs bridged traffic to reach
   * the forward hook (`net.bridge.bridge-nf-call-iptables=1`, which kubeadm already requires).
   * @default false (flannel itself enforces no policy)
   */
  readonly networkPolicy?: boolean;
}

const DEPLOYMENT_KEYS: readonly (keyof FlannelNetworkProps)[] = ['namespace', 'imageRegistry', 'imageVersion', 'imageDigests',
  'agentCpuRequestMillis', 'agentMemoryRequestMebibytes', 'agentMemoryLimitMebibytes', 'priorityClassName', 'maxUnavailable', 'cniServer', 'networkPolicy'];

/** The name of the stack's objects and its `app.kubernetes.io/name`. */
export const FLANNEL_STACK_NAME = 'cnikit-flannel';

/**
 * The whole Flannel-style stack: privileged namespace, service account with a least-privilege
 * ClusterRole, the ConfigMap with the CNI conflist and net-conf.json, and the node DaemonSet (CNI
 * installer + agent). Validates its props at construction; cluster-scoped objects carry no namespace
 * whatever the chart's namespace is.
 *
 * @example
 * new FlannelNetwork(chart, 'Network', { podNetwork: '10.244.0.0/16', backend: FlannelBackend.vxlan({ vni: 4096 }) });
 */
export class FlannelNetwork extends Construct {
  /** The model with every default applied and derived values computed. */
  public readonly network: ResolvedFlannelNetwork;
  public readonly namespace: kplus.Namespace;
  public readonly serviceAccount: kplus.ServiceAccount;
  public readonly clusterRole: kplus.k8s.KubeClusterRole;
  public readonly clusterRoleBinding: kplus.k8s.KubeClusterRoleBinding;
  public readonly configMap: kplus.ConfigMap;
  public readonly daemonSet: kplus.DaemonSet;

  constructor(scope: Construct, id: string, props: FlannelNetworkProps = {}) {
    super(scope, id);
    const field = (name: string) => `flannel.${name}`;
    const spec: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(props)) {
      if ((FLANNEL_NETWORK_SPEC_KEYS as readonly string[]).includes(key)) spec[key] = value;
      else if (!(DEPLOYMENT_KEYS as readonly string[]).includes(key)) {
        throw new ValidationError(field(key), key, `a prop of FlannelNetwork: ${[...FLANNEL_NETWORK_SPEC_KEYS, ...DEPLOYMENT_KEYS].join(', ')}`);
      }
    }
    this.network = resolveFlannelNetwork(spec as FlannelNetworkSpec, 'flannel');

    const namespace = checkDnsLabel(field('namespace'), props.namespace ?? FLANNEL_STACK_NAME);
    const images: ImageSettings = { registry: props.imageRegistry, version: props.imageVersion, digests: props.imageDigests };
    const imageFields = { registry: field('imageRegistry'), version: field('imageVersion'), digests: field('imageDigests') };
    const agentImage = imageReference(KitImage.FLANNEL_AGENT, images, imageFields);
    const installerImage = imageReference(KitImage.CNI_PLUGIN, images, imageFields);
    const cpuRequestMillis = checkInteger(field('agentCpuRequestMillis'), props.agentCpuRequestMillis ?? 100, 1, 64000, 'millicores');
    const memoryRequestMebibytes = checkInteger(field('agentMemoryRequestMebibytes'), props.agentMemoryRequestMebibytes ?? 50, 1, 65536, 'MiB');
    const memoryLimitMebibytes = props.agentMemoryLimitMebibytes === undefined ? undefined
      : checkInteger(field('agentMemoryLimitMebibytes'), props.agentMemoryLimitMebibytes, memoryRequestMebibytes, 65536, 'MiB (at least the request)');
    const priorityClassName = checkDnsSubdomain(field('priorityClassName'), props.priorityClassName ?? 'system-node-critical');
    const maxUnavailable = checkInteger(field('maxUnavailable'), props.maxUnavailable ?? 1, 1, 10000);
    const networkPolicy = checkBoolean(field('networkPolicy'), props.networkPolicy ?? false);

    const labels = kitLabels(FLANNEL_STACK_NAME);
    const ns = new PrivilegedNamespace(this, 'Namespace', { name: namespace, labels });
    const rbac = new FlannelRbac(this, 'Rbac', { name: FLANNEL_STACK_NAME, namespace, labels, networkPolicy });
    const config = new FlannelConfig(this, 'Config', { name: `${FLANNEL_STACK_NAME}-cfg`, namespace, labels, network: this.network });
    const agent = new FlannelAgent(this, 'Agent', {
      name: FLANNEL_STACK_NAME,
      namespace,
      labels: kitLabels(FLANNEL_STACK_NAME, 'node-agent'),
      selectorLabels: kitSelectorLabels(FLANNEL_STACK_NAME, 'node-agent'),
      network: this.network,
      serviceAccount: rbac.serviceAccount,
      configMap: config.configMap,
      configHash: config.contentHash,
      agentImage,
      installerImage,
      cpuRequestMillis,
      memoryRequestMebibytes,
      ...(memoryLimitMebibytes !== undefined ? { memoryLimitMebibytes } : {}),
      priorityClassName,
      maxUnavailable,
      cniServer: checkBoolean(field('cniServer'), props.cniServer ?? true),
      networkPolicy,
    });
    // Namespace first, then identity and configuration, then the workload that uses them.
    rbac.node.addDependency(ns);
    config.node.addDependency(ns);
    agent.node.addDependency(rbac, config);

    this.namespace = ns.namespace;
    this.serviceAccount = rbac.serviceAccount;
    this.clusterRole = rbac.clusterRole;
    this.clusterRoleBinding = rbac.clusterRoleBinding;
    this.configMap = config.configMap;
    this.daemonSet = agent.daemonSet;
  }
}
