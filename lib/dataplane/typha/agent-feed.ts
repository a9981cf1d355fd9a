import { KubeClient } from '../datastore/kube/client';
import { KeyValueStore } from '../datastore/types';
import { SnapshotFeed, storeFeed } from '../datastore/watch-cache';
import { TyphaAddress, TyphaClient } from './client';
import { TyphaConfig, typhaDiscovery } from './config';
import type { OutageLog } from '../datastore/outage';

export interface AgentFeedOptions {
  /** The datastore, followed directly when there is no Typha. */
  readonly store: KeyValueStore;
  /** This node's name (Typha logs agents by it). */
  readonly node: string;
  /** FELIX_TYPHA* (config.ts). @default none: one list + watch per prefix on `store` */
  readonly typha?: TyphaConfig;
  /** The API client, for Typha found by Service (its Endpoints). @default none */
  readonly client?: KubeClient;
  readonly onConnect?: (address: TyphaAddress) => void;
  /** Through Typha, its connection is the datastore's reachability (the store's own calls report too). @default none */
  readonly outage?: OutageLog;
}

/** What a node agent's watch cache is fed by: Typha when the manifests name it, else the datastore itself. */
export function agentFeed(options: AgentFeedOptions): SnapshotFeed {
  if (!options.typha) return storeFeed(options.store);
  return new TyphaClient({
    node: options.node, discover: typhaDiscovery(options.typha, options.client),
    ...(options.onConnect ? { onConnect: options.onConnect } : {}), ...(options.outage ? { outage: options.outage } : {}),
  });
}
