import { workloadEndpointName, workloadVethName, hostCidr } from '../../calico/workload-endpoint';
import { KUBERNETES_POLICY_NAME_PREFIX, POLICY_KEYS } from '../../policy/keys';
import { fromKubernetesNetworkPolicy, K8sLabelSelector, K8sNetworkPolicy, KUBERNETES_POLICY_ORDER, labelSelectorToCalico } from '../../policy/kubernetes';
import { JsonObject, JsonValue } from '../types';
import { CALICO_CRD_GROUP, CALICO_CRD_VERSION, ResourcePath } from './resource';
import { KubeObject } from './types';

/**
 * A read-only part of `KubeCrdStore`'s key space computed from one Kubernetes resource: every key
 * under `prefix` is an object of `resource` (listed and watched cluster-wide), converted on read.
 * What libcalico-go's Kubernetes datastore driver does for Felix: pods are WorkloadEndpoints,
 * namespaces and service accounts are profiles, Kubernetes NetworkPolicies are Calico ones.
 */
export interface KubeView {
  /** The key prefix the view answers, e.g. `workloadendpoints/`, `profiles/kns.`. */
  readonly prefix: string;
  /** Where the objects are (no namespace: the cluster-wide collection). */
  readonly resource: ResourcePath;
  /** Namespaced objects are read with their namespace (get). */
  readonly namespaced: boolean;
  /**
   * An absent resource (404: a CRD that is not installed, as Calico's policy kinds on a
   * Flannel-style cluster) reads as empty, and is looked for again now and then.
   */
  readonly optional: boolean;
  /** The object's key (also for objects the view leaves out, so that leaving out is a delete). */
  key(object: KubeObject): string;
  /** The stored document, or undefined when the object is not part of the view (a host-network pod). */
  value(object: KubeObject): JsonObject | undefined;
  /** Where the object a key names lives, or undefined when the key cannot name one. */
  locate(key: string): { readonly namespace?: string; readonly name: string } | undefined;
}

type Obj = { [key: string]: JsonValue };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): Record<string, string> => (isObj(v) ? Object.fromEntries(Object.entries(v).filter(([, x]) => typeof x === 'string')) as Record<string, string> : {});
const metaOf = (o: KubeObject) => ({ name: o.metadata.name, namespace: o.metadata.namespace ?? 'default' });
/** The labels a document keeps: only strings, and only when there are some. */
const labelsOf = (o: KubeObject) => strings(o.metadata.labels);

/** Calico's labels on every workload endpoint (libcalico-go `apiv3.Label*`). */
export const WEP_LABELS = {
  namespace: 'projectcalico.org/namespace',
  orchestrator: 'projectcalico.org/orchestrator',
  serviceAccount: 'projectcalico.org/serviceaccount',
} as const;
/** The pod annotation the Calico CNI plugin records the sandbox's container ID in. */
const CONTAINER_ID_ANNOTATION = 'cni.projectcalico.org/containerID';
/** Calico's profile label prefixes (libcalico-go `conversion.NamespaceLabelPrefix` / `ServiceAccountLabelPrefix`). */
export const PROFILE_LABEL_PREFIX = { namespace: 'pcns.', serviceAccount: 'pcsa.' } as const;
/** The label every profile carries with the namespace's / service account's own name. */
const PROFILE_NAME_LABEL = 'projectcalico.org/name';

/** The pod's interface as Calico's Kubernetes conversion names it: always `eth0`. */
const POD_INTERFACE = 'eth0';

/**
 * A pod as the WorkloadEndpoint document the etcd-mode CNI plugin writes (workload-endpoint.ts),
 * plus what Calico's conversion adds: the service-account label and profile, named container ports.
 * Not an endpoint (undefined): host-network pods, pods not yet scheduled or without an address,
 * and finished pods (Succeeded / Failed), as libcalico-go skips them.
 */
export function workloadEndpointFromPod(pod: KubeObject): JsonObject | undefined {
  const o = pod as KubeObject & { spec?: unknown; status?: unknown };
  const spec = isObj(o.spec) ? o.spec : {};
  const status = isObj(o.status) ? o.status : {};
  if (spec.hostNetwork === true || status.phase === 'Succeeded' || status.phase === 'Failed') return undefined;
  const node = typeof spec.nodeName === 'string' ? spec.nodeName : '';
  const ips = Array.isArray(status.podIPs) ? status.podIPs.filter(isObj).map((p) => p.ip).filter((ip): ip is string => typeof ip === 'string' && ip !== '')
    : typeof status.podIP === 'string' && status.podIP ? [status.podIP] : [];
  if (!node || ips.length === 0) return undefined;
  const { name, namespace } = metaOf(pod);
  // The ServiceAccount admission plugin sets `default` when a pod names none.
  const serviceAccount = typeof spec.serviceAccountName === 'string' && spec.serviceAccountName ? spec.serviceAccountName : 'default';
  const ports: Obj[] = (Array.isArray(spec.containers) ? spec.containers : []).filter(isObj)
    .flatMap((c) => (Array.isArray(c.ports) ? c.ports : [])).filter(isObj)
    .filter((p) => typeof p.name === 'string' && p.name !== '')
    .map((p) => ({ name: p.name as string, protocol: typeof p.protocol === 'string' ? p.protocol : 'TCP', port: Number(p.containerPort) }));
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: {
      name: workloadEndpointName(node, name, POD_INTERFACE),
      namespace,
      labels: {
        ...labelsOf(pod),
        [WEP_LABELS.namespace]: namespace,
        [WEP_LABELS.orchestrator]: 'k8s',
        [WEP_LABELS.serviceAccount]: serviceAccount,
      },
    },
    spec: {
      orchestrator: 'k8s',
      node,
      workload: '',
      pod: name,
      endpoint: POD_INTERFACE,
      containerID: strings(pod.metadata.annotations)[CONTAINER_ID_ANNOTATION] ?? '',
      interfaceName: workloadVethName(namespace, name),
      mac: '',
      ipNetworks: ips.map(hostCidr),
      profiles: [`kns.${namespace}`, `ksa.${namespace}.${serviceAccount}`],
      ports,
      serviceAccountName: serviceAccount,
    },
  };
}

/** `<node>-k8s-<pod>-eth0` (dashes inside parts doubled) back into node and pod. */
export function parseWorkloadEndpointName(name: string): { node: string; pod: string } | undefined {
  const parts = name.replace(/--/g, '\0').split('-').map((p) => p.replace(/\0/g, '-'));
  if (parts.length !== 4 || parts[1] !== 'k8s' || parts[3] !== POD_INTERFACE || !parts[0] || !parts[2]) return undefined;
  return { node: parts[0], pod: parts[2] };
}

/** A namespace as Calico's `kns.<ns>` profile: allow-all rules, its labels to apply with `pcns.`. */
export function profileFromNamespace(ns: KubeObject): JsonObject {
  const labels = labelsOf(ns);
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'Profile',
    metadata: { name: `kns.${ns.metadata.name}` },
    spec: {
      ingress: [{ action: 'Allow' }],
      egress: [{ action: 'Allow' }],
      labelsToApply: Object.fromEntries([
        [`${PROFILE_LABEL_PREFIX.namespace}${PROFILE_NAME_LABEL}`, ns.metadata.name],
        ...Object.entries(labels).map(([k, v]) => [`${PROFILE_LABEL_PREFIX.namespace}${k}`, v]),
      ]),
    },
  };
}

/** A service account as Calico's `ksa.<ns>.<sa>` profile: no rules, its labels to apply with `pcsa.`. */
export function profileFromServiceAccount(sa: KubeObject): JsonObject {
  const { name, namespace } = metaOf(sa);
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'Profile',
    metadata: { name: `ksa.${namespace}.${name}` },
    spec: {
      labelsToApply: Object.fromEntries([
        [`${PROFILE_LABEL_PREFIX.serviceAccount}${PROFILE_NAME_LABEL}`, name],
        ...Object.entries(labelsOf(sa)).map(([k, v]) => [`${PROFILE_LABEL_PREFIX.serviceAccount}${k}`, v]),
      ]),
    },
  };
}

/**
 * A Kubernetes NetworkPolicy as the Calico NetworkPolicy `knp.default.<name>` (order 1000, rules as
 * `fromKubernetesNetworkPolicy` converts them). One that cannot be converted stays a document with
 * `conversionError`, no spec and `isolation` (the pods it selects and its directions), so that the
 * reader reports it, isolates its pods and enforces the others.
 */
export function calicoPolicyFromKubernetes(np: KubeObject): JsonObject {
  const { name, namespace } = metaOf(np);
  const metadata = { name: `${KUBERNETES_POLICY_NAME_PREFIX}${name}`, namespace };
  try {
    const p = fromKubernetesNetworkPolicy(np as unknown as K8sNetworkPolicy);
    return {
      apiVersion: 'projectcalico.org/v3',
      kind: 'NetworkPolicy',
      metadata,
      // The resolved rules are already Calico's rule shape (action, protocol, source, destination).
      spec: JSON.parse(JSON.stringify({ order: p.order, selector: p.selector, types: p.types, ingress: p.ingress, egress: p.egress })) as JsonObject,
    };
  } catch (error) {
    return { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata, conversionError: (error as Error).message, isolation: kubernetesIsolation(np) };
  }
}

/**
 * What an unconvertible Kubernetes NetworkPolicy still says for sure: which pods it isolates (its
 * podSelector; every pod of the namespace when even that cannot be read) and in which directions.
 * The agent isolates them (it allows nothing for them) rather than skipping the policy.
 */
function kubernetesIsolation(np: KubeObject): JsonObject {
  const spec = (np as KubeObject & { spec?: unknown }).spec;
  const s = isObj(spec) ? spec : {};
  let selector = 'all()';
  try {
    selector = labelSelectorToCalico(s.podSelector as K8sLabelSelector | undefined, 'podSelector').toString();
  } catch {
    // every pod of the namespace
  }
  const declared = Array.isArray(s.policyTypes) ? s.policyTypes.filter((t) => t === 'Ingress' || t === 'Egress') : [];
  const types = declared.length ? declared : ['Ingress', ...(Array.isArray(s.egress) && s.egress.length > 0 ? ['Egress'] : [])];
  return { order: KUBERNETES_POLICY_ORDER, selector, types };
}

/** One of Calico's own resources as a whole document (labels matter: network sets are selected by them). */
export function calicoDocument(kind: string, o: KubeObject): JsonObject {
  const labels = labelsOf(o);
  const spec = (o as KubeObject & { spec?: unknown }).spec;
  return {
    apiVersion: `${CALICO_CRD_GROUP}/${CALICO_CRD_VERSION}`,
    kind,
    metadata: {
      name: o.metadata.name,
      ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
      ...(Object.keys(labels).length ? { labels } : {}),
    },
    spec: isObj(spec) ? spec : {},
  };
}

/** `<prefix><namespace>/<name>` → where it is. */
function namespacedLocate(prefix: string, key: string): { namespace: string; name: string } | undefined {
  const m = /^([^/]+)\/([^/]+)$/.exec(key.slice(prefix.length));
  return key.startsWith(prefix) && m ? { namespace: m[1], name: m[2] } : undefined;
}

function clusterLocate(prefix: string, key: string): { name: string } | undefined {
  const name = key.slice(prefix.length);
  return key.startsWith(prefix) && name && !name.includes('/') ? { name } : undefined;
}

function calicoView(prefix: string, plural: string, kind: string, namespaced: boolean): KubeView {
  return {
    prefix,
    resource: { group: CALICO_CRD_GROUP, version: CALICO_CRD_VERSION, plural },
    namespaced,
    optional: true,
    key: (o) => (namespaced ? `${prefix}${metaOf(o).namespace}/${o.metadata.name}` : `${prefix}${o.metadata.name}`),
    value: (o) => calicoDocument(kind, o),
    locate: (key) => (namespaced ? namespacedLocate(prefix, key) : clusterLocate(prefix, key)),
  };
}

/** The policy agent's inputs (policy/keys.ts) as views of the Kubernetes API. */
export const POLICY_VIEWS: readonly KubeView[] = [
  {
    prefix: POLICY_KEYS.workloadEndpoints,
    resource: { version: 'v1', plural: 'pods' },
    namespaced: true,
    optional: false,
    key: (o) => {
      const spec = (o as KubeObject & { spec?: { nodeName?: unknown } }).spec;
      const node = typeof spec?.nodeName === 'string' ? spec.nodeName : '';
      return `${POLICY_KEYS.workloadEndpoints}${metaOf(o).namespace}/${workloadEndpointName(node, o.metadata.name, POD_INTERFACE)}`;
    },
    value: workloadEndpointFromPod,
    locate: (key) => {
      const at = namespacedLocate(POLICY_KEYS.workloadEndpoints, key);
      const wep = at && parseWorkloadEndpointName(at.name);
      return at && wep ? { namespace: at.namespace, name: wep.pod } : undefined;
    },
  },
  {
    prefix: POLICY_KEYS.namespaceProfiles,
    resource: { version: 'v1', plural: 'namespaces' },
    namespaced: false,
    optional: false,
    key: (o) => `${POLICY_KEYS.namespaceProfiles}${o.metadata.name}`,
    value: profileFromNamespace,
    locate: (key) => clusterLocate(POLICY_KEYS.namespaceProfiles, key),
  },
  {
    prefix: POLICY_KEYS.serviceAccountProfiles,
    resource: { version: 'v1', plural: 'serviceaccounts' },
    namespaced: true,
    optional: false,
    key: (o) => `${POLICY_KEYS.serviceAccountProfiles}${metaOf(o).namespace}.${o.metadata.name}`,
    value: profileFromServiceAccount,
    // A namespace has no dots, so the first one ends it.
    locate: (key) => {
      const m = key.startsWith(POLICY_KEYS.serviceAccountProfiles) ? /^([^./]+)\.([^/]+)$/.exec(key.slice(POLICY_KEYS.serviceAccountProfiles.length)) : null;
      return m ? { namespace: m[1], name: m[2] } : undefined;
    },
  },
  {
    prefix: POLICY_KEYS.kubernetesNetworkPolicies,
    resource: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies' },
    namespaced: true,
    optional: false,
    key: (o) => `${POLICY_KEYS.kubernetesNetworkPolicies}${metaOf(o).namespace}/${KUBERNETES_POLICY_NAME_PREFIX}${o.metadata.name}`,
    value: calicoPolicyFromKubernetes,
    locate: (key) => {
      const at = namespacedLocate(POLICY_KEYS.kubernetesNetworkPolicies, key);
      return at?.name.startsWith(KUBERNETES_POLICY_NAME_PREFIX) && at.name.length > KUBERNETES_POLICY_NAME_PREFIX.length
        ? { namespace: at.namespace, name: at.name.slice(KUBERNETES_POLICY_NAME_PREFIX.length) } : undefined;
    },
  },
  calicoView(POLICY_KEYS.networkPolicies, 'networkpolicies', 'NetworkPolicy', true),
  calicoView(POLICY_KEYS.globalNetworkPolicies, 'globalnetworkpolicies', 'GlobalNetworkPolicy', false),
  calicoView(POLICY_KEYS.networkSets, 'networksets', 'NetworkSet', true),
  calicoView(POLICY_KEYS.globalNetworkSets, 'globalnetworksets', 'GlobalNetworkSet', false),
  calicoView(POLICY_KEYS.tiers, 'tiers', 'Tier', false),
];
