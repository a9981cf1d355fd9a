import { Construct } from 'constructs';
import * as calico from '../../imports/crd.projectcalico.org';
import { ResolvedTier, resolveTier, TierSpec } from '../../model/calico/policy';
import { clusterScoped } from '../common/cluster-scoped';
import { toGeneratedEnum } from '../calico/custom-resources';

export type CalicoTierProps = TierSpec;

/**
 * A Calico Tier (cluster-scoped): an ordered group of policies. Policies name it with `tier` and are
 * named `<tier>.<name>`; tiers run in order, each ending in its `defaultAction` for the endpoints its
 * policies select. The `default` tier (order 1,000,000) exists without one.
 */
export class CalicoTier extends Construct {
  public readonly tier: ResolvedTier;
  public readonly resource: calico.Tier;

  constructor(scope: Construct, id: string, props: CalicoTierProps) {
    super(scope, id);
    this.tier = resolveTier(props, `tier[${props.name}]`);
    this.resource = clusterScoped(new calico.Tier(this, 'Resource', {
      metadata: { name: this.tier.name },
      spec: { order: this.tier.order, defaultAction: toGeneratedEnum(calico.TierSpecDefaultAction, this.tier.defaultAction) },
    }));
  }
}
