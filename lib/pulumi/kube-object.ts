import { ValidationError } from '../model/errors';

/** The metadata every object needs to be registered: a name, and a namespace unless it is cluster-scoped. */
export interface KubeObjectMetadata {
  readonly name: string;
  readonly namespace?: string;
  readonly [field: string]: unknown;
}

/** One Kubernetes object as cdk8s synthesizes it (the JSON form of one YAML document). */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: KubeObjectMetadata;
  readonly [field: string]: unknown;
}

/** The API group of an object: `apps` for `apps/v1`, `''` for the core group (`v1`). */
export function apiGroupOf(object: Pick<KubeObject, 'apiVersion'>): string {
  const slash = object.apiVersion.indexOf('/');
  return slash < 0 ? '' : object.apiVersion.slice(0, slash);
}

/** `DaemonSet.apps/kube-system/agent`: the identity the API server uses (group, kind, namespace, name). */
export function objectKey(object: KubeObject): string {
  const group = apiGroupOf(object);
  const kind = group === '' ? object.kind : `${object.kind}.${group}`;
  return [kind, object.metadata.namespace, object.metadata.name].filter((part) => part !== undefined).join('/');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks the shape of a synthesized object (cdk8s returns `any[]`) and gives it a type.
 * @param field names the object in the error message, e.g. `objects[3]`
 */
export function toKubeObject(value: unknown, field: string): KubeObject {
  if (!isRecord(value)) throw new ValidationError(field, value, 'a Kubernetes object (a JSON object)');
  for (const key of ['apiVersion', 'kind'] as const) {
    if (typeof value[key] !== 'string' || value[key] === '') {
      throw new ValidationError(`${field}.${key}`, value[key], 'a non-empty string');
    }
  }
  const metadata = value.metadata;
  if (!isRecord(metadata)) throw new ValidationError(`${field}.metadata`, metadata, 'an object with a name');
  if (typeof metadata.name !== 'string' || metadata.name === '') {
    throw new ValidationError(`${field}.metadata.name`, metadata.name, 'a non-empty string');
  }
  if (metadata.namespace !== undefined && (typeof metadata.namespace !== 'string' || metadata.namespace === '')) {
    throw new ValidationError(`${field}.metadata.namespace`, metadata.namespace, 'a non-empty string or no namespace');
  }
  return value as KubeObject;
}
