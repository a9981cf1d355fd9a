import { KubeClient } from '../datastore/kube/client';
import { InvalidPolicyReport } from './datastore-sync';

/** Where each kind the policy agent reads lives in the Kubernetes API. */
const OBJECT_OF: Readonly<Record<string, { readonly apiVersion: string; readonly kind: string }>> = {
  KubernetesNetworkPolicy: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
  NetworkPolicy: { apiVersion: 'crd.projectcalico.org/v1', kind: 'NetworkPolicy' },
  GlobalNetworkPolicy: { apiVersion: 'crd.projectcalico.org/v1', kind: 'GlobalNetworkPolicy' },
  NetworkSet: { apiVersion: 'crd.projectcalico.org/v1', kind: 'NetworkSet' },
  GlobalNetworkSet: { apiVersion: 'crd.projectcalico.org/v1', kind: 'GlobalNetworkSet' },
  Tier: { apiVersion: 'crd.projectcalico.org/v1', kind: 'Tier' },
};

export const POLICY_AGENT_COMPONENT = 'cnikit-policy-agent';

/**
 * The core/v1 Event a refused policy version gets (Warning `InvalidPolicy`), or its repair
 * (Normal `PolicyAccepted`), on the object itself: `kubectl describe` shows it beside the policy.
 * Events of cluster-scoped objects go to namespace `default`, as the apiserver's own do. Pure.
 */
export function policyEvent(report: InvalidPolicyReport, node: string, now: Date): Record<string, unknown> {
  const involved = OBJECT_OF[report.kind] ?? { apiVersion: 'crd.projectcalico.org/v1', kind: report.kind };
  const namespace = report.namespace ?? 'default';
  const time = now.toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Event',
    // Named as the kubelet names its Events (object, then a time in hex), plus the node: every node's agent reports.
    metadata: { name: `${report.name}.${node}.${now.getTime().toString(16)}`.slice(0, 253), namespace },
    involvedObject: { ...involved, name: report.name, ...(report.namespace ? { namespace: report.namespace } : {}) },
    type: report.resolved ? 'Normal' : 'Warning',
    reason: report.resolved ? 'PolicyAccepted' : 'InvalidPolicy',
    message: report.message,
    source: { component: POLICY_AGENT_COMPONENT, host: node },
    reportingComponent: POLICY_AGENT_COMPONENT,
    reportingInstance: node,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}

/** Creates the Event (POST events in its namespace). */
export async function recordPolicyEvent(client: KubeClient, report: InvalidPolicyReport, node: string, now = new Date()): Promise<void> {
  const event = policyEvent(report, node, now);
  const namespace = (event.metadata as { namespace: string }).namespace;
  await client.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, { body: event });
}
