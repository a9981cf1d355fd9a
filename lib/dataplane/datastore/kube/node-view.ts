import { JsonObject, JsonValue } from '../types';
import { KubeView } from './policy-views';
import { NETWORK_UNAVAILABLE, Node } from './types';

/** Where `KUBE_NODES_VIEW` keeps its documents: `kubenodes/<name>`. */
export const KUBE_NODES_PREFIX = 'kubenodes/';

/**
 * `kubenodes/<name>`: the Kubernetes Node as a flannel-style agent reads it — name, labels,
 * annotations, pod CIDRs and the NetworkUnavailable condition. The rest of the status is left out:
 * the kubelet rewrites every condition's heartbeat time, and an unchanged document is not announced
 * by the watch cache, so peers' heartbeats cost the agents nothing.
 */
export const KUBE_NODES_VIEW: KubeView = {
  prefix: KUBE_NODES_PREFIX,
  resource: { version: 'v1', plural: 'nodes' },
  namespaced: false,
  optional: false,
  key: (object) => `${KUBE_NODES_PREFIX}${object.metadata.name}`,
  value: (object) => nodeDocument(object as Node),
  locate: (key) => {
    const name = key.slice(KUBE_NODES_PREFIX.length);
    return key.startsWith(KUBE_NODES_PREFIX) && name && !name.includes('/') ? { name } : undefined;
  },
};

function nodeDocument(node: Node): JsonObject {
  const { name, labels, annotations } = node.metadata;
  const metadata: JsonObject = { name };
  if (labels) metadata.labels = { ...labels };
  if (annotations) metadata.annotations = { ...annotations };
  const spec: JsonObject = {};
  if (node.spec?.podCIDR) spec.podCIDR = node.spec.podCIDR;
  if (node.spec?.podCIDRs) spec.podCIDRs = [...node.spec.podCIDRs];
  const conditions = (node.status?.conditions ?? []).filter((c) => c.type === NETWORK_UNAVAILABLE).map((c) => ({ ...c }) as unknown as JsonValue);
  return { metadata, spec, status: { conditions } };
}

/** The Node a `KUBE_NODES_VIEW` document describes. */
export function nodeFromDocument(value: string): Node {
  return JSON.parse(value) as Node;
}
