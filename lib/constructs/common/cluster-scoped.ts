import { ApiObject, JsonPatch } from 'cdk8s';

/**
 * Makes sure a cluster-scoped object (ClusterRole, ClusterRoleBinding, Namespace, CRD, ...) is
 * rendered without `metadata.namespace`. cdk8s stamps a chart's namespace on every object it holds,
 * cluster-scoped ones included (cdk8s-core#731), so a chart with a namespace would otherwise emit
 * objects that `kubectl` and Pulumi treat inconsistently.
 */
export function clusterScoped<T extends ApiObject>(object: T): T {
  if (object.metadata.namespace !== undefined) object.addJsonPatch(JsonPatch.remove('/metadata/namespace'));
  return object;
}
