import { KeyValueStore, WatchHandle } from '../datastore/types';
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
 * reported.
 */
export class FelixConfigFollower {
  private settings?: FelixSettings;
  private watch?: WatchHandle;
  private reading: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: FelixConfigFollowerOptions) {}

  /** The settings in force (after start). */
  get current(): FelixSettings {
    if (!this.settings) throw new Error('FelixConfigFollower: start() first');
    return this.settings;
  }

  /** Reads once and starts watching; the result's errors and ignored fields are the caller's to report. */
  async start(): Promise<FelixParseResult<FelixSettings>> {
    const result = await this.read();
    this.settings = result.settings;
    this.watch = this.options.store.watch(FELIX_CONFIGURATION_PREFIX, () => this.changed(), { onError: (e) => this.options.onError?.(e) });
    return result;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.watch?.close();
    await this.reading;
  }

  private changed(): void {
    this.reading = this.reading.then(async () => {
      if (this.stopped || !this.settings) return;
      const previous = this.settings;
      const result = await this.read(previous);
      if (this.stopped) return;
      for (const error of result.errors) this.options.onError?.(error);
      if (sameSettings(result.settings, previous)) return;
      this.settings = result.settings;
      this.options.onChange?.(result, previous);
    }).catch((error: Error) => this.options.onError?.(error));
  }

  private async read(previous?: FelixSettings): Promise<FelixParseResult<FelixSettings>> {
    const names = felixConfigurationNames(this.options.node);
    const [defaults, node] = await Promise.all([this.spec(names.defaults), this.spec(names.node)]);
    return effectiveFelixSettings({ defaults, node, nodeName: this.options.node, env: this.options.env ?? {}, ...(previous ? { previous } : {}) });
  }

  private async spec(name: string): Promise<unknown> {
    const kv = await this.options.store.get(`${FELIX_CONFIGURATION_PREFIX}${name}`);
    if (!kv) return undefined;
    try {
      return JSON.parse(kv.value);
    } catch {
      this.options.onError?.(new Error(`${FELIX_CONFIGURATION_PREFIX}${name}: not JSON; read as absent`));
      return undefined;
    }
  }
}

export function sameSettings(a: FelixSettings, b: FelixSettings): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof FelixSettings>;
  return [...keys].every((k) => a[k] === b[k]);
}
