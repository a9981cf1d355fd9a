import { KubeObject } from './kube-object';

interface PodTemplateSpec {
  readonly containers?: readonly { readonly image?: unknown }[];
  readonly initContainers?: readonly { readonly image?: unknown }[];
}

/** Every container image the objects' pod templates reference, sorted, each once. */
export function imagesOf(objects: readonly KubeObject[]): string[] {
  const images = new Set<string>();
  for (const object of objects) {
    const pod = (object.spec as { template?: { spec?: PodTemplateSpec } } | undefined)?.template?.spec;
    for (const container of [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])]) {
      if (typeof container.image === 'string') images.add(container.image);
    }
  }
  return [...images].sort();
}
