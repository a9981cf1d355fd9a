import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { FLANNEL_STACK_NAME, FlannelNetwork as FlannelNetworkConstruct, FlannelNetworkProps } from '../constructs/flannel/flannel-network';
import { buildWithInputs, InputProps } from './input-props';
import { BuiltNetworkStack, NetworkStackComponent, NetworkStackSummary } from './network-stack';

/** What a deployer needs to know about a built `FlannelNetwork` construct. */
export function flannelSummary(network: FlannelNetworkConstruct): NetworkStackSummary {
  const families = [network.network.ipv4, network.network.ipv6];
  return {
    namespace: network.namespace.name,
    agentDaemonSetName: network.daemonSet.name,
    podNetworks: families.flatMap((family) => (family === undefined ? [] : [family.network])),
  };
}

/** Builds the `FlannelNetwork` construct in its own chart, as the bundled environments do. */
export function buildFlannelStack(props: FlannelNetworkProps): BuiltNetworkStack {
  const chart = new Chart(new App(), FLANNEL_STACK_NAME, { disableResourceNameHashes: true });
  return { chart, summary: flannelSummary(new FlannelNetworkConstruct(chart, 'Network', props)) };
}

/** The props that take a `pulumi.Input`: values, not the shape of the stack. */
export type FlannelNetworkInputKeys = 'podNetwork' | 'podNetworkV6' | 'serviceNetwork' | 'imageRegistry' | 'expectedNodeCount';

/** Props of the `FlannelNetwork` component: the construct's, with {@link FlannelNetworkInputKeys} as Inputs. */
export type FlannelNetworkArgs = InputProps<FlannelNetworkProps, FlannelNetworkInputKeys>;

/**
 * The Flannel-style stack as a Pulumi component (`cnikit:index:FlannelNetwork`): takes the props of
 * the `FlannelNetwork` construct, validates them before registering anything, and registers every
 * object the construct synthesizes as its own Kubernetes resource. The pod and service networks, the
 * image registry and the expected node count may be Inputs (e.g. another resource's outputs); they are
 * validated by the model once known.
 *
 * @example
 * const net = new FlannelNetwork('pods', { podNetwork: '10.244.0.0/16', backend: FlannelBackend.vxlan() }, { provider });
 * export const agent = net.agentDaemonSetName;
 */
export class FlannelNetwork extends NetworkStackComponent {
  constructor(name: string, props: FlannelNetworkArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    super('cnikit:index:FlannelNetwork', name, buildWithInputs<FlannelNetworkProps, FlannelNetworkInputKeys>(props, {
      field: 'flannel',
      // Stand-ins from ranges no cluster uses (RFC 2544 benchmarking, a ULA of our own): same layout as any value.
      standIns: {
        podNetwork: '198.18.0.0/16',
        podNetworkV6: 'fd00:c11:ca7::/48',
        serviceNetwork: '198.19.0.0/16',
        imageRegistry: 'stand-in.cnikit.invalid/images',
        expectedNodeCount: 1,
      },
      decideObjects: {
        enableIpv4: 'it decides whether the IPv4 network exists',
        namespace: 'it names every namespaced object',
      },
      build: buildFlannelStack,
    }), opts);
  }
}
