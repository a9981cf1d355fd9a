import { ApiObject } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { clusterScoped } from './cluster-scoped';

export interface PrivilegedNamespaceProps {
  /** The namespace's name. */
  readonly name: string;
  /**
   * Labels besides the Pod Security one.
   * @default none
   */
  readonly labels?: Record<string, string>;
}

/**
 * A namespace whose Pod Security admission level is `privileged`: node agents use the host network,
 * host paths and NET_ADMIN, which the `baseline` and `restricted` levels forbid.
 */
export class PrivilegedNamespace extends Construct {
  public readonly namespace: kplus.Namespace;

  constructor(scope: Construct, id: string, props: PrivilegedNamespaceProps) {
    super(scope, id);
    this.namespace = new kplus.Namespace(this, 'Resource', {
      metadata: {
        name: props.name,
        labels: { ...props.labels, 'pod-security.kubernetes.io/enforce': 'privileged' },
      },
    });
    clusterScoped(ApiObject.of(this.namespace));
  }
}
