import { Construct } from 'constructs';
import * as calico from '../../imports/crd.projectcalico.org';
import { NetworkPolicySpec, ResolvedPolicy, resolveNetworkPolicy } from '../../model/calico/policy';
import { toGeneratedEnum } from '../calico/custom-resources';
import { calicoRule } from './calico-rule';

export type CalicoNetworkPolicyProps = NetworkPolicySpec;

/**
 * A Calico NetworkPolicy (namespaced): ordered, with Allow/Deny/Pass/Log rules over protocols,
 * ports and port ranges, named ports, ICMP type/code, nets, selectors, namespace and
 * service-account selectors. Validated at construction; selectors are parsed.
 */
export class CalicoNetworkPolicy extends Construct {
  public readonly policy: ResolvedPolicy & { readonly namespace: string };
  public readonly resource: calico.NetworkPolicy;

  constructor(scope: Construct, id: string, props: CalicoNetworkPolicyProps) {
    super(scope, id);
    this.policy = resolveNetworkPolicy(props, `networkPolicy[${props.name}]`);
    const p = this.policy;
    this.resource = new calico.NetworkPolicy(this, 'Resource', {
      metadata: { name: p.name, namespace: p.namespace },
      spec: {
        order: p.order,
        tier: p.tier,
        selector: p.selector,
        serviceAccountSelector: p.serviceAccountSelector,
        types: p.types.map((t) => toGeneratedEnum(calico.NetworkPolicySpecTypes, t)),
        ingress: p.ingress.length > 0
          ? p.ingress.map((r) => calicoRule(r, calico.NetworkPolicySpecIngressAction, calico.NetworkPolicySpecIngressIpVersion)) : undefined,
        egress: p.egress.length > 0
          ? p.egress.map((r) => calicoRule(r, calico.NetworkPolicySpecEgressAction, calico.NetworkPolicySpecEgressIpVersion)) : undefined,
      },
    });
  }
}
