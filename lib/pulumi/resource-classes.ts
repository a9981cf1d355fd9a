import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { ValidationError } from '../model/errors';
import { KubeObject, objectKey } from './kube-object';

type Create = (name: string, object: KubeObject, opts: pulumi.CustomResourceOptions) => pulumi.CustomResource;

interface ResourceClass {
  /** Top-level fields the typed class forwards; it silently drops any other. */
  readonly fields: readonly string[];
  readonly create: Create;
}

// The typed classes take the object's own fields; their Args types are a structural subset of it.
function typed<A>(
  ctor: new (name: string, args: A, opts: pulumi.CustomResourceOptions) => pulumi.CustomResource,
  ...fields: string[]
): ResourceClass {
  return { fields: ['apiVersion', 'kind', 'metadata', ...fields], create: (name, object, opts) => new ctor(name, object as A, opts) };
}

/**
 * The typed @pulumi/kubernetes class for each built-in kind cnikit renders, keyed `apiVersion/kind`.
 * Typed classes carry the provider's schema (so `pulumi preview` shows a real diff and awaits readiness
 * the way the provider knows for that kind); anything else is a generic `CustomResource`.
 */
const TYPED: ReadonlyMap<string, ResourceClass> = new Map([
  ['apiextensions.k8s.io/v1/CustomResourceDefinition', typed(k8s.apiextensions.v1.CustomResourceDefinition, 'spec')],
  ['v1/Namespace', typed(k8s.core.v1.Namespace, 'spec')],
  ['v1/ServiceAccount', typed(k8s.core.v1.ServiceAccount, 'automountServiceAccountToken', 'imagePullSecrets', 'secrets')],
  ['v1/ConfigMap', typed(k8s.core.v1.ConfigMap, 'data', 'binaryData', 'immutable')],
  ['v1/Secret', typed(k8s.core.v1.Secret, 'data', 'stringData', 'type', 'immutable')],
  ['v1/Service', typed(k8s.core.v1.Service, 'spec')],
  ['rbac.authorization.k8s.io/v1/ClusterRole', typed(k8s.rbac.v1.ClusterRole, 'rules', 'aggregationRule')],
  ['rbac.authorization.k8s.io/v1/ClusterRoleBinding', typed(k8s.rbac.v1.ClusterRoleBinding, 'roleRef', 'subjects')],
  ['rbac.authorization.k8s.io/v1/Role', typed(k8s.rbac.v1.Role, 'rules')],
  ['rbac.authorization.k8s.io/v1/RoleBinding', typed(k8s.rbac.v1.RoleBinding, 'roleRef', 'subjects')],
  [
    'scheduling.k8s.io/v1/PriorityClass',
    typed(k8s.scheduling.v1.PriorityClass, 'value', 'globalDefault', 'description', 'preemptionPolicy'),
  ],
  ['apps/v1/DaemonSet', typed(k8s.apps.v1.DaemonSet, 'spec')],
  ['apps/v1/Deployment', typed(k8s.apps.v1.Deployment, 'spec')],
  ['policy/v1/PodDisruptionBudget', typed(k8s.policy.v1.PodDisruptionBudget, 'spec')],
  ['networking.k8s.io/v1/NetworkPolicy', typed(k8s.networking.v1.NetworkPolicy, 'spec')],
]);

const GENERIC: Create = (name, object, opts) =>
  new k8s.apiextensions.CustomResource(name, object as k8s.apiextensions.CustomResourceArgs, opts);

/** Whether `object` is registered with a typed class rather than as a generic `CustomResource`. */
export function hasTypedClass(object: KubeObject): boolean {
  return TYPED.has(`${object.apiVersion}/${object.kind}`);
}

/**
 * Registers one object as its own Pulumi Kubernetes resource, with the typed class where one exists.
 * Fails, rather than silently dropping data, on a top-level field the typed class would not forward.
 */
export function createResource(name: string, object: KubeObject, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
  const typedClass = TYPED.get(`${object.apiVersion}/${object.kind}`);
  if (typedClass === undefined) return GENERIC(name, object, opts);
  const extra = Object.keys(object).filter((field) => !typedClass.fields.includes(field));
  if (extra.length > 0) {
    throw new ValidationError(`${objectKey(object)}.${extra[0]}`, object[extra[0]], `one of the top-level fields of ${object.kind}: ${typedClass.fields.join(', ')}`);
  }
  return typedClass.create(name, object, opts);
}
