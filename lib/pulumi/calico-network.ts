import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { CalicoNetwork as CalicoNetworkConstruct, CalicoNetworkProps } from '../constructs/calico/calico-network';
import { CALICO_STACK_NAME } from '../constructs/calico/names';
import { BgpPeerSpec } from '../model/calico/bgp';
import { IpPoolSpec } from '../model/calico/pool';
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

/**
 * Props of the `CalicoNetwork` component: the construct's, with {@link CalicoNetworkInputKeys} as Inputs,
 * and in the pool and peer lists (plain lists: each item is an object) each pool's `cidr` and each peer's
 * `peerIp`, `asNumber` and `passwordSecretName`.
 */
export type CalicoNetworkArgs = Omit<InputProps<CalicoNetworkProps, CalicoNetworkInputKeys>, 'pools' | 'bgpPeers'> & {
  readonly pools?: readonly InputProps<IpPoolSpec, 'cidr'>[];
  readonly bgpPeers?: readonly InputProps<BgpPeerSpec, 'peerIp' | 'asNumber' | 'passwordSecretName'>[];
};

/**
 * The Calico-style stack as a Pulumi component (`cnikit:index:CalicoNetwork`): takes the props of the
 * `CalicoNetwork` construct, validates them before registering anything, and registers every object it
 * synthesizes as its own resource: CRDs first, IP pools and the BGP, Felix and IPAM settings (custom
 * resources) once their CRDs are registered. The service networks, the image registry, the AS number,
 * the route reflector cluster ID, each pool's CIDR and each peer's address, AS number and password
 * Secret may be Inputs; the node count and the pool and peer lists must be plain values, because they
 * decide which objects exist.
 */
export class CalicoNetwork extends NetworkStackComponent {
  constructor(name: string, props: CalicoNetworkArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super('cnikit:index:CalicoNetwork', name, buildWithInputs<CalicoNetworkProps, CalicoNetworkInputKeys>(props as CalicoNetworkProps, {
      field: 'calico',
      // Stand-ins from ranges no cluster uses (RFC 2544 benchmarking, a ULA of our own): same layout as any value.
      standIns: {
        serviceNetwork: '198.19.0.0/16',
        serviceNetworkV6: 'fd00:c11:ca7:5e::/112',
        imageRegistry: 'stand-in.cnikit.invalid/images',
        bgpAsNumber: 64512,
        bgpRouteReflectorClusterId: '198.18.0.1',
      },
      itemInputs: [
        // A pool's family is read from its block size: above 32 only an IPv6 pool can have it.
        { list: 'pools', field: 'cidr', standIn: (i, pool) => (Number(pool.blockSize ?? 0) > 32 ? `fd00:c11:${i + 1}::/48` : `240.${i}.0.0/16`) },
        { list: 'bgpPeers', field: 'peerIp', standIn: (i) => `198.18.255.${i + 1}` },
        { list: 'bgpPeers', field: 'asNumber', standIn: () => 64512 },
        { list: 'bgpPeers', field: 'passwordSecretName', standIn: () => 'cnikit-stand-in' },
      ],
      decideObjects: {
        nodeCount: 'it decides whether Typha runs, and with how many replicas',
        typha: 'it decides whether Typha runs',
        pools: 'each pool is an IPPool object (its cidr may be an Input)',
        bgpEnabled: 'it decides whether the BGP objects exist',
        bgpPeers: 'each peer is a BGPPeer object (its peerIp, asNumber and passwordSecretName may be Inputs)',
        namespace: 'it names every namespaced object',
        installCrds: 'it decides whether the CRDs are part of the stack',
        networkPolicy: 'it decides whether the policy agent runs',
      },
      build: buildCalicoStack,
    }), opts);
  }
}
