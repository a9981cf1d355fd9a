import { Construct } from 'constructs';
import * as calico from '../../imports/crd.projectcalico.org';
import { NetworkSetSpec, resolveNetworkSet } from '../../model/calico/policy';
import { checkObjectName } from '../../model/calico/pool';
import { clusterScoped } from '../common/cluster-scoped';

export interface CalicoNetworkSetProps extends NetworkSetSpec {
  readonly namespace: string;
}

/** Labelled CIDRs in one namespace that the namespace's policy selectors can match. */
export class CalicoNetworkSet extends Construct {
  public readonly resource: calico.NetworkSet;

  constructor(scope: Construct, id: string, props: CalicoNetworkSetProps) {
    super(scope, id);
    const set = resolveNetworkSet(props, `networkSet[${props.name}]`);
    this.resource = new calico.NetworkSet(this, 'Resource', {
      metadata: { name: set.name, namespace: checkObjectName(`networkSet[${props.name}].namespace`, props.namespace), labels: set.labels },
      spec: { nets: set.nets },
    });
  }
}

export type CalicoGlobalNetworkSetProps = NetworkSetSpec;

/** Labelled CIDRs that global policies (and namespaced ones, via `namespaceSelector: global()`) can match. */
export class CalicoGlobalNetworkSet extends Construct {
  public readonly resource: calico.GlobalNetworkSet;

  constructor(scope: Construct, id: string, props: CalicoGlobalNetworkSetProps) {
    super(scope, id);
    const set = resolveNetworkSet(props, `globalNetworkSet[${props.name}]`);
    this.resource = clusterScoped(new calico.GlobalNetworkSet(this, 'Resource', {
      metadata: { name: set.name, labels: set.labels },
      spec: { nets: set.nets },
    }));
  }
}
