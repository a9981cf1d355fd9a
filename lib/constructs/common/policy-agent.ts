import * as kplus from 'cdk8s-plus-28';
import { POLICY_AGENT, PolicyAgentMode, policyAgentArgs } from '../../model/policy-agent';
import { downwardApiEnv, nodeAgentResources } from './node-agent';

/** One RBAC rule, as written in a (Cluster)Role. */
export interface PolicyAgentRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * What the policy agent reads, cluster-wide (KubeCrdStore's policy views, lib/dataplane/datastore/kube/
 * policy-views.ts, through its watch cache): only `list` + `watch` (it never gets one object); and the
 * Events it records on policies it refuses. Calico's policy CRDs are listed in the Flannel-style stack too: the agent watches them in
 * every cluster and treats absent CRDs as empty. Where Typha runs, Typha holds these watches and the
 * agent only gets Typha's Endpoints.
 */
export function policyAgentClusterRules(): PolicyAgentRule[] {
  const read = ['list', 'watch'];
  return [
    // Endpoints are pods (labels, addresses, service account); namespace and service-account labels feed selectors.
    { apiGroups: [''], resources: ['pods', 'namespaces', 'serviceaccounts'], verbs: read },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: read },
    { apiGroups: ['crd.projectcalico.org'], resources: ['networkpolicies', 'globalnetworkpolicies', 'networksets', 'globalnetworksets', 'tiers'], verbs: read },
    // Its one write: an Event on a policy whose version it refuses (lib/dataplane/policy/events.ts).
    { apiGroups: [''], resources: ['events'], verbs: ['create'] },
  ];
}

/**
 * Adds the policy agent (docs/policy.md) to a node agent's DaemonSet (host network, pod service account
 * token mounted): it follows pods, namespaces, service accounts and policies through the API server (or
 * Typha, when `env` names it: FELIX_TYPHAK8SSERVICENAME) and enforces them for this node's pods in its
 * own nftables table (`inet cnikit-policy`).
 */
export function addPolicyAgent(ds: kplus.DaemonSet, image: string, mode: PolicyAgentMode, env: Readonly<Record<string, kplus.EnvValue>> = {}): void {
  ds.addContainer({
    name: POLICY_AGENT.containerName,
    image,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    command: [POLICY_AGENT.executable],
    args: policyAgentArgs(mode),
    envVariables: { NODE_NAME: downwardApiEnv().NODE_NAME, ...env },
    // Root with NET_ADMIN only: nftables is programmed over netlink in the host network namespace, which
    // needs CAP_NET_ADMIN and nothing else (no raw socket: the nft backend, never iptables-legacy; no
    // module loading: the kernel autoloads nf_tables; no host paths). Root because a non-root process
    // gets no effective capabilities from `capabilities.add`. Nothing is written to the root filesystem.
    securityContext: {
      ensureNonRoot: false,
      user: 0,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { add: [kplus.Capability.NET_ADMIN], drop: [kplus.Capability.ALL] },
      seccompProfile: { type: kplus.SeccompProfileType.RUNTIME_DEFAULT },
    },
    // No probes: the agent serves no health endpoint. It exits on a fatal error (the container restarts),
    // and its table stays in place meanwhile, so the node's pods stay protected.
    // Requests for the scheduler (it holds every pod, namespace and policy of the cluster); no CPU limit.
    resources: nodeAgentResources(50, 64),
  });
}
