import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { CalicoNetwork as CalicoNetworkConstruct, CalicoNetworkProps } from '../constructs/calico/calico-network';
import { CALICO_STACK_NAME } from '../constructs/calico/names';
import { buildWithInputs, InputProps } from './input-props';
import { BuiltNetworkStack, NetworkStackComponent, NetworkStackSummary } from './network-stack';

/** What a deployer needs to know about a built `CalicoNetwork` construct; pod networks are the enabled pools. */
export function calicoSummary(network: CalicoNetworkConstruct): NetworkStackSummary {
  return {
    namespace: network.namespace,
    agentDaemonSetName: network.agent.daemonSet.name,
    podNetworks: network.network.pools.filter((pool) => !pool.disabled).map((pool) => pool.cidr.toString()),
  };
}

/** Builds the `CalicoNetwork` construct in its own chart. */
export function buildCalicoStack(props: CalicoNetworkProps): BuiltNetworkStack {
  const chart = new Chart(new App(), CALICO_STACK_NAME, { disableResourceNameHashes: true });
  return { chart, summary: calicoSummary(new CalicoNetworkConstruct(chart, 'Network', props)) };
}

/** The props that take a `pulumi.Input`: values, not the shape of the stack. */
export type CalicoNetworkInputKeys = 'serviceNetwork' | 'serviceNetworkV6' | 'imageRegistry' | 'bgpAsNumber' | 'bgpRouteReflectorClusterId';

/** Props of the `CalicoNetwork` component: the construct's, with {@link CalicoNetworkInputKeys} as Inputs. */
export type CalicoNetworkArgs = InputProps<CalicoNetworkProps, CalicoNetworkInputKeys>;

/**
 * The Calico-style stack as a Pulumi component (`cnikit:index:CalicoNetwork`): takes the props of the
 * `CalicoNetwork` construct, validates them before registering anything, and registers every object it
 * synthesizes as its own resource: CRDs first, IP pools and the BGP, Felix and IPAM settings (custom
 * resources) once their CRDs are registered. The service networks, the image registry, the AS number
 * and the route reflector cluster ID may be Inputs; the node count, pools and peers must be plain
 * values, because they decide which objects exist.
 */
export class CalicoNetwork extends NetworkStackComponent {
  constructor(name: string, props: CalicoNetworkArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super('cnikit:index:CalicoNetwork', name, buildWithInputs<CalicoNetworkProps, CalicoNetworkInputKeys>(props, {
      field: 'calico',
      // Stand-ins from ranges no cluster uses (RFC 2544 benchmarking, a ULA of our own): same layout as any value.
      standIns: {
        serviceNetwork: '198.19.0.0/16',
        serviceNetworkV6: 'fd00:c11:ca7:5e::/112',
        imageRegistry: 'stand-in.cnikit.invalid/images',
        bgpAsNumber: 64512,
        bgpRouteReflectorClusterId: '198.18.0.1',
      },
      decideObjects: {
        nodeCount: 'it decides whether Typha runs, and with how many replicas',
        typha: 'it decides whether Typha runs',
        pools: 'each pool is an IPPool object',
        bgpEnabled: 'it decides whether the BGP objects exist',
        bgpPeers: 'each peer is a BGPPeer object',
        namespace: 'it names every namespaced object',
        installCrds: 'it decides whether the CRDs are part of the stack',
        networkPolicy: 'it decides whether the policy agent runs',
      },
      build: buildCalicoStack,
    }), opts);
  }
}
