import { Construct } from 'constructs';
import * as calico from '../../imports/crd.projectcalico.org';
import { GlobalNetworkPolicySpec, ResolvedGlobalPolicy, resolveGlobalNetworkPolicy } from '../../model/calico/policy';
import { toGeneratedEnum } from '../calico/custom-resources';
import { clusterScoped } from '../common/cluster-scoped';
import { calicoRule } from './calico-rule';

export type CalicoGlobalNetworkPolicyProps = GlobalNetworkPolicySpec;

/**
 * A Calico GlobalNetworkPolicy: like CalicoNetworkPolicy for endpoints in every namespace (narrowed
 * by a namespace selector) and for host endpoints (doNotTrack, preDNAT, applyOnForward).
 */
export class CalicoGlobalNetworkPolicy extends Construct {
  public readonly policy: ResolvedGlobalPolicy;
  public readonly resource: calico.GlobalNetworkPolicy;

  constructor(scope: Construct, id: string, props: CalicoGlobalNetworkPolicyProps) {
    super(scope, id);
    this.policy = resolveGlobalNetworkPolicy(props, `globalNetworkPolicy[${props.name}]`);
    const p = this.policy;
    this.resource = clusterScoped(new calico.GlobalNetworkPolicy(this, 'Resource', {
      metadata: { name: p.name },
      spec: {
        order: p.order,
        tier: p.tier,
        selector: p.selector,
        namespaceSelector: p.namespaceSelector,
        serviceAccountSelector: p.serviceAccountSelector,
        types: p.types.map((t) => toGeneratedEnum(calico.GlobalNetworkPolicySpecTypes, t)),
        ingress: p.ingress.length > 0
          ? p.ingress.map((r) => calicoRule(r, calico.GlobalNetworkPolicySpecIngressAction, calico.GlobalNetworkPolicySpecIngressIpVersion)) : undefined,
        egress: p.egress.length > 0
          ? p.egress.map((r) => calicoRule(r, calico.GlobalNetworkPolicySpecEgressAction, calico.GlobalNetworkPolicySpecEgressIpVersion)) : undefined,
        doNotTrack: p.doNotTrack || undefined,
        preDnat: p.preDNAT || undefined,
        applyOnForward: p.applyOnForward || undefined,
      },
    }));
  }
}
