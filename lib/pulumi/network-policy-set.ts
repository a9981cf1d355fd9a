import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { CalicoPolicySet, CalicoPolicySetProps } from '../constructs/policy/policy-set';
import { settledValue } from './cdk8s-manifest';
import { RegisteredObject, registerObjects } from './register';
import { synthesizeObjects } from './synthesize';

/**
 * A set of Calico policies and network sets as a Pulumi component (`cnikit:index:NetworkPolicySet`):
 * takes exactly the props of the `CalicoPolicySet` construct, validates them before registering
 * anything, and registers every policy and set as its own resource, after the Namespaces the set
 * creates (`createNamespaces`). The Calico CRDs come from the network stack: pass it in `dependsOn`
 * (`{ dependsOn: [calico] }`) so the set waits for it.
 */
export class NetworkPolicySet extends pulumi.ComponentResource {
  /** Every registered object, in registration order. */
  public readonly objects: readonly RegisteredObject[];
  /** The policies and sets (`Kind.group/namespace/name`), once all are registered. */
  public readonly policies: pulumi.Output<string[]>;
  /** The namespaces the set creates, once all objects are registered. */
  public readonly namespaces: pulumi.Output<string[]>;

  constructor(name: string, props: CalicoPolicySetProps, opts?: pulumi.ComponentResourceOptions) {
    const chart = new Chart(new App(), 'cnikit-policies', { disableResourceNameHashes: true });
    new CalicoPolicySet(chart, 'Policies', props);
    const objects = synthesizeObjects(chart);
    super('cnikit:index:NetworkPolicySet', name, {}, opts);
    this.objects = registerObjects(this, name, objects, opts?.dependsOn);
    this.policies = settledValue(this.objects, this.objects.filter((o) => o.tier !== 'namespaces').map((o) => o.key));
    this.namespaces = settledValue(this.objects, this.objects.filter((o) => o.tier === 'namespaces').map((o) => o.object.metadata.name));
    this.registerOutputs({ policies: this.policies, namespaces: this.namespaces });
  }
}
