/** Whether Typha (the datastore fan-out proxy between the API server and the node agents) runs. */
export enum TyphaMode {
  /** On when the expected node count exceeds the threshold. */
  AUTO = 'Auto',
  ENABLED = 'Enabled',
  DISABLED = 'Disabled',
}

/** Upstream: Typha is recommended above 50 nodes and essential above 100 with the Kubernetes datastore. */
export const TYPHA_DEFAULT_NODE_THRESHOLD = 50;
/** Upstream docs: never more than 20 replicas. */
export const TYPHA_MAX_REPLICAS = 20;

/**
 * Typha replicas for a cluster of `nodes` nodes, the tigera/operator autoscaling rule:
 * 1 replica up to 2 nodes, 2 up to 4 nodes, otherwise `floor(nodes / 200) + 2` but at least 3
 * (a production cluster survives one replica down during a rolling update and one lost node)
 * and at most 20 (the documented ceiling). Replicas stay fewer than nodes: each one needs a
 * node of its own (host network, fixed port).
 */
export function typhaReplicasFor(nodes: number): number {
  if (nodes <= 2) return 1;
  if (nodes <= 4) return 2;
  return Math.min(TYPHA_MAX_REPLICAS, Math.max(3, Math.floor(nodes / 200) + 2));
}

/** True when Typha runs for this mode and node count. */
export function typhaEnabled(mode: TyphaMode, nodes: number, threshold: number): boolean {
  return mode === TyphaMode.ENABLED || (mode === TyphaMode.AUTO && nodes > threshold);
}
