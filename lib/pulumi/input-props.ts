import * as pulumi from '@pulumi/pulumi';
import { ValidationError } from '../model/errors';
import { KubeObject, objectKey } from './kube-object';
import type { BuiltNetworkStack, NetworkStackSummary } from './network-stack';
import { synthesizeObjects } from './synthesize';

/**
 * A construct's props where the keys `K` also take a `pulumi.Input` (a value another resource
 * produces: a CIDR, a registry, an AS number).
 */
export type InputProps<P, K extends keyof P> = Omit<P, K> & { readonly [Q in K]?: pulumi.Input<NonNullable<P[Q]>> };

/** Which props a component takes as Inputs, and how it lays out its objects before their values are known. */
export interface InputPropsSpec<P, K extends keyof P> {
  /** Prefix of field names in errors, e.g. `flannel`. */
  readonly field: string;
  /** Stand-ins for `K`: valid values, far from real ones, that lay out the same objects as any valid value. */
  readonly standIns: { readonly [Q in K]-?: NonNullable<P[Q]> };
  /** Why some other props must be plain values, by prop (they decide which objects exist). */
  readonly decideObjects: Partial<Record<Exclude<keyof P, K>, string>>;
  /** Builds the construct and what a deployer needs to know of it. */
  readonly build: (props: P) => BuiltNetworkStack;
}

/** What a component registers: the objects, and their content and summary once every Input is known. */
export interface StackWithInputs {
  /** The objects, laid out with stand-ins for Inputs not yet known: which exist, their kinds and names. */
  readonly objects: readonly KubeObject[];
  readonly summary: NetworkStackSummary;
  /**
   * When some props are Inputs: every object and the summary as built from their values, checked to be
   * the same objects as `objects`. Absent when every prop is a plain value.
   */
  readonly resolved?: pulumi.Output<{ readonly objects: readonly KubeObject[]; readonly summary: NetworkStackSummary }>;
}

function isDeferred(value: unknown): boolean {
  return pulumi.Output.isInstance(value) || value instanceof Promise;
}

/**
 * Builds a stack whose props may hold Inputs. Plain props are validated at once, as always; a prop that
 * decides which objects exist must be plain. Objects are laid out with stand-ins for the Inputs; when
 * their values are known the construct is built again from them, validated by the model, and must give
 * the same objects (kind, namespace, name): if it does not, that Input decided the layout and the
 * deployment fails naming it.
 */
export function buildWithInputs<P, K extends keyof P>(props: InputProps<P, K>, spec: InputPropsSpec<P, K>): StackWithInputs {
  const all = props as Record<string, unknown>;
  const inputKeys = Object.keys(spec.standIns);
  for (const [key, value] of Object.entries(all)) {
    if (!isDeferred(value) || inputKeys.includes(key)) continue;
    const why = (spec.decideObjects as Record<string, string | undefined>)[key];
    throw new ValidationError(`${spec.field}.${key}`, '(a pulumi.Input)', `a plain value: ${why ?? `it shapes the objects; Inputs are accepted for ${inputKeys.join(', ')}`}`);
  }
  const deferred = inputKeys.filter((key) => isDeferred(all[key]));
  if (deferred.length === 0) {
    const built = spec.build(props as P);
    return { objects: synthesizeObjects(built.chart), summary: built.summary };
  }
  const standIns = spec.standIns as Record<string, unknown>;
  let laidOut: BuiltNetworkStack;
  try {
    laidOut = spec.build({ ...all, ...Object.fromEntries(deferred.map((key) => [key, standIns[key]])) } as P);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(`${spec.field}.${deferred.join(', ')}`, '(a pulumi.Input)', `a plain value here: the objects cannot be laid out before it is known (${error.message})`);
  }
  const objects = synthesizeObjects(laidOut.chart);
  const keys = objects.map(objectKey).sort();
  const resolved = pulumi.all(deferred.map((key) => all[key])).apply((values) => {
    const built = spec.build({ ...all, ...Object.fromEntries(deferred.map((key, i) => [key, values[i]])) } as P);
    const actual = synthesizeObjects(built.chart);
    const actualKeys = actual.map(objectKey).sort();
    if (actualKeys.join('\n') !== keys.join('\n')) {
      const changed = [...actualKeys.filter((k) => !keys.includes(k)), ...keys.filter((k) => !actualKeys.includes(k))];
      throw new ValidationError(`${spec.field}.${deferred.join(', ')}`, values.length === 1 ? values[0] : values, `a value that leaves the same objects; as an Input it changed ${changed.join(', ')}: pass it as a plain value`);
    }
    return { objects: actual, summary: built.summary };
  });
  return { objects, summary: laidOut.summary, resolved };
}
