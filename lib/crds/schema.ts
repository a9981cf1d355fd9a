/**
 * A small vocabulary for structural OpenAPI v3 schemas (the subset `apiextensions.k8s.io/v1`
 * accepts), so the Calico CRDs read like their Go types and stay structural by construction:
 * every node has a type, objects list their properties, arrays their items.
 */
export interface JsonSchema {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  readonly items?: JsonSchema;
  readonly additionalProperties?: JsonSchema | boolean;
  readonly enum?: readonly (string | number)[];
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly format?: string;
  readonly nullable?: boolean;
  readonly anyOf?: readonly JsonSchema[];
  readonly 'x-kubernetes-int-or-string'?: boolean;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
}

type Extra = Omit<JsonSchema, 'type' | 'properties' | 'items' | 'required'>;

export function str(description?: string, extra: Extra = {}): JsonSchema {
  return { type: 'string', ...(description ? { description } : {}), ...extra };
}

export function oneOf(values: readonly string[], description?: string): JsonSchema {
  return str(description, { enum: values });
}

export function int(description?: string, min?: number, max?: number, extra: Extra = {}): JsonSchema {
  return {
    type: 'integer',
    ...(description ? { description } : {}),
    ...(min === undefined ? {} : { minimum: min }),
    ...(max === undefined ? {} : { maximum: max }),
    ...extra,
  };
}

export function num(description?: string): JsonSchema {
  return { type: 'number', ...(description ? { description } : {}) };
}

export function bool(description?: string): JsonSchema {
  return { type: 'boolean', ...(description ? { description } : {}) };
}

export function arr(items: JsonSchema, description?: string, extra: Extra = {}): JsonSchema {
  return { type: 'array', items, ...(description ? { description } : {}), ...extra };
}

export function obj(properties: Record<string, JsonSchema>, required: readonly string[] = [], description?: string): JsonSchema {
  return {
    type: 'object',
    ...(description ? { description } : {}),
    properties,
    ...(required.length > 0 ? { required } : {}),
  };
}

/** A string → value map (`map[string]T` in Go). */
export function map(values: JsonSchema, description?: string): JsonSchema {
  return { type: 'object', additionalProperties: values, ...(description ? { description } : {}) };
}

/** A Kubernetes IntOrString, optionally constrained: numbers by range, strings by pattern. */
export function intOrString(description: string, constraints: { min?: number; max?: number; pattern?: string } = {}): JsonSchema {
  return {
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    description,
    ...(constraints.min === undefined ? {} : { minimum: constraints.min }),
    ...(constraints.max === undefined ? {} : { maximum: constraints.max }),
    ...(constraints.pattern === undefined ? {} : { pattern: constraints.pattern }),
  };
}

/** Go `time.Duration` / `metav1.Duration` text, e.g. `90s`, `1m30s`. */
export function duration(description: string): JsonSchema {
  return str(description, { pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' });
}
