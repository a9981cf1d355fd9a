import { App, Chart, YamlOutputType } from 'cdk8s';
import { CalicoNetwork } from '../../lib/constructs/calico/calico-network';
import { CalicoCrds } from '../../lib/constructs/calico/crds';
import { FlannelNetwork } from '../../lib/constructs/flannel/flannel-network';
import { CalicoPolicySet } from '../../lib/constructs/policy/policy-set';
import { checkDnsLabel } from '../../lib/model/checks';
import { ValidationError } from '../../lib/model/errors';
import { Environment } from './environment';

export interface BuildOptions {
  /**
   * Where `app.synth()` would write; building never writes.
   * @default cdk8s's default (CDK8S_OUTDIR or dist)
   */
  readonly outdir?: string;
  /**
   * Image digests by name (the content of IMAGE_DIGESTS_FILE).
   * @default none: images by tag
   */
  readonly imageDigests?: Readonly<Record<string, string>>;
}

/** An environment's construct tree, built in memory. */
export interface BuiltEnvironment {
  readonly environment: Environment;
  readonly app: App;
  /** The charts in apply order; each becomes one `<chart>.k8s.yaml` file. */
  readonly charts: readonly Chart[];
}

/**
 * Builds every chart of `environment` in memory: no file is read or written and nothing exits, so
 * the synth entrypoint and the Pulumi program share it. Throws a ValidationError on bad input,
 * its field prefixed with the environment (`prod.flannel.podNetwork: ...`).
 */
export function buildEnvironment(environment: Environment, options: BuildOptions = {}): BuiltEnvironment {
  const name = checkDnsLabel('environment.name', environment.name);
  // Charts have no namespace: every object sets its own, and cluster-scoped ones must carry none.
  const app = new App({ ...(options.outdir !== undefined ? { outdir: options.outdir } : {}), yamlOutputType: YamlOutputType.FILE_PER_CHART });
  const charts: Chart[] = [];
  try {
    const stack = environment.stack;
    switch (stack.kind) {
      case 'flannel': {
        const chart = new Chart(app, 'cnikit-flannel', { disableResourceNameHashes: true });
        new FlannelNetwork(chart, 'Network', {
          ...stack.props,
          ...(environment.imageRegistry !== undefined ? { imageRegistry: environment.imageRegistry } : {}),
          ...(options.imageDigests !== undefined ? { imageDigests: options.imageDigests } : {}),
        });
        charts.push(chart);
        break;
      }
      case 'calico': {
        // CRDs in the first file, so `kubectl apply` has them established before any custom resource.
        const crds = new Chart(app, 'cnikit-calico-crds', { disableResourceNameHashes: true });
        new CalicoCrds(crds, 'Crds');
        const chart = new Chart(app, 'cnikit-calico', { disableResourceNameHashes: true });
        const network = new CalicoNetwork(chart, 'Network', {
          ...stack.props,
          installCrds: false,
          ...(environment.imageRegistry !== undefined ? { imageRegistry: environment.imageRegistry } : {}),
          ...(options.imageDigests !== undefined ? { imageDigests: options.imageDigests } : {}),
        });
        chart.addDependency(crds);
        charts.push(crds, chart);
        if (stack.policies !== undefined) {
          const policies = new Chart(app, 'cnikit-calico-policies', { disableResourceNameHashes: true });
          // The policies chart renders the namespaces its policies use, except the network's own:
          // the network chart creates that one with its Pod Security label, which a second
          // Namespace object would overwrite.
          const existing = stack.policies.existingNamespaces ?? [];
          new CalicoPolicySet(policies, 'Policies', {
            ...stack.policies,
            existingNamespaces: existing.includes(network.namespace) ? existing : [...existing, network.namespace],
          });
          policies.addDependency(chart);
          charts.push(policies);
        }
        break;
      }
      default:
        throw new ValidationError(`${name}.stack.kind`, (stack as { kind: unknown }).kind, 'flannel or calico');
    }
  } catch (error) {
    if (error instanceof ValidationError && !error.message.startsWith(`${name}.`)) {
      error.message = `${name}.${error.message}`;
    }
    throw error;
  }
  return { environment, app, charts };
}

/** Every object of a built environment, in apply order, as plain JSON (what synth writes). */
export function environmentObjects(built: BuiltEnvironment): Record<string, unknown>[] {
  return built.charts.flatMap((chart) => chart.toJson() as Record<string, unknown>[]);
}
