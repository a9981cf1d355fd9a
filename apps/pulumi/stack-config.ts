import { ValidationError } from '../../lib/model/errors';

/** The stack configuration keys the program reads, all in the `cnikit` namespace. */
export const STACK_CONFIG_KEYS = ['environment', 'imageRegistry', 'expectedNodes', 'kubeContext'] as const;
export type StackConfigKey = (typeof STACK_CONFIG_KEYS)[number];

/** What one stack deploys, read and checked from its `Pulumi.<stack>.yaml`. */
export interface StackSettings {
  /** Which bundled environment to deploy (the same definitions `npm run synth` writes to `dist/<env>`). */
  readonly environment: string;
  /** Replaces the registry (and path) of every cnikit image, e.g. a mirror. @default the environment's images */
  readonly imageRegistry?: string;
  /** Overrides the environment's expected node count; the model re-checks it against the pod network. */
  readonly expectedNodes?: number;
  /** The kubeconfig context the Kubernetes provider targets. @default the kubeconfig's current context */
  readonly kubeContext?: string;
}

const REGISTRY = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const WHOLE_NUMBER = /^[1-9][0-9]*$/;

/**
 * Reads and validates the stack configuration. Pure, so it runs before any resource is registered:
 * a bad key fails the program with one line naming the key, the value and what is expected.
 * @param all every configuration value of the stack, keyed `<namespace>:<key>` (`pulumi.runtime.allConfig()`)
 * @param environments the names of the bundled environments
 */
export function parseStackConfig(all: Readonly<Record<string, string>>, environments: readonly string[]): StackSettings {
  for (const key of Object.keys(all)) {
    if (key.startsWith('cnikit:') && !(STACK_CONFIG_KEYS as readonly string[]).includes(key.slice('cnikit:'.length))) {
      throw new ValidationError(key, all[key], `a known cnikit key (${STACK_CONFIG_KEYS.join(', ')})`);
    }
  }
  const read = (key: StackConfigKey): string | undefined => all[`cnikit:${key}`];

  const environment = read('environment');
  if (environment === undefined || !environments.includes(environment)) {
    throw new ValidationError('cnikit:environment', environment, `one of ${environments.join(', ')} (pulumi config set cnikit:environment <name>)`);
  }

  const imageRegistry = read('imageRegistry');
  if (imageRegistry !== undefined && !REGISTRY.test(imageRegistry)) {
    throw new ValidationError('cnikit:imageRegistry', imageRegistry, 'a registry host with optional port and path, such as registry.example.org:5000/mirror');
  }

  const nodes = read('expectedNodes');
  if (nodes !== undefined && !WHOLE_NUMBER.test(nodes)) {
    throw new ValidationError('cnikit:expectedNodes', nodes, 'a whole number of nodes, at least 1');
  }

  const kubeContext = read('kubeContext');
  if (kubeContext !== undefined && kubeContext.trim() === '') {
    throw new ValidationError('cnikit:kubeContext', kubeContext, 'the name of a kubeconfig context, or no key for the current context');
  }

  return {
    environment,
    ...(imageRegistry === undefined ? {} : { imageRegistry }),
    ...(nodes === undefined ? {} : { expectedNodes: Number(nodes) }),
    ...(kubeContext === undefined ? {} : { kubeContext }),
  };
}
