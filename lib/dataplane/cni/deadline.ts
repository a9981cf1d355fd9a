import { Clock, systemClock } from '../bgp/session/clock';
import { KeyValueStore, PutOptions, Revision, WatchEvent, WatchOptions } from '../datastore/types';
import { CniError, CNI_ERROR } from './errors';

/** Default of the Calico-mode conflist key `datastore_timeout_seconds`. */
export const DEFAULT_DATASTORE_TIMEOUT_SECONDS = 10;

/**
 * One CNI invocation's datastore deadline. Every datastore call (and the wait for the IPAM host
 * lock) races it; once it passes, calls in flight and every later call reject with error 11 "try
 * again later", and `signal` aborts. The etcd3 client's own per-call deadline and retries
 * (3 attempts of 10 s each) would otherwise hold an ADD for a frozen etcd far longer than a runtime
 * waits. A call still in flight at the deadline may yet land: `settled()` resolves once every one
 * has, so a resident server can hold back the next command for the same container until then.
 */
export class InvocationDeadline {
  private readonly controller = new AbortController();
  private readonly timer: unknown;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly error: CniError;

  constructor(readonly seconds: number, what: string, private readonly clock: Clock = systemClock) {
    this.error = new CniError(CNI_ERROR.tryAgainLater, `${what} did not answer within ${seconds} s (datastore_timeout_seconds): try again later`);
    this.timer = clock.setTimeout(() => this.controller.abort(this.error), seconds * 1000);
  }

  /** Aborted (with the error 11 as its reason) when the deadline passes. */
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

  /** `call`'s outcome, or error 11 once the deadline passes first; after it, `call` is not started. */
  run<T>(call: () => Promise<T>): Promise<T> {
    if (this.passed) return Promise.reject(this.error);
    const work = call();
    this.track(work);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(this.error);
      this.signal.addEventListener('abort', onAbort, { once: true });
      work.then((value) => {
        this.signal.removeEventListener('abort', onAbort);
        resolve(value);
      }, (error: unknown) => {
        this.signal.removeEventListener('abort', onAbort);
        reject(error);
      });
    });
  }

  /** Resolves when every call run so far has settled, whatever the deadline said. */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** Stops the timer (the invocation is over); calls in flight are still tracked. */
  dispose(): void {
    this.clock.clearTimeout(this.timer);
  }

  /** Registered before the caller's callbacks, so a call is no longer `pending` when its caller resumes. */
  private track(work: Promise<unknown>): void {
    const forget = (): void => { this.inFlight.delete(entry); };
    const entry: Promise<void> = work.then(forget, forget);
    this.inFlight.add(entry);
  }
}

/** `store` with every call raced against `deadline` (watches are not part of the CNI path). */
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
