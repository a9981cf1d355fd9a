import { Clock, systemClock } from '../bgp/session/clock';
import { RevisionConflictError, UnsupportedOperationError } from './errors';
import { KeyValueStore, PutOptions, Revision, WatchEvent, WatchHandle, WatchOptions } from './types';

/** Where the state-change lines go: `warn` for lost, `info` for regained. */
export interface OutageLogSink {
  warn(msg: string, fields?: Readonly<Record<string, string | number>>): void;
  info(msg: string, fields?: Readonly<Record<string, string | number>>): void;
}

/**
 * Whether a datastore is reachable, as one component sees it: the first failure after success
 * logs `datastore lost: <why>`, the first success after failures logs `datastore regained after
 * <duration>`. Retries in between log nothing, so an outage of any length costs two lines.
 */
export class OutageLog {
  private lostAt?: number;
  private failures = 0;
  /** Bumped when an outage begins: a call that started before it cannot end it. */
  private epoch = 0;

  constructor(private readonly sink: OutageLogSink, private readonly what = 'datastore', private readonly clock: Clock = systemClock) {}

  /** True while the datastore is considered away. */
  public get lost(): boolean {
    return this.lostAt !== undefined;
  }

  /** Taken when a call starts; pass it to `succeeded`. */
  public ticket(): number {
    return this.epoch;
  }

  public failed(error: Error): void {
    this.failures++;
    if (this.lostAt !== undefined) return;
    this.lostAt = this.clock.now();
    this.epoch++;
    this.failures = 1;
    this.sink.warn(`${this.what} lost: ${error.message}`);
  }

  /** A call started at `ticket` succeeded; one started before the outage began proves nothing. */
  public succeeded(ticket = this.epoch): void {
    if (this.lostAt === undefined || ticket < this.epoch) return;
    const ms = this.clock.now() - this.lostAt;
    const failures = this.failures;
    this.lostAt = undefined;
    this.failures = 0;
    this.sink.info(`${this.what} regained after ${formatDuration(ms)}`, { outageMs: ms, failedCalls: failures });
  }
}

/** `850ms`, `12.3s`, `2m5s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${s % 60}s`;
}

/**
 * True when the error is the datastore answering (a lost compare-and-swap, a refused operation, a
 * Kubernetes 4xx): it is up. Anything else (timeouts, refused connections, 5xx) means it is away.
 */
export function isDatastoreAnswer(error: unknown): boolean {
  if (error instanceof RevisionConflictError || error instanceof UnsupportedOperationError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return (error as Error | null)?.name === 'KubeApiError' && typeof code === 'number' && code >= 400 && code < 500;
}

/**
 * `store`, with every call's outcome reported to `outage`: a resolved call (or a call the
 * datastore answered with a refusal) counts as reachable, any other failure and every watch error
 * as unreachable; a watch event or a watch (re)connecting counts as reachable.
 */
export function observedStore(store: KeyValueStore, outage: OutageLog): KeyValueStore {
  const observe = async <T>(call: () => Promise<T>): Promise<T> => {
    const ticket = outage.ticket();
    try {
      const result = await call();
      outage.succeeded(ticket);
      return result;
    } catch (error) {
      if (isDatastoreAnswer(error)) outage.succeeded(ticket);
      else outage.failed(error as Error);
      throw error;
    }
  };
  return {
    kind: store.kind,
    get: (key: string) => observe(() => store.get(key)),
    list: (prefix: string) => observe(() => store.list(prefix)),
    put: (key: string, value: string, options?: PutOptions) => observe(() => store.put(key, value, options)),
    create: (key: string, value: string, options?: PutOptions) => observe(() => store.create(key, value, options)),
    update: (key: string, value: string, revision: Revision, options?: PutOptions) => observe(() => store.update(key, value, revision, options)),
    delete: (key: string, revision?: Revision) => observe(() => store.delete(key, revision)),
    watch: (prefix: string, onEvent: (event: WatchEvent) => void, options: WatchOptions = {}): WatchHandle => store.watch(prefix, (event) => {
      outage.succeeded();
      onEvent(event);
    }, {
      ...options,
      onError: (error) => {
        outage.failed(error);
        options.onError?.(error);
      },
      onConnected: () => {
        outage.succeeded();
        options.onConnected?.();
      },
    }),
    close: () => store.close(),
  };
}

/** What `retryReporter` writes to (a `Logger`). */
export interface RetryLog {
  warn(msg: string, fields?: Readonly<Record<string, string>>): void;
  debug(msg: string, fields?: Readonly<Record<string, string>>): void;
}

/**
 * The error handler of a loop that retries forever: one warning per distinct message, and none
 * while `outage` says the datastore is lost (it said so once; the retries are debug lines).
 */
export function retryReporter(log: RetryLog, msg: string, outage?: OutageLog): (error: Error) => void {
  let last = '';
  return (error) => {
    if (outage?.lost) return void log.debug(msg, { error: error.message });
    if (error.message === last) return;
    last = error.message;
    log.warn(msg, { error: error.message });
  };
}
