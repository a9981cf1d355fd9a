import { ClusterNetwork } from '../../lib/lab/cluster/cluster-lab';
import { LabTopologyKind } from '../../lib/lab/topology';
import { resolveCalicoNetwork } from '../../lib/model/calico/network';
import { EncapsulationMode } from '../../lib/model/calico/pool';
import { FlannelNetworkSpec, resolveFlannelNetwork } from '../../lib/model/flannel/network';
import { Environment } from './environment';

/** How the cluster lab runs an environment: its address plan and the underlay it needs. */
export interface ClusterPlan {
  readonly network: ClusterNetwork;
  readonly dualStack: boolean;
  /** Pods reach the outside masqueraded to their node's address. */
  readonly natOutgoing: boolean;
  /** The underlay that shows the environment's routing: two subnets for VXLAN CrossSubnet. */
  readonly topology: LabTopologyKind;
}

/**
 * What a cluster running `environment` must be configured with, read from the resolved model (the
 * same values the manifests carry): service networks for the apiserver and kube-proxy, pod networks,
 * and for Flannel-style stacks the per-node podCIDR size the controller-manager hands out.
 */
export function clusterPlan(environment: Environment): ClusterPlan {
  const stack = environment.stack;
  if (stack.kind === 'flannel') {
    const network = resolveFlannelNetwork(stack.props as FlannelNetworkSpec, `${environment.name}.flannel`);
    const families = [network.ipv4, network.ipv6].filter((f) => f !== undefined);
    return {
      network: {
        serviceCidrs: [network.serviceNetwork, ...(network.serviceNetworkV6 ? [network.serviceNetworkV6] : [])],
        podCidrs: families.map((f) => f.network),
        nodeCidrMask: { v4: network.ipv4?.subnetLength ?? 24, ...(network.ipv6 ? { v6: network.ipv6.subnetLength } : {}) },
      },
      dualStack: families.length > 1,
      natOutgoing: network.masquerade,
      topology: 'flat',
    };
  }
  const network = resolveCalicoNetwork(stack.props);
  const pools = network.pools.filter((p) => !p.disabled);
  return {
    network: {
      serviceCidrs: network.serviceNetworks.map((c) => c.toString()),
      podCidrs: [4, 6].flatMap((family) => pools.filter((p) => p.cidr.family === family).slice(0, 1).map((p) => p.cidr.toString())),
      ...autodetectionNetwork(network.ipAutodetection),
    },
    dualStack: network.families.length > 1,
    natOutgoing: pools.some((p) => p.cidr.family === 4 && p.natOutgoing),
    topology: pools.some((p) => p.vxlanMode === EncapsulationMode.CROSS_SUBNET || p.ipipMode === EncapsulationMode.CROSS_SUBNET) ? 'two-subnets' : 'flat',
  };
}

/**
 * Calico's `cidr=<a>,<b>` autodetection: nodes must have an address in one of them, so the lab's
 * nodes go into the first IPv4 one that can hold its segments (a /16 or larger).
 */
function autodetectionNetwork(method: string): { nodeNetwork?: string } {
  if (!method.startsWith('cidr=')) return {};
  const fits = method.slice('cidr='.length).split(',').find((c) => !c.includes(':') && Number(c.split('/')[1]) <= 16);
  return fits ? { nodeNetwork: fits } : {};
}
