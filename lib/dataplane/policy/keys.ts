/**
 * Where the policy inputs live, in Calico's key layout — the same keys in both datastores:
 *
 * - etcd: under `/calico/resources/v3/projectcalico.org/`, as the kit's CNI plugin (workload
 *   endpoints) and Calico's Kubernetes controllers (profiles, `knp.default.*` policies) write them.
 * - Kubernetes: `KubeCrdStore`'s read-only views (datastore/kube/policy-views.ts), converted from
 *   pods, namespaces, service accounts, `networking.k8s.io` NetworkPolicies and Calico's CRDs on
 *   every read, as libcalico-go's Kubernetes datastore driver does.
 *
 * Namespaced kinds are `<plural>/<namespace>/<name>`, cluster-scoped ones `<plural>/<name>`; values
 * are whole documents (`{apiVersion, kind, metadata, spec}`), because labels live in metadata.
 *
 * Every prefix is fed by exactly one Kubernetes resource, so one list + watch (one resourceVersion
 * sequence) follows it: that is what a watch cache subscription per prefix (storeFeed, Typha)
 * needs. Hence profiles are two prefixes (`kns.` from namespaces, `ksa.` from service accounts),
 * and converted Kubernetes NetworkPolicies have a plural of their own (Calico's model kind
 * `KubernetesNetworkPolicy`) instead of sharing `networkpolicies/` with Calico's CRs. In etcd
 * `kubernetesnetworkpolicies/` is simply empty (there the controllers write `knp.default.*` into
 * `networkpolicies/`), and the agent reads no other profiles than these two kinds.
 */
export const POLICY_KEYS = {
  /** `<ns>/<node>-k8s-<pod>-eth0`: the pod as Calico's WorkloadEndpoint. */
  workloadEndpoints: 'workloadendpoints/',
  /** `kns.<ns>`: a namespace's labels as `labelsToApply` with the `pcns.` prefix. */
  namespaceProfiles: 'profiles/kns.',
  /** `ksa.<ns>.<sa>`: a service account's labels with the `pcsa.` prefix. */
  serviceAccountProfiles: 'profiles/ksa.',
  /** `<ns>/<name>`: Calico NetworkPolicy. */
  networkPolicies: 'networkpolicies/',
  /** `<ns>/knp.default.<name>`: a Kubernetes NetworkPolicy converted into a Calico NetworkPolicy. */
  kubernetesNetworkPolicies: 'kubernetesnetworkpolicies/',
  globalNetworkPolicies: 'globalnetworkpolicies/',
  /** `<ns>/<name>` */
  networkSets: 'networksets/',
  globalNetworkSets: 'globalnetworksets/',
  /** `<name>`: Calico Tier (order, defaultAction); the `default` tier exists without one. */
  tiers: 'tiers/',
} as const;

/** What the policy agent's watch cache holds (and Typha serves for it): one subscription each. */
export const POLICY_PREFIXES: readonly string[] = Object.values(POLICY_KEYS);

/** The name prefix of a Kubernetes NetworkPolicy converted into a Calico one (Calico's `knp.default.`). */
export const KUBERNETES_POLICY_NAME_PREFIX = 'knp.default.';
