import { KeyValueStore } from '../datastore/types';
import { ConfigFollower, shallowEqual } from './config-follower';
import { FelixParseResult, FelixSettings, effectiveFelixSettings, felixConfigurationNames } from './felix-config';

/** Where FelixConfigurations live in a Calico store (etcd layout or KubeCrdStore): `felixconfigurations/<name>` → the spec JSON. */
export const FELIX_CONFIGURATION_PREFIX = 'felixconfigurations/';

export interface FelixConfigFollowerOptions {
  readonly store: KeyValueStore;
  /** This node's name: `felixconfigurations/node.<node>` applies to it. */
  readonly node: string;
  /** `FELIX_*` variables (they win over the datastore, as in Felix). @default {} */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Called after a change in the datastore moved the effective settings (not for the first read),
   * with the settings in force before.
   */
  readonly onChange?: (result: FelixParseResult<FelixSettings>, previous: FelixSettings) => void;
  /** Failed reads and watches, and each bad value seen on a re-read (start() returns its own). @default ignored */
  readonly onError?: (error: Error) => void;
}

/**
 * Follows the FelixConfigurations that apply to one node (`default`, `node.<name>`) plus `FELIX_*`
 * and keeps the effective settings (felix-config.ts). A bad value never takes effect: the field
 * keeps the value in force. A FelixConfiguration that cannot be read as JSON counts as absent and is
 * reported. The mechanism is config-follower.ts's, shared with the controllers' follower.
 */
export class FelixConfigFollower extends ConfigFollower<FelixSettings> {
  constructor(options: FelixConfigFollowerOptions) {
    const names = felixConfigurationNames(options.node);
    super({
      store: options.store,
      prefix: FELIX_CONFIGURATION_PREFIX,
      names: [names.defaults, names.node],
      parse: ([defaults, node], previous) => effectiveFelixSettings({ defaults, node, nodeName: options.node, env: options.env ?? {}, ...(previous ? { previous } : {}) }),
      same: sameSettings,
      ...(options.onChange ? { onChange: options.onChange } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }
}

export function sameSettings(a: FelixSettings, b: FelixSettings): boolean {
  return shallowEqual(a, b);
}
