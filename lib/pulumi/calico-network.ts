import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { CalicoNetwork as CalicoNetworkConstruct, CalicoNetworkProps } from '../constructs/calico/calico-network';
import { CALICO_STACK_NAME } from '../constructs/calico/names';
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

/**
 * The Calico-style stack as a Pulumi component (`cnikit:index:CalicoNetwork`): takes exactly the
 * props of the `CalicoNetwork` construct, validates them before registering anything, and registers
 * every object it synthesizes as its own resource: CRDs first, IP pools and the BGP, Felix and IPAM
 * settings (custom resources) once their CRDs are registered.
 */
export class CalicoNetwork extends NetworkStackComponent {
  constructor(name: string, props: CalicoNetworkProps = {}, opts?: pulumi.ComponentResourceOptions) {
    super('cnikit:index:CalicoNetwork', name, buildCalicoStack(props), opts);
  }
}
