import { Construct } from 'constructs';
import { CALICO_NETWORK_SPEC_KEYS, CalicoNetworkSpec, ResolvedCalicoNetwork, resolveCalicoNetwork } from '../../model/calico/network';
import { checkBoolean, checkKnownKeys } from '../../model/checks';
import { KitImage, imageReference } from '../../model/images';
import { Encapsulation } from '../../model/calico/mtu';
import { kitLabels } from '../common/labels';
import { PrivilegedNamespace } from '../common/privileged-namespace';
import { CalicoConfig } from './config';
import { CalicoControllers } from './controllers';
import { CalicoCrds } from './crds';
import { CalicoClusterResources } from './custom-resources';
import { CALICO_NAMES, CALICO_STACK_NAME } from './names';
import { CalicoNodeAgent } from './node-agent';
import {
  ComponentRbac, agentClusterRules, agentNamespaceRules, cniPluginClusterRules, controllersClusterRules, typhaClusterRules,
} from './rbac';
import { CalicoTypha } from './typha';

export interface CalicoNetworkProps extends CalicoNetworkSpec {
  /**
   * Namespace of the agents, controllers and Typha. Any namespace other than `kube-system` is
   * created, labelled for privileged Pod Security.
   * @default "kube-system" (as the upstream manifest)
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
   * Emit the Calico CRDs. Turn off when another stack (or an earlier install) owns them.
   * @default true
   */
  readonly installCrds?: boolean;
  /**
   * Thick-plugin mode (docs/cni.md): run the resident CNI server as a `cni-server` container in the agent's
   * pod and install `cnikit-calico` and `cnikit-calico-ipam` as bash shims that forward each CNI call to it
   * over the node's loopback (port 7331), falling back to the plain Node plugin while it is down. A pod's ADD
   * then costs neither Node's start-up nor loading the etcd client (BENCHMARKS.md). Turn it off where nodes
   * have no bash or loopback port 7331 is taken: the plain plugin is installed instead.
   * @default true
   */
  readonly cniServer?: boolean;
  /**
   * Enforce Kubernetes NetworkPolicy and Calico's NetworkPolicy, GlobalNetworkPolicy, NetworkSet and
   * GlobalNetworkSet (docs/policy.md): a `policy-agent` container in the agent's pod follows them through
   * the API server and programs nftables per `cali*` interface, as Felix does. Turn it off only where
   * another component enforces policy: without it every policy object is accepted and nothing enforces it.
   * @default true
   */
  readonly networkPolicy?: boolean;
}

const DEPLOYMENT_KEYS: readonly (keyof CalicoNetworkProps)[] = ['namespace', 'imageRegistry', 'imageVersion', 'imageDigests', 'installCrds', 'cniServer', 'networkPolicy'];

/**
 * A complete Calico-style pod network: CRDs, one least-privilege identity per component (agent,
 * CNI plugin, controllers, Typha), the `calico-config` ConfigMap with the conflist, the node agent
 * DaemonSet, the controllers, Typha when the cluster is large enough, the IP pools and the BGP,
 * Felix, IPAM and controller settings. The props are validated here, at construction.
 */
export class CalicoNetwork extends Construct {
  /** The validated model with every default applied and every derived value. */
  public readonly network: ResolvedCalicoNetwork;
  public readonly namespace: string;
  public readonly crds?: CalicoCrds;
  public readonly agent: CalicoNodeAgent;
  public readonly controllers: CalicoControllers;
  public readonly typha?: CalicoTypha;
  public readonly resources: CalicoClusterResources;

  constructor(scope: Construct, id: string, props: CalicoNetworkProps = {}) {
    super(scope, id);
    checkKnownKeys('calico', props, [...CALICO_NETWORK_SPEC_KEYS, ...DEPLOYMENT_KEYS], 'CalicoNetwork');
    const { namespace: namespaceProp, imageRegistry, imageVersion, imageDigests, installCrds, cniServer, networkPolicy, ...spec } = props;
    this.network = resolveCalicoNetwork(spec);
    const n = this.network;
    this.namespace = namespaceProp ?? 'kube-system';
    const namespace = this.namespace;
    const images = { registry: imageRegistry, version: imageVersion, digests: imageDigests };
    const image = (kit: KitImage) => imageReference(kit, images, 'calico.images');

    if (installCrds ?? true) this.crds = new CalicoCrds(this, 'Crds');
    if (namespace !== 'kube-system') {
      new PrivilegedNamespace(this, 'Namespace', { name: namespace, labels: kitLabels(CALICO_STACK_NAME) });
    }

    const passwordSecrets = [...new Set(n.bgp.peers.flatMap((p) => (p.password ? [p.password.secretName] : [])))].sort();
    new ComponentRbac(this, 'AgentRbac', {
      name: CALICO_NAMES.agent, namespace, labels: kitLabels(CALICO_STACK_NAME, 'node-agent'),
      clusterRules: agentClusterRules({ typha: n.typha.enabled, tunnelAddress: n.encapsulation !== Encapsulation.NONE, policyAgent: networkPolicy ?? true }),
      namespaceRules: agentNamespaceRules(passwordSecrets),
    });
    new ComponentRbac(this, 'CniPluginRbac', {
      name: CALICO_NAMES.cniPlugin, namespace, labels: kitLabels(CALICO_STACK_NAME, 'cni-plugin'), clusterRules: cniPluginClusterRules(),
    });
    new ComponentRbac(this, 'ControllersRbac', {
      name: CALICO_NAMES.controllers, namespace, labels: kitLabels(CALICO_STACK_NAME, 'controllers'), clusterRules: controllersClusterRules(),
    });
    if (n.typha.enabled) {
      new ComponentRbac(this, 'TyphaRbac', {
        name: CALICO_NAMES.typha, namespace, labels: kitLabels(CALICO_STACK_NAME, 'typha'), clusterRules: typhaClusterRules(),
      });
    }

    const config = new CalicoConfig(this, 'Config', {
      namespace, network: n, labels: kitLabels(CALICO_STACK_NAME, 'config'),
      typhaServiceName: n.typha.enabled ? CALICO_NAMES.typha : undefined,
    });
    if (n.typha.enabled) {
      this.typha = new CalicoTypha(this, 'Typha', { namespace, image: image(KitImage.CONTROLLERS), replicas: n.typha.replicas });
    }
    this.agent = new CalicoNodeAgent(this, 'NodeAgent', {
      namespace, network: n, configMap: config.configMap,
      agentImage: image(KitImage.CALICO_AGENT), cniInstallerImage: image(KitImage.CNI_PLUGIN),
      cniServer: checkBoolean('calico.cniServer', cniServer ?? true),
      networkPolicy: checkBoolean('calico.networkPolicy', networkPolicy ?? true),
    });
    this.controllers = new CalicoControllers(this, 'Controllers', { namespace, image: image(KitImage.CONTROLLERS) });

    this.resources = new CalicoClusterResources(this, 'Resources', n);
    // Custom resources only after their definitions exist.
    if (this.crds) this.resources.node.addDependency(this.crds);
  }
}
