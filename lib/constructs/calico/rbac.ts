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
const POLICY_INPUTS = ['networkpolicies', 'globalnetworkpolicies', 'networksets', 'globalnetworksets', 'hostendpoints'];

/**
 * The node agent (routes, BGP, policy, tunnel addresses). Each rule names why it exists.
 */
export function agentClusterRules(): RbacRule[] {
  return [
    // Policy needs pod labels/IPs, namespace and service-account labels; Kubernetes NetworkPolicy is compiled like Calico's.
    { apiGroups: [''], resources: ['pods', 'namespaces', 'serviceaccounts'], verbs: READ },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: READ },
    // Service advertisement (BGP) needs services and their endpoints (externalTrafficPolicy: Local).
    { apiGroups: [''], resources: ['services', 'endpoints'], verbs: READ },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
    // Every node's addresses, tunnel addresses, labels and BGP settings live on Node objects.
    { apiGroups: [''], resources: ['nodes'], verbs: READ },
    // The agent annotates its own Node (projectcalico.org/IPv4Address, IPv6Address, tunnel addresses) and clears
    // NetworkUnavailable, both through the status subresource: no cluster-wide relabel, taint or cordon.
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    // Reads every Calico kind that shapes the dataplane.
    {
      apiGroups: [CALICO],
      resources: ['ippools', 'ipamconfigs', 'ipreservations', 'bgpconfigurations', 'bgppeers', 'bgpfilters', 'felixconfigurations',
        'kubecontrollersconfigurations', ...POLICY_INPUTS],
      verbs: READ,
    },
    // Marks the datastore ready (the CNI plugin refuses to run until it is) and records the cluster GUID.
    { apiGroups: [CALICO], resources: ['clusterinformations'], verbs: ['get', 'list', 'watch', 'create', 'update'] },
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
    rules.push({ apiGroups: [''], resources: ['secrets'], verbs: READ, resourceNames: [...bgpPasswordSecrets] });
  }
  return rules;
}

/** The CNI plugin, run by the kubelet's container runtime per pod, with the token the agent mints. */
export function cniPluginClusterRules(): RbacRule[] {
  return [
    // Reads the pod (labels, annotations with pool requests), its namespace (pool annotations) and the node.
    { apiGroups: [''], resources: ['pods', 'nodes', 'namespaces'], verbs: ['get'] },
    // Writes the pod's IPs back (cni.projectcalico.org/podIP(s) annotations).
    { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
    // Allocates and releases addresses with compare-and-swap on blocks, affinities and handles.
    { apiGroups: [CALICO], resources: IPAM_KINDS, verbs: CRUD },
    // Picks pools, honours reservations and IPAM settings; checks datastoreReady.
    { apiGroups: [CALICO], resources: ['ippools', 'ipreservations', 'ipamconfigs', 'clusterinformations'], verbs: ['get', 'list', 'watch'] },
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
    { apiGroups: [CALICO], resources: ['clusterinformations'], verbs: ['get', 'list', 'watch'] },
  ];
}

/** Typha only fans out what the agents watch: read-only, nothing else. */
export function typhaClusterRules(): RbacRule[] {
  return [
    { apiGroups: [''], resources: ['pods', 'namespaces', 'serviceaccounts', 'services', 'endpoints', 'nodes'], verbs: READ },
    { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: READ },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
    {
      apiGroups: [CALICO],
      resources: ['ippools', 'ipamconfigs', 'ipreservations', 'bgpconfigurations', 'bgppeers', 'bgpfilters', 'felixconfigurations',
        'clusterinformations', 'kubecontrollersconfigurations', 'blockaffinities', 'ipamblocks', ...POLICY_INPUTS],
      verbs: READ,
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
