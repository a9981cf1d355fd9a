import { CALICO_AGENT_PREFIXES } from '../calico/agent';
import { POLICY_PREFIXES } from '../policy/keys';

/**
 * Everything Typha serves: what the Calico agent follows and what the policy agent follows, so that
 * in production neither holds an API server watch of its own. The same keys in both datastores
 * (policy/keys.ts), so one list fits etcd and Kubernetes; no prefix lies inside another (a watch
 * cache keeps each prefix in one slot).
 */
export const TYPHA_PREFIXES: readonly string[] = [...new Set([...CALICO_AGENT_PREFIXES, ...POLICY_PREFIXES])];
