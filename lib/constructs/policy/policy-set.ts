import { Construct } from 'constructs';
import { ValidationError } from '../../model/errors';
import { CalicoGlobalNetworkPolicy, CalicoGlobalNetworkPolicyProps } from './calico-global-network-policy';
import { CalicoNetworkPolicy, CalicoNetworkPolicyProps } from './calico-network-policy';
import { DefaultDenyBaseline, DefaultDenyBaselineProps } from './default-deny';
import { CalicoGlobalNetworkSet, CalicoGlobalNetworkSetProps, CalicoNetworkSet, CalicoNetworkSetProps } from './network-set';

/** A set of policies and network sets described as data (what an environment deploys with its network). */
export interface CalicoPolicySetProps {
  /** Cluster-wide default deny that keeps DNS working. @default - no baseline */
  readonly defaultDeny?: DefaultDenyBaselineProps;
  /** @default - none */
  readonly networkPolicies?: readonly CalicoNetworkPolicyProps[];
  /** @default - none */
  readonly globalNetworkPolicies?: readonly CalicoGlobalNetworkPolicyProps[];
  /** @default - none */
  readonly networkSets?: readonly CalicoNetworkSetProps[];
  /** @default - none */
  readonly globalNetworkSets?: readonly CalicoGlobalNetworkSetProps[];
}

/** Renders a CalicoPolicySetProps; two objects of one kind with the same name (and namespace) are an error. */
export class CalicoPolicySet extends Construct {
  constructor(scope: Construct, id: string, props: CalicoPolicySetProps) {
    super(scope, id);
    const seen = new Set<string>();
    const claim = (field: string, kind: string, name: string, namespace = '') => {
      const key = `${kind}/${namespace}/${name}`;
      if (seen.has(key)) throw new ValidationError(field, name, `a ${kind} name not used twice${namespace ? ` in namespace ${namespace}` : ''}`);
      seen.add(key);
      return `${kind}-${namespace ? `${namespace}-` : ''}${name}`;
    };
    if (props.defaultDeny) {
      const deny = new DefaultDenyBaseline(this, 'DefaultDeny', props.defaultDeny);
      claim('policies.defaultDeny.name', 'GlobalNetworkPolicy', deny.policy.policy.name);
    }
    (props.globalNetworkPolicies ?? []).forEach((p, i) =>
      new CalicoGlobalNetworkPolicy(this, claim(`policies.globalNetworkPolicies[${i}].name`, 'GlobalNetworkPolicy', p.name), p));
    (props.networkPolicies ?? []).forEach((p, i) =>
      new CalicoNetworkPolicy(this, claim(`policies.networkPolicies[${i}].name`, 'NetworkPolicy', p.name, p.namespace), p));
    (props.globalNetworkSets ?? []).forEach((s, i) =>
      new CalicoGlobalNetworkSet(this, claim(`policies.globalNetworkSets[${i}].name`, 'GlobalNetworkSet', s.name), s));
    (props.networkSets ?? []).forEach((s, i) =>
      new CalicoNetworkSet(this, claim(`policies.networkSets[${i}].name`, 'NetworkSet', s.name, s.namespace), s));
  }
}
