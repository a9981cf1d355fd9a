import * as pulumi from '@pulumi/pulumi';
import { Chart } from 'cdk8s';
import { findObject, settledValue } from './cdk8s-manifest';
import { imagesOf } from './images';
import type { StackWithInputs } from './input-props';
import { RegisteredObject, registerObjects } from './register';

/** What a network stack construct tells its deployer: read from the construct after it is built. */
export interface NetworkStackSummary {
  /** Namespace of the stack's agents. */
  readonly namespace: string;
  /** Name of the node agent DaemonSet (in `namespace`). */
  readonly agentDaemonSetName: string;
  /** The pod networks (IPv4 and/or IPv6 CIDRs, or the IP pools). */
  readonly podNetworks: readonly string[];
}

/** A stack construct built in its own chart, with its summary. */
export interface BuiltNetworkStack {
  readonly chart: Chart;
  readonly summary: NetworkStackSummary;
}

/**
 * Base of the Pulumi components of the network stacks: the stack's construct is built (and its
 * props validated) before the component registers anything, then every synthesized object becomes
 * its own resource parented to the component. A new stack is one subclass that builds its construct.
 */
export abstract class NetworkStackComponent extends pulumi.ComponentResource {
  /** Every registered object, in registration order. */
  public readonly objects: readonly RegisteredObject[];
  /** Namespace of the stack's agents, once it exists. */
  public readonly namespace: pulumi.Output<string>;
  /** Name of the node agent DaemonSet, once it is registered. */
  public readonly agentDaemonSetName: pulumi.Output<string>;
  /** The pod networks the stack serves. */
  public readonly podNetworks: pulumi.Output<string[]>;
  /** Every image the stack runs, as deployed (pinned by digest where known). */
  public readonly images: pulumi.Output<string[]>;

  protected constructor(type: string, name: string, stack: StackWithInputs, opts?: pulumi.ComponentResourceOptions) {
    // Built (and plain props validated) before registering anything, so bad props leave no
    // half-registered component.
    super(type, name, {}, opts);
    const { summary, resolved } = stack;
    this.objects = registerObjects(this, name, stack.objects, opts?.dependsOn, resolved?.apply((r) => r.objects));
    const namespaceObject = this.objects.filter((o) => o.key === `Namespace/${summary.namespace}`);
    this.namespace = settledValue(namespaceObject, summary.namespace);
    const daemonSet = findObject(this.objects, `DaemonSet.apps/${summary.namespace}/${summary.agentDaemonSetName}`);
    this.agentDaemonSetName = settledValue([daemonSet], summary.agentDaemonSetName);
    // Known once every object is registered, and (with Inputs) once their values are known.
    const settled = (value: string[], late?: pulumi.Output<string[]>): pulumi.Output<string[]> =>
      late === undefined ? settledValue(this.objects, value) : pulumi.all([settledValue(this.objects, value), late]).apply(([, v]) => v);
    this.podNetworks = settled([...summary.podNetworks], resolved?.apply((r) => [...r.summary.podNetworks]));
    this.images = settled(imagesOf(stack.objects), resolved?.apply((r) => imagesOf(r.objects)));
    this.registerOutputs({
      namespace: this.namespace,
      agentDaemonSetName: this.agentDaemonSetName,
      podNetworks: this.podNetworks,
      images: this.images,
    });
  }

  /** The resource of one object, by its cluster identity (e.g. `ConfigMap/cnikit-flannel/cnikit-flannel-cfg`). */
  public resource(key: string): pulumi.CustomResource {
    return findObject(this.objects, key).resource;
  }
}
