import { k8s } from 'cdk8s-plus-28';
import { Construct } from 'constructs';
import { clusterScoped } from '../common/cluster-scoped';

/** One RBAC rule, as written in a (Cluster)Role. */
export interface RbacRule {
  readonly apiGroups: readonly string[];
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
  readonly resourceNames?: readonly string[];
}

/** Only `crd.projectcalico.org`: the kit serves no aggregated `projectcalico.org` API, so upstream's second group is not needed. */
const CALICO = 'crd.projectcalico.org';
const LIST_WATCH = ['list', 'watch'];
/** What the policy agent reads (lib/dataplane/policy/keys.ts); HostEndpoints are not enforced, so not read. */
const POLICY_INPUTS = ['networkpolicies', 'globalnetworkpolicies', 'networksets', 'globalnetworksets', 'tiers'];

/*
 * Every verb below is one the kit's code calls: the cluster lab's audit log proves it for dev,
 * staging and prod (lib/lab/cluster/rbac-usage.ts fails on a grant no call used), except the few
 * paths the lab cannot provoke, listed with their call sites in RBAC_USAGE_EXEMPTIONS there. The
 * roles follow the deployment: what Typha serves is not granted to the agents it serves, and IPAM
 * writes only to agents that need a tunnel address.
 */

/**
 * Block IPAM (lib/dataplane/ipam/block-ipam.ts) for one address at a time: settings, pools and
 * reservations read once per assignment; the node's affinities listed; a block claimed when the node
 * has none with room (affinity created pending → block created → affinity confirmed; a lost race
 * withdraws the affinity); an address taken from a block and counted on its handle (compare-and-swap
 * on both); released by handle. Nothing here lists handles, gets affinities or deletes blocks.
 */
function ipamAssignRules(): RbacRule[] {
  return [
    { apiGroups: [CALICO], resources: ['ipamconfigs'], verbs: ['get'] },
    { apiGroups: [CALICO], resources: ['ippools', 'ipreservations'], verbs: ['list'] },
    { apiGroups: [CALICO], resources: ['blockaffinities'], verbs: ['list', 'create', 'update', 'delete'] },
    { apiGroups: [CALICO], resources: ['ipamblocks'], verbs: ['get', 'list', 'create', 'update'] },
    { apiGroups: [CALICO], resources: ['ipamhandles'], verbs: ['get', 'create', 'update', 'delete'] },
  ];
}

/** How the stack deploys the node agent, which decides what it calls. */
export interface AgentRbacOptions {
  /**
   * Typha serves the agents (FELIX_TYPHAK8SSERVICENAME): they find it through its Service's Endpoints
   * and never list or watch what it serves (lib/dataplane/typha/agent-feed.ts). @default false
   */
  readonly typha?: boolean;
  /**
   * The policy agent runs in the agent's pod: it records an Event on each policy version it refuses
   * (lib/dataplane/policy/events.ts). @default false
   */
  readonly policyAgent?: boolean;
  /**
   * A pool is encapsulated (VXLAN or IPIP): the agent claims its node's tunnel address from IPAM.
   * Without encapsulation it writes no IPAM at all (the CNI plugin allocates pod addresses). @default true
   */
  readonly tunnelAddress?: boolean;
}

/**
 * The node agent (routes, BGP, policy, tunnel addresses). Each rule names why it exists and, like
 * every rule here, is used by a call in the cluster lab (lib/lab/cluster/rbac-usage.ts).
 */
export function agentClusterRules(options: AgentRbacOptions = {}): RbacRule[] {
  const typha = options.typha ?? false;
  const rules: RbacRule[] = [];
  if (typha) {
    // Finds Typha through its Service's Endpoints (FELIX_TYPHAK8SSERVICENAME), one get per connect;
    // Typha holds every list and watch below on the agents' behalf.
    rules.push({ apiGroups: [''], resources: ['endpoints'], verbs: ['get'] });
  } else {
    // The agents' own watch caches (list once, then watch) — the Calico agent's (CALICO_AGENT_PREFIXES)
    // and the policy agent's (policy/keys.ts): pod labels/IPs, namespace and service-account labels,
    // Kubernetes NetworkPolicy (compiled like Calico's), every node's addresses and BGP settings,
    // pools, blocks (remote blocks are routed), BGP, Felix settings and the Calico policy kinds.
    rules.push(
      { apiGroups: [''], resources: ['pods', 'namespaces', 'serviceaccounts', 'nodes'], verbs: LIST_WATCH },
      { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: LIST_WATCH },
      {
        apiGroups: [CALICO],
        resources: ['ippools', 'ipamblocks', 'bgpconfigurations', 'bgppeers', 'bgpfilters', 'felixconfigurations', ...POLICY_INPUTS],
        verbs: LIST_WATCH,
      },
    );
  }
  rules.push(
    // Registration reads its own Node, then annotates it (projectcalico.org/IPv4Address, IPv6Address, tunnel
    // addresses) and clears NetworkUnavailable, both through the status subresource: no `patch nodes`, so no
    // cluster-wide relabel, taint or cordon.
    { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
  );
  if (options.policyAgent ?? false) rules.push(POLICY_EVENTS_RULE);
  if (options.tunnelAddress ?? true) {
    // Claims its node's tunnel address (VXLAN, IPIP): block IPAM, as the CNI plugin does for pods.
    rules.push(...ipamAssignRules());
  } else if (typha) {
    // Start-up reads the pools once, from the apiserver (IPIP check, MTU, state files).
    rules.push({ apiGroups: [CALICO], resources: ['ippools'], verbs: ['list'] });
  }
  return rules;
}

/** Namespaced rules of the agent (in the stack's namespace only). */
export function agentNamespaceRules(bgpPasswordSecrets: readonly string[]): RbacRule[] {
  const rules: RbacRule[] = [
    // Mints the CNI plugin's short-lived token and rewrites its kubeconfig before it expires (upstream issue #5712).
    { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: ['calico-cni-plugin'] },
  ];
  if (bgpPasswordSecrets.length > 0) {
    // Reads only the Secrets named by BGP peers for their TCP-MD5 passwords.
    rules.push({ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [...bgpPasswordSecrets] });
  }
  return rules;
}

/**
 * The CNI plugin, run by the kubelet's container runtime per pod, with the token the agent mints:
 * block IPAM for the pod's addresses (ADD), released by handle (DEL). One call at a time: no watch.
 */
export function cniPluginClusterRules(): RbacRule[] {
  return ipamAssignRules();
}

/**
 * The controllers (node controller: lib/dataplane/calico/controllers.ts). Each pass lists nodes, pods
 * and blocks; it frees addresses whose node is gone (or whose pod stayed gone for the leak grace
 * period) from their blocks and handles, then removes a deleted node's affinities and its emptied
 * blocks. Its settings are KubeControllersConfiguration `default`, followed as kube-controllers
 * does (kube-controllers-config.ts): `get` of it at start-up and after each change, `list` + `watch`
 * of the kind. Unlike kube-controllers it neither creates a missing `default` (the manifests declare
 * it) nor writes its status, so no `create` or `update`. It creates nothing else and watches nothing else.
 */
export function controllersClusterRules(): RbacRule[] {
  return [
    { apiGroups: [''], resources: ['nodes', 'pods'], verbs: ['list'] },
    { apiGroups: [CALICO], resources: ['kubecontrollersconfigurations'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [CALICO], resources: ['ipamblocks'], verbs: ['get', 'list', 'update', 'delete'] },
    { apiGroups: [CALICO], resources: ['ipamhandles'], verbs: ['get', 'update', 'delete'] },
    { apiGroups: [CALICO], resources: ['blockaffinities'], verbs: ['list', 'delete'] },
  ];
}

/** Typha lists and watches exactly what it serves (lib/dataplane/typha/prefixes.ts): nothing else. */
export function typhaClusterRules(): RbacRule[] {
  return [
    { apiGroups: [''], resources: ['pods', 'namespaces', 'serviceaccounts', 'nodes'], verbs: LIST_WATCH },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: LIST_WATCH },
    {
      apiGroups: [CALICO],
      resources: ['ippools', 'ipamblocks', 'bgpconfigurations', 'bgppeers', 'bgpfilters', 'felixconfigurations', ...POLICY_INPUTS],
      verbs: LIST_WATCH,
    },
  ];
}

/** The policy agent's one write: an Event on a policy (in any namespace) whose version it refuses. */
export const POLICY_EVENTS_RULE: RbacRule = { apiGroups: [''], resources: ['events'], verbs: ['create'] };

function toKube(rules: readonly RbacRule[]): k8s.PolicyRule[] {
  return rules.map((r) => ({
    apiGroups: [...r.apiGroups],
    resources: [...r.resources],
    verbs: [...r.verbs],
    ...(r.resourceNames ? { resourceNames: [...r.resourceNames] } : {}),
  }));
}

export interface ComponentRbacProps {
  /** Name of the ServiceAccount, ClusterRole and bindings. */
  readonly name: string;
  /** Namespace of the ServiceAccount (and of namespaced Roles). */
  readonly namespace: string;
  readonly clusterRules: readonly RbacRule[];
  /** @default - no namespaced Role */
  readonly namespaceRules?: readonly RbacRule[];
  /** Labels on every object. @default - none */
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * One component's identity: a ServiceAccount, a ClusterRole with exactly the rules it needs
 * and its binding, plus a namespaced Role when some rights must stay inside the namespace.
 * L1 objects: the rules render exactly as written (cdk8s-plus would split them one per resource).
 */
export class ComponentRbac extends Construct {
  public readonly serviceAccount: k8s.KubeServiceAccount;
  public readonly clusterRole: k8s.KubeClusterRole;

  constructor(scope: Construct, id: string, props: ComponentRbacProps) {
    super(scope, id);
    const labels = props.labels ? { ...props.labels } : undefined;
    const subject = { kind: 'ServiceAccount', name: props.name, namespace: props.namespace };
    this.serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: props.name, namespace: props.namespace, labels },
    });
    this.clusterRole = clusterScoped(new k8s.KubeClusterRole(this, 'ClusterRole', {
      metadata: { name: props.name, labels },
      rules: toKube(props.clusterRules),
    }));
    clusterScoped(new k8s.KubeClusterRoleBinding(this, 'ClusterRoleBinding', {
      metadata: { name: props.name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: props.name },
      subjects: [subject],
    }));
    if (props.namespaceRules && props.namespaceRules.length > 0) {
      new k8s.KubeRole(this, 'Role', {
        metadata: { name: props.name, namespace: props.namespace, labels },
        rules: toKube(props.namespaceRules),
      });
      new k8s.KubeRoleBinding(this, 'RoleBinding', {
        metadata: { name: props.name, namespace: props.namespace, labels },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: props.name },
        subjects: [subject],
      });
    }
  }
}
