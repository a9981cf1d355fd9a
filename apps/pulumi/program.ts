import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { ValidationError } from '../../lib/model/errors';
import { Cdk8sManifest, settledValue } from '../../lib/pulumi/cdk8s-manifest';
import { imagesOf } from '../../lib/pulumi/images';
import { networkStackSummaries } from '../../lib/pulumi/stack-summaries';
import { synthesizeObjects } from '../../lib/pulumi/synthesize';
import { buildEnvironment, environment as bundledEnvironment, Environment, ENVIRONMENTS } from '../environments';
import { readImageDigests } from '../image-digests';
import { parseStackConfig, StackSettings } from './stack-config';

/** The stack outputs (`pulumi stack output`). */
export interface StackOutputs {
  readonly environment: string;
  /** Namespace of the network's agents. */
  readonly namespace: pulumi.Output<string>;
  /** Name of the node agent DaemonSet. */
  readonly agentDaemonSet: pulumi.Output<string>;
  readonly podNetworks: pulumi.Output<string[]>;
  /** Every image deployed, pinned by digest where `npm run images` recorded one. */
  readonly images: pulumi.Output<string[]>;
  /** Every object deployed (`Kind.group/namespace/name`). */
  readonly objects: pulumi.Output<string[]>;
}

/** The bundled environment with the stack's overrides applied; the model validates the result. */
export function withOverrides(environment: Environment, settings: StackSettings): Environment {
  let result = environment;
  if (settings.imageRegistry !== undefined) result = { ...result, imageRegistry: settings.imageRegistry };
  if (settings.expectedNodes !== undefined) {
    const stack = result.stack;
    switch (stack.kind) {
      case 'flannel':
        result = { ...result, stack: { ...stack, props: { ...stack.props, expectedNodeCount: settings.expectedNodes } } };
        break;
      case 'calico':
        result = { ...result, stack: { ...stack, props: { ...stack.props, nodeCount: settings.expectedNodes } } };
        break;
    }
  }
  return result;
}

/**
 * The whole program: reads and checks the stack configuration, builds the environment's construct
 * tree exactly as `npm run synth` does (same definitions, same image digests) and synthesizes it in
 * memory; only then registers anything: the Kubernetes provider and one component whose children
 * are the synthesized objects.
 * @param config every configuration value of the stack (`pulumi.runtime.allConfig()`)
 * @param repoRoot where `npm run images` left its digests
 */
export function deployEnvironment(config: Readonly<Record<string, string>>, repoRoot: string): StackOutputs {
  const settings = parseStackConfig(config, ENVIRONMENTS.map((env) => env.name));
  const environment = withOverrides(bundledEnvironment(settings.environment), settings);
  const built = buildEnvironment(environment, { imageDigests: readImageDigests(repoRoot) });
  const objects = synthesizeObjects(built.charts);
  const stacks = networkStackSummaries(built.app);
  if (stacks.length !== 1) {
    throw new ValidationError(`${environment.name}.stack`, stacks.map((s) => s.namespace), 'exactly one network stack (FlannelNetwork or CalicoNetwork)');
  }
  const [stack] = stacks;

  // With cnikit:kubeContext an explicit provider; else the default provider, which honours
  // kubernetes:context / kubernetes:kubeconfig and $KUBECONFIG.
  const opts: pulumi.ComponentResourceOptions =
    settings.kubeContext === undefined ? {} : { provider: new k8s.Provider('cluster', { context: settings.kubeContext }) };
  const manifest = new Cdk8sManifest(`cnikit-${environment.name}`, { source: built.charts }, opts);
  return {
    environment: environment.name,
    namespace: settledValue(manifest.objects, stack.namespace),
    agentDaemonSet: settledValue(manifest.objects, stack.agentDaemonSetName),
    podNetworks: settledValue(manifest.objects, [...stack.podNetworks]),
    images: settledValue(manifest.objects, imagesOf(objects)),
    objects: manifest.objectKeys,
  };
}
