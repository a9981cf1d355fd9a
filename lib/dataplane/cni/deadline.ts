import { Clock, systemClock } from '../bgp/session/clock';
import { KeyValueStore, PutOptions, Revision, WatchEvent, WatchOptions } from '../datastore/types';
import { CniError, CNI_ERROR } from './errors';

/** Default of the Calico-mode conflist key `datastore_timeout_seconds`. */
export const DEFAULT_DATASTORE_TIMEOUT_SECONDS = 10;

/** How many datastore timeouts an ADD may wait for the IPAM host lock (behind other ADDs on the node). */
export const LOCK_WAIT_TIMEOUTS = 6;

/**
 * The datastore deadline of one CNI invocation. Every datastore call gets `seconds` to answer; the
 * first that does not makes the invocation answer error 11 "try again later": `signal` aborts, and no
 * later call starts (they reject at once). The etcd3 client's own per-call deadline and retries
 * (3 attempts of 10 s each) would otherwise hold an ADD for a frozen etcd far longer than a runtime
 * waits. A call still in flight at its deadline may yet land: `settled()` resolves once every one has,
 * so a resident server can hold back the next command for the same container until then.
 * Waiting behind other ADDs for the node's IPAM lock is not a datastore call: `waitSignal` bounds it.
 */
export class InvocationDeadline {
  private readonly controller = new AbortController();
  private readonly timers = new Set<unknown>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly error: CniError;

  constructor(readonly seconds: number, what: string, private readonly clock: Clock = systemClock) {
    this.error = new CniError(CNI_ERROR.tryAgainLater, `${what} did not answer within ${seconds} s (datastore_timeout_seconds): try again later`);
  }

  /** Aborted (with the error 11 as its reason) once a call has passed its deadline. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Some call run so far has not settled yet. */
  get pending(): boolean {
    return this.inFlight.size > 0;
  }

  get passed(): boolean {
    return this.controller.signal.aborted;
  }

  /** `call`'s outcome, or error 11 when it takes longer than the deadline; after that, `call` is not started. */
  run<T>(call: () => Promise<T>): Promise<T> {
    if (this.passed) return Promise.reject(this.error);
    const work = call();
    this.track(work);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.error);
      const timer = this.clock.setTimeout(() => {
        this.timers.delete(timer);
        this.controller.abort(this.error);
      }, this.seconds * 1000);
      this.timers.add(timer);
      this.signal.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        this.clock.clearTimeout(timer);
        this.timers.delete(timer);
        this.signal.removeEventListener('abort', onAbort);
      };
      work.then((value) => {
        done();
        resolve(value);
      }, (error: unknown) => {
        done();
        reject(error);
      });
    });
  }

  /**
   * Aborts with error 11 when a datastore call passes its deadline, or when `seconds` pass first
   * (`what` is then named: e.g. the IPAM host lock, held by other ADDs for that long).
   */
  waitSignal(what: string, seconds: number): AbortSignal {
    const controller = new AbortController();
    const timer = this.clock.setTimeout(() => {
      this.timers.delete(timer);
      controller.abort(new CniError(CNI_ERROR.tryAgainLater, `${what} not had within ${seconds} s: try again later`));
    }, seconds * 1000);
    this.timers.add(timer);
    if (this.passed) controller.abort(this.error);
    else this.signal.addEventListener('abort', () => controller.abort(this.error), { once: true });
    return controller.signal;
  }

  /** Resolves when every call run so far has settled, whatever the deadline said. */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops every timer (the invocation has answered); calls in flight are still tracked. */
  dispose(): void {
    for (const timer of this.timers) this.clock.clearTimeout(timer);
    this.timers.clear();
  }

  /** Registered before the caller's callbacks, so a call is no longer `pending` when its caller resumes. */
  private track(work: Promise<unknown>): void {
    const forget = (): void => { this.inFlight.delete(entry); };
    const entry: Promise<void> = work.then(forget, forget);
    this.inFlight.add(entry);
  }
}

/** `store` with every call under `deadline` (watches are not part of the CNI path). */
export function deadlineStore(store: KeyValueStore, deadline: InvocationDeadline): KeyValueStore {
  return {
    kind: store.kind,
    get: (key: string) => deadline.run(() => store.get(key)),
    list: (prefix: string) => deadline.run(() => store.list(prefix)),
    put: (key: string, value: string, options?: PutOptions) => deadline.run(() => store.put(key, value, options)),
    create: (key: string, value: string, options?: PutOptions) => deadline.run(() => store.create(key, value, options)),
    update: (key: string, value: string, revision: Revision, options?: PutOptions) => deadline.run(() => store.update(key, value, revision, options)),
    delete: (key: string, revision?: Revision) => deadline.run(() => store.delete(key, revision)),
    watch: (prefix: string, onEvent: (event: WatchEvent) => void, options?: WatchOptions) => store.watch(prefix, onEvent, options),
    close: () => store.close(),
  };
}
