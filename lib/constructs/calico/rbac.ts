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

const CALICO = 'crd.projectcalico.org';
const READ = ['get', 'list', 'watch'];
const CRUD = ['get', 'list', 'watch', 'create', 'update', 'delete'];
/** Only `crd.projectcalico.org`: the kit serves no aggregated `projectcalico.org` API, so upstream's second group is not needed. */
const IPAM_KINDS = ['blockaffinities', 'ipamblocks', 'ipamhandles'];
/** What the policy agent reads (lib/dataplane/policy/keys.ts); HostEndpoints are not enforced, so not read. */
const POLICY_INPUTS = ['networkpolicies', 'globalnetworkpolicies', 'networksets', 'globalnetworksets'];
/** Typha lists and watches; it never gets one object. */
const LIST_WATCH = ['list', 'watch'];

/**
 * The node agent (routes, BGP, policy, tunnel addresses). Each rule names why it exists; the cluster
 * lab's audit log shows which ones a deployment uses (with Typha the reads of resources Typha serves go
 * unused: they are the agents' path when Typha is off or unreachable).
 */
export function agentClusterRules(): RbacRule[] {
  return [
    // Policy needs pod labels/IPs, namespace and service-account labels; Kubernetes NetworkPolicy is compiled like Calico's.
    { apiGroups: [''], resources: ['pods', 'namespaces', 'serviceaccounts'], verbs: READ },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: READ },
    // Finds Typha through its Service's Endpoints (FELIX_TYPHAK8SSERVICENAME), one get per connect.
    { apiGroups: [''], resources: ['endpoints'], verbs: ['get'] },
    // Every node's addresses, tunnel addresses, labels and BGP settings live on Node objects.
    { apiGroups: [''], resources: ['nodes'], verbs: READ },
    // The agent annotates its own Node (projectcalico.org/IPv4Address, IPv6Address, tunnel addresses) and clears
    // NetworkUnavailable, both through the status subresource: no cluster-wide relabel, taint or cordon.
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    // Reads every Calico kind that shapes the dataplane.
    {
      apiGroups: [CALICO],
      resources: ['ippools', 'ipamconfigs', 'ipreservations', 'bgpconfigurations', 'bgppeers', 'bgpfilters', 'felixconfigurations', ...POLICY_INPUTS],
      verbs: READ,
    },
    // Claims blocks and tunnel addresses for its own node.
    { apiGroups: [CALICO], resources: IPAM_KINDS, verbs: CRUD },
  ];
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

/** The CNI plugin, run by the kubelet's container runtime per pod, with the token the agent mints. */
export function cniPluginClusterRules(): RbacRule[] {
  return [
    // Allocates and releases addresses with compare-and-swap on blocks, affinities and handles (one call at a time: no watch).
    { apiGroups: [CALICO], resources: IPAM_KINDS, verbs: ['get', 'list', 'create', 'update', 'delete'] },
    // Picks pools, honours reservations and IPAM settings.
    { apiGroups: [CALICO], resources: ['ippools', 'ipreservations', 'ipamconfigs'], verbs: ['get', 'list'] },
  ];
}

/** The controllers (node controller: IPAM garbage collection, node clean-up). */
export function controllersClusterRules(): RbacRule[] {
  return [
    // Finds deleted nodes and pods whose addresses leaked.
    { apiGroups: [''], resources: ['nodes', 'pods'], verbs: READ },
    // Releases leaked addresses and the blocks/affinities of deleted nodes.
    { apiGroups: [CALICO], resources: IPAM_KINDS, verbs: CRUD },
    { apiGroups: [CALICO], resources: ['ippools', 'ipamconfigs', 'ipreservations'], verbs: READ },
    // Reads its own settings and reports their status.
    { apiGroups: [CALICO], resources: ['kubecontrollersconfigurations'], verbs: [...READ, 'create', 'update'] },
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
