import { ValidationError } from '../../model/errors';
import { RecordReader, decodeJsonObject } from '../datastore/records';
import { KeyValueStore, WatchHandle } from '../datastore/types';

/** What a settings parser returns: the settings in force, each bad value, and the fields not obeyed. */
export interface ConfigParseResult<T> {
  readonly settings: T;
  /** One line per bad value (field, value, what is expected); that value did not take effect. */
  readonly errors: readonly ValidationError[];
  /** Fields present but not obeyed by the process reading them. */
  readonly ignored: readonly string[];
}

export interface ConfigFollowerOptions<T> {
  readonly store: KeyValueStore;
  /** The watched prefix, e.g. `felixconfigurations/`; every change under it re-reads `names`. */
  readonly prefix: string;
  /** The resources read under `prefix`, e.g. `['default', 'node.n1']`. */
  readonly names: readonly string[];
  /**
   * The pure parser: the specs of `names` in that order (undefined when absent, or not JSON with no
   * good version seen) and the settings in force (none at start-up) → the effective settings. Must
   * not throw on bad input.
   */
  readonly parse: (specs: readonly unknown[], previous?: T) => ConfigParseResult<T>;
  /** Whether two settings are the same (no change is reported). @default shallow equality of the fields */
  readonly same?: (a: T, b: T) => boolean;
  /** Called after a change in the datastore moved the effective settings (not for the first read), with the settings in force before. */
  readonly onChange?: (result: ConfigParseResult<T>, previous: T) => void;
  /** Failed reads and watches, and each bad value seen on a re-read (start() returns its own). @default ignored */
  readonly onError?: (error: Error) => void;
}

/**
 * Follows settings resources in a Calico store (etcd layout or KubeCrdStore: `<plural>/<name>` →
 * the spec JSON): reads them once, watches their prefix, and re-reads on every change. A bad value
 * never takes effect (the parser keeps the value in force). A resource that cannot be read as a JSON
 * object is reported once per revision and its last good version stays in force; with none seen
 * yet it counts as absent. Reads are serialised, so settings move in datastore order.
 */
export class ConfigFollower<T extends object> {
  private settings?: T;
  private watch?: WatchHandle;
  private reading: Promise<void> = Promise.resolve();
  private stopped = false;
  /** One per resource name: the last good spec of each. */
  private readonly records = new Map<string, RecordReader>();

  constructor(private readonly config: ConfigFollowerOptions<T>) {}

  /** The settings in force (after start). */
  get current(): T {
    if (!this.settings) throw new Error(`settings under ${this.config.prefix}: start() first`);
    return this.settings;
  }

  /** Reads once and starts watching; the result's errors and ignored fields are the caller's to report. */
  async start(): Promise<ConfigParseResult<T>> {
    const result = await this.read();
    this.settings = result.settings;
    this.watch = this.config.store.watch(this.config.prefix, () => this.changed(), { onError: (e) => this.config.onError?.(e) });
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
      for (const error of result.errors) this.config.onError?.(error);
      if ((this.config.same ?? shallowEqual)(result.settings, previous)) return;
      this.settings = result.settings;
      this.config.onChange?.(result, previous);
    }).catch((error: Error) => this.config.onError?.(error));
  }

  private async read(previous?: T): Promise<ConfigParseResult<T>> {
    const specs = await Promise.all(this.config.names.map((name) => this.spec(name)));
    return this.config.parse(specs, previous);
  }

  private async spec(name: string): Promise<unknown> {
    const key = `${this.config.prefix}${name}`;
    const kv = await this.config.store.get(key);
    let records = this.records.get(name);
    if (!records) {
      records = new RecordReader((error, standIn) => this.config.onError?.(
        new Error(`${error.message}; ${standIn ? 'its last good version stays in force' : 'read as absent'}`)));
      this.records.set(name, records);
    }
    // A list of the one key: a deleted resource is forgotten with its last good version.
    return records.read(key, kv ? [kv] : [], decodeJsonObject)[0];
  }
}

/** The same value in every field (`===`). */
export function shallowEqual<T extends object>(a: T, b: T): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof T>;
  return [...keys].every((k) => a[k] === b[k]);
}
