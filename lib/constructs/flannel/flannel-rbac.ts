import * as kplus from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { clusterScoped } from '../common/cluster-scoped';
import { policyAgentClusterRules } from '../common/policy-agent';

export interface FlannelRbacProps {
  /** Name of the ServiceAccount, ClusterRole and ClusterRoleBinding. */
  readonly name: string;
  /** Namespace of the ServiceAccount. */
  readonly namespace: string;
  readonly labels: Record<string, string>;
  /** Also grant what the policy agent reads (pods, namespaces, service accounts, policies). */
  readonly networkPolicy: boolean;
}

/**
 * The agent's identity and the least privilege it needs. The ClusterRole is written with the L1
 * class: cdk8s-plus's `allow()` emits one rule per resource with an empty `resourceNames`, and the
 * rules here are clearer (and reviewable) exactly as the API server stores them.
 */
export class FlannelRbac extends Construct {
  public readonly serviceAccount: kplus.ServiceAccount;
  public readonly clusterRole: kplus.k8s.KubeClusterRole;
  public readonly clusterRoleBinding: kplus.k8s.KubeClusterRoleBinding;

  constructor(scope: Construct, id: string, props: FlannelRbacProps) {
    super(scope, id);
    this.serviceAccount = new kplus.ServiceAccount(this, 'ServiceAccount', {
      metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
      // The agent talks to the API server with this account's token.
      automountToken: true,
    });

    this.clusterRole = clusterScoped(new kplus.k8s.KubeClusterRole(this, 'ClusterRole', {
      metadata: { name: props.name, labels: props.labels },
      rules: [
        // Every node, through one watch cache (list once, then watch): its own podCIDRs (the lease) and the
        // peers' annotations (backend data, public IP). No `get`: its own Node is read from the cache; and no
        // `pods get` (flannel finds its node through its pod): the DaemonSet sets NODE_NAME, which the agent requires.
        // The cluster lab's audit log shows each verb used (lib/lab/cluster/rbac-usage.ts).
        { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
        // Its own node's annotations and the NetworkUnavailable condition, both patched via the status subresource.
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
        // The policy agent, only when it runs: read-only, list + watch.
        ...(props.networkPolicy ? policyAgentClusterRules().map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })) : []),
      ],
    }));

    this.clusterRoleBinding = clusterScoped(new kplus.k8s.KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata: { name: props.name, labels: props.labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: this.clusterRole.name },
      subjects: [{ kind: 'ServiceAccount', name: this.serviceAccount.name, namespace: props.namespace }],
    }));
  }
}
