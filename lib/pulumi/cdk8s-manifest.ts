import * as pulumi from '@pulumi/pulumi';
import { ValidationError } from '../model/errors';
import { RegisteredObject, registerObjects } from './register';
import { ManifestSource, synthesizeObjects } from './synthesize';

/** Props of {@link Cdk8sManifest}. */
export interface Cdk8sManifestArgs {
  /** The construct tree to deploy: an App, a Chart or several Charts. It is synthesized in memory. */
  readonly source: ManifestSource;
}

/**
 * Deploys any cdk8s construct tree with Pulumi: every synthesized object becomes its own Kubernetes
 * resource, parented to this component, ordered CRDs → namespaces → RBAC and config → workloads,
 * custom resources after their CRDs. Pass `provider` (a `kubernetes.Provider`) to target a cluster.
 */
export class Cdk8sManifest extends pulumi.ComponentResource {
  /** Every registered object, in registration order. */
  public readonly objects: readonly RegisteredObject[];
  /** The cluster identities of every object (`Kind.group/namespace/name`), once all are registered. */
  public readonly objectKeys: pulumi.Output<string[]>;
  /** The namespaces this manifest creates. */
  public readonly namespaces: pulumi.Output<string[]>;

  constructor(name: string, args: Cdk8sManifestArgs, opts?: pulumi.ComponentResourceOptions) {
    super('cnikit:index:Cdk8sManifest', name, {}, opts);
    this.objects = registerObjects(this, name, synthesizeObjects(args.source), opts?.dependsOn);
    this.objectKeys = settledValue(this.objects, this.objects.map((o) => o.key));
    const namespaces = this.objects.filter((o) => o.tier === 'namespaces');
    this.namespaces = settledValue(namespaces, namespaces.map((o) => o.object.metadata.name));
    this.registerOutputs({ objectKeys: this.objectKeys, namespaces: this.namespaces });
  }

  /** The resource of one object, by its cluster identity (see {@link RegisteredObject.key}). */
  public resource(key: string): pulumi.CustomResource {
    return findObject(this.objects, key).resource;
  }
}

/** The registered object with cluster identity `key`; fails naming the known keys. */
export function findObject(objects: readonly RegisteredObject[], key: string): RegisteredObject {
  const found = objects.find((o) => o.key === key);
  if (found === undefined) {
    throw new ValidationError('key', key, `one of the registered objects: ${objects.map((o) => o.key).join(', ')}`);
  }
  return found;
}

/**
 * `value` as an Output that depends on the given registered resources, so whoever consumes it
 * (e.g. another stack's `dependsOn` through an input) waits for them.
 */
export function settledValue<T>(objects: readonly RegisteredObject[], value: T): pulumi.Output<T> {
  return pulumi.all(objects.map((o) => o.resource.urn)).apply(() => value);
}
