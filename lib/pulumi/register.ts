import * as pulumi from '@pulumi/pulumi';
import { ValidationError } from '../model/errors';
import { KubeObject, objectKey } from './kube-object';
import { planRegistration, Tier } from './registration-plan';
import { createResource } from './resource-classes';

/** One object registered as its own Pulumi resource. */
export interface RegisteredObject {
  /** The Pulumi resource name, `<component>-<kind>-<namespace>-<name>`. */
  readonly name: string;
  /** The object's identity in the cluster, e.g. `DaemonSet.apps/kube-flannel/kube-flannel-ds`. */
  readonly key: string;
  readonly tier: Tier;
  /**
   * The object exactly as synthesized and as passed to Pulumi; when props were Inputs not yet known, as
   * laid out with their stand-ins (its content then comes from `resolved`).
   */
  readonly object: KubeObject;
  readonly resource: pulumi.CustomResource;
  /** Pulumi names of the resources this one waits for (`dependsOn`). */
  readonly dependsOn: readonly string[];
}

/**
 * Registers every object as its own Pulumi Kubernetes resource parented to `parent`, in tier order,
 * each with `dependsOn` on the tier it follows. The Kubernetes provider is the parent's (its `provider`
 * or `providers` option), inherited through `parent`.
 * @param component prefix of every resource name, normally the component's own name
 * @param after the component's own `dependsOn`: Pulumi does not pass it on to children, so the
 *   first tier gets it (and every later tier waits for the first)
 * @param resolved the same objects built from props that were Inputs (see input-props.ts); each
 *   resource then takes its content from there, field by field
 */
export function registerObjects(
  parent: pulumi.Resource,
  component: string,
  objects: readonly KubeObject[],
  after?: pulumi.ResourceOptions['dependsOn'],
  resolved?: pulumi.Output<readonly KubeObject[]>,
): RegisteredObject[] {
  const registered: RegisteredObject[] = [];
  for (const planned of planRegistration(component, objects)) {
    const dependsOn = planned.dependsOn.map((index) => registered[index]);
    const resource = createResource(planned.name, resolved ? lateBound(planned.object, resolved) : planned.object, {
      parent,
      dependsOn: planned.dependsOn.length === 0 ? after : dependsOn.map((dependency) => dependency.resource),
    });
    registered.push({
      name: planned.name,
      key: planned.key,
      tier: planned.tier,
      object: planned.object,
      resource,
      dependsOn: dependsOn.map((dependency) => dependency.name),
    });
  }
  return registered;
}

/**
 * `laidOut` with every top-level field but apiVersion and kind taken from its counterpart in
 * `resolved` (same kind, namespace and name), which must have the same top-level fields.
 */
function lateBound(laidOut: KubeObject, resolved: pulumi.Output<readonly KubeObject[]>): KubeObject {
  const key = objectKey(laidOut);
  const fields = Object.keys(laidOut);
  const actual = resolved.apply((objects) => {
    const found = objects.find((o) => objectKey(o) === key);
    const actualFields = found ? Object.keys(found) : [];
    if (!found || actualFields.length !== fields.length || actualFields.some((f) => !fields.includes(f))) {
      throw new ValidationError(key, actualFields.join(', '), `the top-level fields it had before its Inputs were known: ${fields.join(', ')}`);
    }
    return found;
  });
  const late = fields.map((field) => [field, field === 'apiVersion' || field === 'kind' ? laidOut[field] : actual.apply((o) => o[field])]);
  return Object.fromEntries(late) as unknown as KubeObject;
}
