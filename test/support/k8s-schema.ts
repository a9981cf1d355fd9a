import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import * as fs from 'fs';
import * as path from 'path';

/**
 * Strict validation of Kubernetes objects against the API's OpenAPI schemas, as `kubeconform -strict`
 * does: the schemas come from `kubernetes-models` 4.3.1 (generated from the Kubernetes 1.27.1
 * OpenAPI document; no maintained npm package ships 1.28's), compiled with ajv, and every object
 * schema that lists its properties is closed (`additionalProperties: false`), so a misspelled or
 * unknown field fails instead of being ignored. 1.27.1 is the stricter choice for a 1.28 target:
 * core/v1, apps/v1, rbac/v1 and the other GA groups only gained fields in 1.28, so an object valid
 * here is valid there.
 */

type Schema = Record<string, unknown>;

const MODELS_DIR = path.dirname(require.resolve('kubernetes-models'));
const VALIDATE_MODULE = require.resolve('@kubernetes-models/validate', { paths: [MODELS_DIR] });

let cache: { ajv: Ajv; kinds: Map<string, string> } | undefined;

/** Every schema kubernetes-models registers, by id (each `_schemas/*.js` module registers its own and its references'). */
function collectSchemas(): Map<string, Schema> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const validateModule = require(VALIDATE_MODULE) as { register: (id: string, schema: Schema) => void };
  const original = validateModule.register;
  const schemas = new Map<string, Schema>();
  validateModule.register = (id, schema) => {
    schemas.set(id, schema);
  };
  try {
    const dir = path.join(MODELS_DIR, '_schemas');
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js')).sort()) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      (require(path.join(dir, file)) as { addSchema: () => void }).addSchema();
    }
  } finally {
    validateModule.register = original;
  }
  return schemas;
}

/** A deep copy in which every object schema with `properties` and no `additionalProperties` is closed. */
function strict(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(strict);
  if (value === null || typeof value !== 'object') return value;
  const copy: Schema = {};
  for (const [key, child] of Object.entries(value)) {
    // `properties` maps names to schemas: recurse into each schema, never treat the map itself as one.
    copy[key] = key === 'properties'
      ? Object.fromEntries(Object.entries(child as Schema).map(([name, s]) => [name, strict(s)]))
      : strict(child);
  }
  if (copy.properties !== undefined && copy.additionalProperties === undefined && !copy['x-kubernetes-preserve-unknown-fields']) {
    copy.additionalProperties = false;
  }
  return copy;
}

const JSON_SCHEMA_PROPS = 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps';

/**
 * kubernetes-models' JSONSchemaProps lacks fields the API server accepts in a CRD schema:
 * `description` and the `x-kubernetes-*` extensions. Added so closing the schema does not reject them.
 */
function withCrdExtensions(schema: Schema): Schema {
  const flag = { type: 'boolean', nullable: true };
  return {
    ...schema,
    properties: {
      ...(schema.properties as Schema),
      description: { type: 'string', nullable: true },
      'x-kubernetes-int-or-string': flag,
      'x-kubernetes-preserve-unknown-fields': flag,
      'x-kubernetes-embedded-resource': flag,
      'x-kubernetes-list-type': { type: 'string', nullable: true },
      'x-kubernetes-list-map-keys': { type: 'array', items: { type: 'string' }, nullable: true },
      'x-kubernetes-map-type': { type: 'string', nullable: true },
      'x-kubernetes-validations': { type: 'array', items: { type: 'object' }, nullable: true },
    },
  };
}

function enumOf(schema: Schema, property: string): string | undefined {
  const values = ((schema.properties as Record<string, Schema> | undefined)?.[property]?.enum) as string[] | undefined;
  return values?.length === 1 ? values[0] : undefined;
}

function load(): { ajv: Ajv; kinds: Map<string, string> } {
  if (cache) return cache;
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
  addFormats(ajv);
  ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  ajv.addFormat('quantity', /^[+-]?(?:\d+|\d+\.\d+|\d+\.|\.\d+)(?:[KMGTPE]i|[YZEPTGMkhdcmunpfazy]|da|[eE][+-]?\d+)?$/);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('double', { type: 'number', validate: () => true });
  const kinds = new Map<string, string>();
  for (const [id, schema] of collectSchemas()) {
    ajv.addSchema(strict(id === JSON_SCHEMA_PROPS ? withCrdExtensions(schema) : schema) as Schema, id);
    const apiVersion = enumOf(schema, 'apiVersion');
    const kind = enumOf(schema, 'kind');
    if (apiVersion !== undefined && kind !== undefined) kinds.set(`${apiVersion}/${kind}`, id);
  }
  cache = { ajv, kinds };
  return cache;
}

/** The problems of one object against its kind's strict schema (empty when valid). */
export function k8sSchemaErrors(object: Record<string, unknown>): string[] {
  const { ajv, kinds } = load();
  const key = `${String(object.apiVersion)}/${String(object.kind)}`;
  const id = kinds.get(key);
  if (id === undefined) return [`no Kubernetes schema for ${key}`];
  const name = String((object.metadata as { name?: string } | undefined)?.name);
  const validate = ajv.getSchema(id) as ValidateFunction;
  if (validate(object)) return [];
  return (validate.errors ?? [])
    // oneOf-with-null wrappers report the null branch too; the real problem is reported beside it.
    .filter((e) => !(e.keyword === 'type' && e.params.type === 'null') && e.keyword !== 'oneOf')
    .map((e) => `${key} ${name}: ${e.instancePath || '/'} ${e.message}${e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : ''}`);
}

/** Schema errors of every object, each prefixed with its kind and name. */
export function validateK8sObjects(objects: readonly Record<string, unknown>[]): string[] {
  return objects.flatMap((object) => k8sSchemaErrors(object));
}
