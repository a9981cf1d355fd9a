import { FELIX_CONFIGURATION_PREFIX } from '../calico/felix-config-store';
import { KubeClient } from '../datastore/kube/client';
import { KeyValueStore } from '../datastore/types';
import { WatchCache } from '../datastore/watch-cache';
import { agentFeed } from '../typha/agent-feed';
import { TyphaAddress } from '../typha/client';
import { TyphaConfig } from '../typha/config';
import { POLICY_PREFIXES } from './keys';

export interface PolicyAgentCacheOptions {
  /** The datastore (etcd, or `KubeCrdStore` with its policy views). */
  readonly store: KeyValueStore;
  /** This node's name (Typha logs agents by it). */
  readonly node: string;
  /** Follow the datastore through Typha (FELIX_TYPHA*, typha/config.ts). @default the agent's own list + watch per prefix */
  readonly typha?: TyphaConfig;
  /** The API client, for Typha found by Service (its Endpoints). @default none */
  readonly client?: KubeClient;
  /** Also cache FelixConfigurations (`--felix-configuration`). @default false */
  readonly felixConfiguration?: boolean;
  /** Feed failures (the feed retries by itself). @default ignored */
  readonly onError?: (error: Error) => void;
  readonly onConnect?: (address: TyphaAddress) => void;
}

/**
 * The policy agent's one watch cache: POLICY_PREFIXES (plus `felixconfigurations/` when it obeys
 * FelixConfiguration), fed by Typha when the manifests name it — then the agent holds no watch on
 * the datastore at all — else by one list + watch per prefix of its own (`storeFeed`). Read it
 * through `cachedStore(store, cache)`; start it before the readers.
 */
export function policyAgentCache(options: PolicyAgentCacheOptions): WatchCache {
  const prefixes = [...POLICY_PREFIXES, ...(options.felixConfiguration ? [FELIX_CONFIGURATION_PREFIX] : [])];
  return new WatchCache(agentFeed(options), prefixes, options.onError);
}
