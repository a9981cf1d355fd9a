import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { FLANNEL_STACK_NAME, FlannelNetwork as FlannelNetworkConstruct, FlannelNetworkProps } from '../constructs/flannel/flannel-network';
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

/**
 * The Flannel-style stack as a Pulumi component (`cnikit:index:FlannelNetwork`): takes exactly the
 * props of the `FlannelNetwork` construct, validates them before registering anything, and registers
 * every object the construct synthesizes as its own Kubernetes resource.
 *
 * @example
 * const net = new FlannelNetwork('pods', { podNetwork: '10.244.0.0/16', backend: FlannelBackend.vxlan() }, { provider });
 * export const agent = net.agentDaemonSetName;
 */
export class FlannelNetwork extends NetworkStackComponent {
  constructor(name: string, props: FlannelNetworkProps = {}, opts?: pulumi.ComponentResourceOptions) {
    super('cnikit:index:FlannelNetwork', name, buildFlannelStack(props), opts);
  }
}
