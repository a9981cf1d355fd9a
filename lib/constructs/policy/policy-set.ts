import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { NamespaceUse, policyNamespaces } from '../../model/calico/policy';
import { ValidationError } from '../../model/errors';
import { clusterScoped } from '../common/cluster-scoped';
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
  /**
   * Render a Namespace for each namespace the network policies and network sets use, ahead of them,
   * so the set applies on a cluster that does not have those namespaces yet (`kubectl apply` fails
   * with NotFound otherwise). The built-in namespaces (`default`, `kube-system`, `kube-public`,
   * `kube-node-lease`) and `existingNamespaces` are never rendered. The rendered namespaces are then
   * the set's own: `kubectl delete -f` or `pulumi destroy` deletes them with everything in them, so
   * list the namespaces an application creates itself in `existingNamespaces` (or turn this off).
   * @default true
   */
  readonly createNamespaces?: boolean;
  /**
   * Namespaces created elsewhere (by the application's own manifests, another chart, the network
   * stack): not rendered even when `createNamespaces` is true.
   * @default - none
   */
  readonly existingNamespaces?: readonly string[];
}

/**
 * Renders a CalicoPolicySetProps; two objects of one kind with the same name (and namespace) are an
 * error. The Namespaces it renders (see `createNamespaces`) come first: every other object of the set
 * depends on them, so a chart holding the set emits them ahead of the objects, in apply order.
 */
export class CalicoPolicySet extends Construct {
  /** The names of the Namespaces this set renders, in order. */
  public readonly namespaces: readonly string[];

  constructor(scope: Construct, id: string, props: CalicoPolicySetProps) {
    super(scope, id);
    const namespaceScope = new Construct(this, 'Namespaces');
    const seen = new Set<string>();
    const claim = (field: string, kind: string, name: string, namespace = '') => {
      const key = `${kind}/${namespace}/${name}`;
      if (seen.has(key)) throw new ValidationError(field, name, `a ${kind} name not used twice${namespace ? ` in namespace ${namespace}` : ''}`);
      seen.add(key);
      return `${kind}-${namespace ? `${namespace}-` : ''}${name}`;
    };
    const namespaced: NamespaceUse[] = [];
    if (props.defaultDeny) {
      const deny = new DefaultDenyBaseline(this, 'DefaultDeny', props.defaultDeny);
      claim('policies.defaultDeny.name', 'GlobalNetworkPolicy', deny.policy.policy.name);
    }
    (props.globalNetworkPolicies ?? []).forEach((p, i) =>
      new CalicoGlobalNetworkPolicy(this, claim(`policies.globalNetworkPolicies[${i}].name`, 'GlobalNetworkPolicy', p.name), p));
    (props.networkPolicies ?? []).forEach((p, i) => {
      const policy = new CalicoNetworkPolicy(this, claim(`policies.networkPolicies[${i}].name`, 'NetworkPolicy', p.name, p.namespace), p);
      namespaced.push({ field: `policies.networkPolicies[${i}].namespace`, namespace: policy.policy.namespace });
    });
    (props.globalNetworkSets ?? []).forEach((s, i) =>
      new CalicoGlobalNetworkSet(this, claim(`policies.globalNetworkSets[${i}].name`, 'GlobalNetworkSet', s.name), s));
    (props.networkSets ?? []).forEach((s, i) => {
      const set = new CalicoNetworkSet(this, claim(`policies.networkSets[${i}].name`, 'NetworkSet', s.name, s.namespace), s);
      namespaced.push({ field: `policies.networkSets[${i}].namespace`, namespace: set.resource.metadata.namespace as string });
    });

    this.namespaces = policyNamespaces(namespaced, props);
    const created = this.namespaces.map((name) => renderNamespace(namespaceScope, name));
    // Every other object waits for all of them: the chart emits the Namespaces first, in order.
    for (const object of this.node.findAll().filter(ApiObject.isApiObject)) {
      if (!created.includes(object)) object.addDependency(...created);
    }
  }
}

function renderNamespace(scope: Construct, name: string): ApiObject {
  const namespace = new kplus.Namespace(scope, name, { metadata: { name } });
  return clusterScoped(ApiObject.of(namespace));
}
