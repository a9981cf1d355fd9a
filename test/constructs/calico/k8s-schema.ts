// Validation of built-in objects against the Kubernetes OpenAPI schema (kubernetes-models).
// TODO(calico): switch to the foundation's shared validator once it is committed.
/* eslint-disable @typescript-eslint/no-require-imports */
interface Validatable { validate(): void }
type ModelClass = new (data: object) => Validatable;

export function builtInObjectErrors(object: { apiVersion?: string; kind?: string }): string[] {
  const [group, version] = (object.apiVersion ?? '').includes('/') ? (object.apiVersion ?? '').split('/') : ['', object.apiVersion];
  const module = group === '' ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`;
  let cls: ModelClass | undefined;
  try {
    cls = (require(module) as Record<string, ModelClass>)[object.kind ?? ''];
  } catch {
    cls = undefined;
  }
  if (!cls) return [`${object.apiVersion} ${object.kind}: no schema`];
  try {
    new cls(object).validate();
    return [];
  } catch (e) {
    return [`${object.kind}: ${(e as Error).message}`];
  }
}
