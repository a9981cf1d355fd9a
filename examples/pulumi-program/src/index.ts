// A platform team's own Pulumi program composing cnikit's components: its own Kubernetes provider,
// a value taken from another resource (the image registry, kept in a ConfigMap the team owns) as an
// Input, the Calico-style network, and policies that wait for it (dependsOn). In another repository
// the imports are `cnikit` and `cnikit/pulumi`; here they point into the checkout.
import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { IpAutodetection } from '../../../lib/model/calico/autodetection';
import { EncapsulationMode } from '../../../lib/model/calico/pool';
import { PolicyAction } from '../../../lib/model/calico/policy';
import { Selector } from '../../../lib/model/calico/selector';
import { CalicoNetwork, NetworkPolicySet } from '../../../lib/pulumi';

/** The program's stack configuration (`platform-network:*`, declared in Pulumi.yaml). */
export interface PlatformSettings {
  /** Path of the kubeconfig of the cluster to deploy to. */
  readonly kubeconfig: string;
  /** Where the platform mirrors cnikit's images. */
  readonly imageRegistry: string;
}

export interface PlatformOutputs {
  readonly namespace: pulumi.Output<string>;
  readonly agentDaemonSet: pulumi.Output<string>;
  readonly podNetworks: pulumi.Output<string[]>;
  readonly images: pulumi.Output<string[]>;
  readonly policies: pulumi.Output<string[]>;
}

export function platformNetwork(settings: PlatformSettings): PlatformOutputs {
  const provider = new k8s.Provider('platform-cluster', { kubeconfig: settings.kubeconfig });
  const registry = new k8s.core.v1.ConfigMap('platform-registry', {
    metadata: { name: 'platform-registry', namespace: 'default' },
    data: { registry: settings.imageRegistry },
  }, { provider });
  const network = new CalicoNetwork('pods', {
    pools: [{ name: 'platform-ipv4', cidr: '10.44.0.0/16', vxlanMode: EncapsulationMode.ALWAYS, natOutgoing: true }],
    serviceNetwork: '10.45.0.0/16',
    nodeCount: 3,
    ipAutodetection: IpAutodetection.interface('^(eth|ens)[0-9]+$'),
    imageRegistry: registry.data.apply((data) => data.registry),
  }, { provider });
  const policies = new NetworkPolicySet('policies', {
    networkPolicies: [{
      name: 'same-namespace-only',
      namespace: 'platform-apps',
      selector: Selector.all(),
      ingress: [{ action: PolicyAction.ALLOW, source: { namespaceSelector: Selector.label('kubernetes.io/metadata.name').eq('platform-apps') } }],
    }],
  }, { provider, dependsOn: [network] });
  return {
    namespace: network.namespace,
    agentDaemonSet: network.agentDaemonSetName,
    podNetworks: network.podNetworks,
    images: network.images,
    policies: policies.policies,
  };
}

/** As a program of its own (`Pulumi.yaml` here): settings from the stack's configuration. */
export function main(): PlatformOutputs {
  const config = new pulumi.Config();
  return platformNetwork({ kubeconfig: config.require('kubeconfig'), imageRegistry: config.require('imageRegistry') });
}
