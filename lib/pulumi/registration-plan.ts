import { ConflictError, ValidationError } from '../model/errors';
import { apiGroupOf, KubeObject, objectKey } from './kube-object';

/**
 * The order in which objects reach the cluster. Each tier waits for the nearest non-empty tier it
 * follows (see {@link TIER_FOLLOWS}), so ordering holds transitively with few edges.
 */
export type Tier = 'crds' | 'namespaces' | 'rbac-and-config' | 'workloads' | 'custom-resources';

/** Tiers in registration order. */
export const TIERS: readonly Tier[] = ['crds', 'namespaces', 'rbac-and-config', 'workloads', 'custom-resources'];

/**
 * The tier each tier waits for.
 *
 * Custom resources wait for RBAC and config (and so for namespaces and their CRDs), but not for the
 * workloads: Pulumi awaits a Deployment or DaemonSet until its pods are ready, and a Calico-style
 * controller pod needs an IP pool, which is a custom resource, before it can get an address. Making
 * custom resources wait for workloads would deadlock until the await times out.
 */
export const TIER_FOLLOWS: Readonly<Record<Tier, Tier | undefined>> = {
  crds: undefined,
  namespaces: 'crds',
  'rbac-and-config': 'namespaces',
  workloads: 'rbac-and-config',
  'custom-resources': 'rbac-and-config',
};

const RBAC_AND_CONFIG = new Set([
  '/ServiceAccount',
  '/ConfigMap',
  '/Secret',
  '/ResourceQuota',
  '/LimitRange',
  'rbac.authorization.k8s.io/ClusterRole',
  'rbac.authorization.k8s.io/ClusterRoleBinding',
  'rbac.authorization.k8s.io/Role',
  'rbac.authorization.k8s.io/RoleBinding',
  'scheduling.k8s.io/PriorityClass',
]);

function isCrd(object: KubeObject): boolean {
  return apiGroupOf(object) === 'apiextensions.k8s.io' && object.kind === 'CustomResourceDefinition';
}

/** The API groups served by the CRDs among `objects`. */
export function crdGroupsOf(objects: readonly KubeObject[]): Set<string> {
  const groups = new Set<string>();
  for (const object of objects.filter(isCrd)) {
    const spec = object.spec as { group?: unknown } | undefined;
    if (typeof spec?.group !== 'string') {
      throw new ValidationError(`${objectKey(object)}.spec.group`, spec?.group, 'the API group the CRD serves');
    }
    groups.add(spec.group);
  }
  return groups;
}

/** The tier of one object, given the groups served by CRDs deployed with it. */
export function tierOf(object: KubeObject, crdGroups: ReadonlySet<string>): Tier {
  const group = apiGroupOf(object);
  if (isCrd(object)) return 'crds';
  if (group === '' && object.kind === 'Namespace') return 'namespaces';
  if (RBAC_AND_CONFIG.has(`${group}/${object.kind}`)) return 'rbac-and-config';
  if (crdGroups.has(group)) return 'custom-resources';
  return 'workloads';
}

/**
 * The deterministic Pulumi resource name of an object: `<component>-<kind>-<namespace>-<name>`, lowercased
 * (no namespace part for cluster-scoped objects). The Pulumi type (group, version, kind) is part of the
 * URN too, so objects of different groups may share a name.
 */
export function resourceNameOf(component: string, object: KubeObject): string {
  const parts = [component, object.kind, object.metadata.namespace, object.metadata.name];
  return parts
    .filter((part) => part !== undefined)
    .join('-')
    .toLowerCase();
}

/** One object as it will be registered. */
export interface PlannedResource {
  /** The Pulumi resource name. */
  readonly name: string;
  /** The object's identity in the cluster, see {@link objectKey}. */
  readonly key: string;
  readonly tier: Tier;
  readonly object: KubeObject;
  /** Indexes into the plan of the resources this one waits for; always smaller than its own index. */
  readonly dependsOn: readonly number[];
}

/**
 * Orders objects into tiers and computes each one's names and dependencies. Pure: the registration
 * only turns this plan into resources. Within a tier, the synthesis order is kept.
 * Fails on two objects with the same identity (the API server would hold only one of them).
 */
export function planRegistration(component: string, objects: readonly KubeObject[]): PlannedResource[] {
  const seen = new Set<string>();
  for (const object of objects) {
    const key = objectKey(object);
    if (seen.has(key)) throw new ConflictError('objects', key, 'appears twice; every object must be unique');
    seen.add(key);
  }
  const crdGroups = crdGroupsOf(objects);
  const byTier = new Map<Tier, KubeObject[]>(TIERS.map((tier) => [tier, []]));
  for (const object of objects) byTier.get(tierOf(object, crdGroups))?.push(object);

  const plan: PlannedResource[] = [];
  const indexesOf = new Map<Tier, number[]>();
  for (const tier of TIERS) {
    const waitFor = nearestNonEmpty(TIER_FOLLOWS[tier], indexesOf);
    const indexes: number[] = [];
    for (const object of byTier.get(tier) ?? []) {
      indexes.push(plan.length);
      plan.push({ name: resourceNameOf(component, object), key: objectKey(object), tier, object, dependsOn: waitFor });
    }
    indexesOf.set(tier, indexes);
  }
  return plan;
}

function nearestNonEmpty(tier: Tier | undefined, indexesOf: ReadonlyMap<Tier, number[]>): readonly number[] {
  for (let t = tier; t !== undefined; t = TIER_FOLLOWS[t]) {
    const indexes = indexesOf.get(t) ?? [];
    if (indexes.length > 0) return indexes;
  }
  return [];
}
