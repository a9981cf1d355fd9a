import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { CALICO_API_VERSION, CALICO_CRDS, instanceSchema } from '../../lib/crds/calico';

/**
 * Validates custom resources against the openAPIV3Schema of their own CRD with ajv, the way
 * the API server would (unknown fields aside: ajv also rejects them here, because pruning
 * would silently drop them and the kit should never write a field that gets dropped).
 */
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
const validators = new Map<string, ValidateFunction>();

function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, closed(s)])) : closed(v);
  if ('properties' in out && !('additionalProperties' in out) && out.type === 'object') {
    const props = out.properties as Record<string, unknown>;
    // metadata is validated by Kubernetes itself, not by the CRD.
    if (!('metadata' in props && 'apiVersion' in props)) out.additionalProperties = false;
  }
  return out;
}

for (const d of CALICO_CRDS) {
  validators.set(d.kind, ajv.compile(closed(instanceSchema(d)) as object));
}

export function isCalicoResource(object: { apiVersion?: string }): boolean {
  return object.apiVersion === CALICO_API_VERSION;
}

/** Returns the schema errors of one Calico custom resource ([] when valid). */
export function calicoResourceErrors(object: { apiVersion?: string; kind?: string }): string[] {
  const kind = object.kind ?? '';
  const validate = validators.get(kind);
  if (!validate) return [`no CRD for kind ${kind}`];
  if (validate(object)) return [];
  return (validate.errors ?? []).map((e) => `${kind}${e.instancePath} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`);
}
