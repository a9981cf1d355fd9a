import * as pulumi from '@pulumi/pulumi';
import { ValidationError } from '../model/errors';
import { KubeObject, objectKey } from './kube-object';
import type { BuiltNetworkStack, NetworkStackSummary } from './network-stack';
import { synthesizeObjects } from './synthesize';

/**
 * `P` where the keys `K` also take a `pulumi.Input` (a value another resource produces: a CIDR, a
 * registry, an AS number). Optional keys stay optional.
 */
export type InputProps<P, K extends keyof P> = Omit<P, K> & { readonly [Q in keyof Pick<P, K>]: P[Q] | pulumi.Input<NonNullable<P[Q]>> };

/** A field of the items of a list prop that takes an Input, e.g. each pool's `cidr`. */
export interface ItemInput {
  /** The list prop, e.g. `pools`. */
  readonly list: string;
  /** The field of each item, e.g. `cidr`. */
  readonly field: string;
  /** A stand-in for item `index`; a different one per item where the model wants them distinct. */
  readonly standIn: (index: number, item: Readonly<Record<string, unknown>>) => unknown;
}

/** Which props a component takes as Inputs, and how it lays out its objects before their values are known. */
export interface InputPropsSpec<P, K extends keyof P> {
  /** Prefix of field names in errors, e.g. `flannel`. */
  readonly field: string;
  /** Stand-ins for `K`: valid values, far from real ones, that lay out the same objects as any valid value. */
  readonly standIns: { readonly [Q in K]-?: NonNullable<P[Q]> };
  /** Fields of list items that take Inputs (the lists themselves stay plain: each item is an object). @default none */
  readonly itemInputs?: readonly ItemInput[];
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

/** One Input in the props: where it is (for errors), and how to put a value there. */
interface InputSlot {
  readonly label: string;
  readonly value: unknown;
  readonly standIn: unknown;
  readonly put: (props: Record<string, unknown>, value: unknown) => Record<string, unknown>;
}

/** Every Input in `props` at a place `spec` allows; fails on one anywhere else, naming where. */
function inputSlots<P, K extends keyof P>(props: Record<string, unknown>, spec: InputPropsSpec<P, K>): InputSlot[] {
  const standIns = spec.standIns as Record<string, unknown>;
  const items = spec.itemInputs ?? [];
  const accepted = [...Object.keys(standIns), ...items.map((i) => `${i.list}[].${i.field}`)];
  const slots: InputSlot[] = [];
  const refuse = (label: string, why?: string): never => {
    throw new ValidationError(`${spec.field}.${label}`, '(a pulumi.Input)', `a plain value: ${why ?? `it shapes the objects; Inputs are accepted for ${accepted.join(', ')}`}`);
  };
  // Anything deeper than the allowed places must be plain: walk plain objects and arrays.
  const walk = (value: unknown, label: string, allowed: (inner: string) => boolean): void => {
    if (isDeferred(value)) {
      if (!allowed(label)) refuse(label);
      return;
    }
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${label}[${i}]`, allowed));
    else if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
      for (const [k, v] of Object.entries(value)) walk(v, `${label}.${k}`, allowed);
    }
  };
  for (const [key, value] of Object.entries(props)) {
    if (key in standIns) {
      if (isDeferred(value)) slots.push({ label: key, value, standIn: standIns[key], put: (p, v) => ({ ...p, [key]: v }) });
      continue;
    }
    if (isDeferred(value)) refuse(key, (spec.decideObjects as Record<string, string | undefined>)[key]);
    const itemFields = items.filter((i) => i.list === key);
    if (!Array.isArray(value) || itemFields.length === 0) {
      walk(value, key, () => false);
      continue;
    }
    value.forEach((item: Record<string, unknown>, index) => {
      for (const [field, inner] of Object.entries(item ?? {})) {
        const label = `${key}[${index}].${field}`;
        const allowed = itemFields.find((i) => i.field === field);
        if (allowed && isDeferred(inner)) {
          slots.push({
            label, value: inner, standIn: allowed.standIn(index, item),
            put: (p, v) => ({ ...p, [key]: (p[key] as Record<string, unknown>[]).map((it, j) => (j === index ? { ...it, [field]: v } : it)) }),
          });
        } else walk(inner, label, () => false);
      }
    });
  }
  return slots;
}

/**
 * Builds a stack whose props may hold Inputs. Plain props are validated at once, as always; a prop that
 * decides which objects exist must be plain. Objects are laid out with stand-ins for the Inputs; when
 * their values are known the construct is built again from them, validated by the model, and must give
 * the same objects (kind, namespace, name): if it does not, that Input decided the layout and the
 * deployment fails naming it.
 */
export function buildWithInputs<P, K extends keyof P>(props: InputProps<P, K> | P, spec: InputPropsSpec<P, K>): StackWithInputs {
  const all = props as Record<string, unknown>;
  const slots = inputSlots(all, spec);
  if (slots.length === 0) {
    const built = spec.build(props as P);
    return { objects: synthesizeObjects(built.chart), summary: built.summary };
  }
  const fill = (values: readonly unknown[]): P => slots.reduce((p, slot, i) => slot.put(p, values[i]), all) as P;
  const labels = slots.map((slot) => slot.label).join(', ');
  let laidOut: BuiltNetworkStack;
  try {
    laidOut = spec.build(fill(slots.map((slot) => slot.standIn)));
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(`${spec.field}.${labels}`, '(a pulumi.Input)', `a plain value here: the objects cannot be laid out before it is known (${error.message})`);
  }
  const objects = synthesizeObjects(laidOut.chart);
  const keys = objects.map(objectKey).sort();
  const resolved = pulumi.all(slots.map((slot) => slot.value)).apply((values) => {
    const built = spec.build(fill(values));
    const actual = synthesizeObjects(built.chart);
    const actualKeys = actual.map(objectKey).sort();
    if (actualKeys.join('\n') !== keys.join('\n')) {
      const changed = [...actualKeys.filter((k) => !keys.includes(k)), ...keys.filter((k) => !actualKeys.includes(k))];
      throw new ValidationError(`${spec.field}.${labels}`, values.length === 1 ? values[0] : values, `a value that leaves the same objects; as an Input it changed ${changed.join(', ')}: pass it as a plain value`);
    }
    return { objects: actual, summary: built.summary };
  });
  return { objects, summary: laidOut.summary, resolved };
}
