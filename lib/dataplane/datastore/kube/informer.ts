import { isKubeApiError, WatchStream } from './client';
import { ListQuery, ResourceApi } from './resource';
import { KubeObject, KubeWatchEvent } from './types';

/** A change to the informer's cache. `modified` carries the previous object. */
export type CacheEvent<T extends KubeObject> =
  | { readonly type: 'added'; readonly object: T }
  | { readonly type: 'modified'; readonly object: T; readonly old: T }
  | { readonly type: 'deleted'; readonly object: T };

export interface InformerOptions<T extends KubeObject> {
  readonly api: ResourceApi<T>;
  /** Called with each batch of changes: the first list, then each watch event, or the diff after a relist. */
  readonly onEvents: (events: readonly CacheEvent<T>[]) => void;
  /** Transient failures; the informer keeps retrying. @default ignored */
  readonly onError?: (error: Error) => void;
  readonly query?: ListQuery;
  /** Pause before retrying after a failure. @default 1000 ms */
  readonly retryDelayMs?: number;
}

/**
 * client-go's reflector + store in miniature: list, then watch from the list's resourceVersion;
 * when the stream ends, watch again from the last version seen (bookmarks keep it fresh); on
 * 410 Gone, relist and report only the difference. Level-triggered consumers read `list()`.
 */
export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private stream?: WatchStream;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private started = false;
  private syncedResolve?: () => void;
  /** Resolves once the first list is in the cache. */
  public readonly synced: Promise<void>;

  constructor(private readonly options: InformerOptions<T>) {
    this.synced = new Promise<void>((resolve) => {
      this.syncedResolve = resolve;
    });
  }

  /** Starts listing and watching (once; later calls only wait); resolves when the first list is in the cache. */
  public start(): Promise<void> {
    if (!this.started) {
      this.started = true;
      void this.relist();
    }
    return this.synced;
  }

  /** The cached object; namespaced kinds need their namespace, as in client-go's store. */
  public get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  public list(): T[] {
    return [...this.cache.values()];
  }

  public stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.stream?.abort();
    this.stream = undefined;
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    try {
      const list = await this.options.api.list(this.options.query);
      if (this.stopped) return;
      const events: CacheEvent<T>[] = [];
      const seen = new Set<string>();
      for (const object of list.items) {
        const key = cacheKey(object);
        seen.add(key);
        const old = this.cache.get(key);
        this.cache.set(key, object);
        if (!old) events.push({ type: 'added', object });
        else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) events.push({ type: 'modified', object, old });
      }
      for (const [key, object] of [...this.cache]) {
        if (!seen.has(key)) {
          this.cache.delete(key);
          events.push({ type: 'deleted', object });
        }
      }
      this.resourceVersion = list.metadata.resourceVersion;
      this.syncedResolve?.();
      if (events.length > 0) this.options.onEvents(events);
      this.watch();
    } catch (error) {
      this.options.onError?.(error as Error);
      this.retry(() => void this.relist());
    }
  }

  private watch(): void {
    if (this.stopped) return;
    let gone = false;
    const openedAt = Date.now();
    this.stream = this.options.api.watch(this.resourceVersion, (event) => {
      if (this.stopped) return;
      if (event.type === 'ERROR') {
        gone = event.object.code === 410;
        if (!gone) this.options.onError?.(new Error(`kubernetes watch: ${event.object.message}`));
        return;
      }
      this.apply(event);
    }, (error) => {
      this.stream = undefined;
      if (this.stopped) return;
      if (gone || isKubeApiError(error, 410)) {
        void this.relist();
      } else if (error) {
        this.options.onError?.(error);
        this.retry(() => this.watch());
      } else if (Date.now() - openedAt > 1000) {
        // A normal end (server timeout): resume from the last version seen.
        this.watch();
      } else {
        this.retry(() => this.watch()); // ended at once: do not spin
      }
    }, this.options.query);
  }

  private apply(event: Exclude<KubeWatchEvent<T>, { type: 'ERROR' }>): void {
    this.resourceVersion = event.object.metadata.resourceVersion || this.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const object = event.object;
    const key = cacheKey(object);
    const old = this.cache.get(key);
    if (event.type === 'DELETED') {
      this.cache.delete(key);
      this.options.onEvents([{ type: 'deleted', object }]);
      return;
    }
    this.cache.set(key, object);
    this.options.onEvents([old ? { type: 'modified', object, old } : { type: 'added', object }]);
  }

  private retry(action: () => void): void {
    if (this.stopped) return;
    this.timer = setTimeout(action, this.options.retryDelayMs ?? 1000);
  }
}

/** client-go's MetaNamespaceKeyFunc: `<namespace>/<name>` for namespaced objects, `<name>` otherwise. */
function cacheKey(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return namespace ? `${namespace}/${name}` : name;
}
