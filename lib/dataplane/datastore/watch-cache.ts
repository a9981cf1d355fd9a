import { KeyValue, KeyValueStore, ListResult, PutOptions, Revision, WatchEvent, WatchHandle, WatchOptions } from './types';

/**
 * Where a cache gets its content, per key prefix: the first event is a `reset` carrying everything
 * under the prefix, then changes; another `reset` whenever history was lost (etcd compaction,
 * Kubernetes 410, a reconnect to Typha). A datastore is one feed (`storeFeed`), Typha another.
 */
export interface SnapshotFeed {
  subscribe(prefix: string, onEvent: (event: WatchEvent) => void, onError?: (error: Error) => void): WatchHandle;
}

/** A datastore as a feed: list, report it as a `reset`, watch from the list's revision; relist after an error. */
export function storeFeed(store: KeyValueStore, retryMs = 1000): SnapshotFeed {
  return {
    subscribe(prefix, onEvent, onError) {
      let closed = false;
      let watch: WatchHandle | undefined;
      let timer: NodeJS.Timeout | undefined;
      const start = async (): Promise<void> => {
        try {
          const list = await store.list(prefix);
          if (closed) return;
          onEvent({ type: 'reset', items: list.items, revision: list.revision });
          watch = store.watch(prefix, (event) => {
            if (!closed) onEvent(event);
          }, { fromRevision: list.revision, onError: (e) => onError?.(e) });
        } catch (error) {
          onError?.(error as Error);
          if (!closed) timer = setTimeout(() => void start(), retryMs);
        }
      };
      void start();
      return {
        close: async () => {
          closed = true;
          if (timer) clearTimeout(timer);
          await watch?.close();
        },
      };
    },
  };
}

/** One prefix's content and the listeners that follow it. */
interface Slot {
  readonly items: Map<string, KeyValue>;
  revision: Revision;
  synced: boolean;
  readonly listeners: Set<(event: WatchEvent) => void>;
}

/**
 * The dataplane's one watch cache: the current content of a fixed set of key prefixes, kept by one
 * subscription per prefix to a feed. Readers list from memory (no datastore round trip per pass);
 * followers get every change of a value, with a `reset` turned into the puts and deletes it
 * implies, so a consumer never has to diff; a new revision of an unchanged value is stored
 * silently. What Calico's syncer + Felix's calc graph input, or client-go's shared informer, is to
 * their components.
 */
export class WatchCache {
  private readonly slots = new Map<string, Slot>();
  private readonly handles: WatchHandle[] = [];
  private readonly changeListeners = new Set<(prefix: string) => void>();
  private syncedResolve?: () => void;
  private started = false;
  /** Resolves once every prefix has had its first snapshot. */
  public readonly synced: Promise<void>;

  constructor(private readonly feed: SnapshotFeed, public readonly prefixes: readonly string[], private readonly onError?: (error: Error) => void) {
    for (const prefix of prefixes) this.slots.set(prefix, { items: new Map(), revision: '', synced: false, listeners: new Set() });
    this.synced = new Promise((resolve) => {
      this.syncedResolve = resolve;
    });
  }

  /** Subscribes to every prefix; resolves when all are synced. */
  public start(): Promise<void> {
    if (!this.started) {
      this.started = true;
      if (!this.prefixes.length) this.syncedResolve?.();
      for (const prefix of this.prefixes) this.handles.push(this.feed.subscribe(prefix, (event) => this.apply(prefix, event), this.onError));
    }
    return this.synced;
  }

  public async stop(): Promise<void> {
    await Promise.all(this.handles.splice(0).map((h) => h.close().catch(() => undefined)));
  }

  /** True when `key` falls under a cached prefix. */
  public covers(key: string): boolean {
    return this.slotOf(key) !== undefined;
  }

  /** Cached items under `prefix` (which must lie within a cached prefix), in key order. */
  public list(prefix: string): ListResult {
    const [, slot] = this.slotOf(prefix) ?? this.fail(prefix);
    const items = [...slot.items.values()].filter((kv) => kv.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { items, revision: slot.revision };
  }

  public get(key: string): KeyValue | undefined {
    const [, slot] = this.slotOf(key) ?? this.fail(key);
    return slot.items.get(key);
  }

  /**
   * Follows changes under a cached prefix: first a `reset` with what is cached (once synced), then
   * puts and deletes. Served from memory; no datastore watch is opened.
   */
  public watch(prefix: string, onEvent: (event: WatchEvent) => void): WatchHandle {
    const [, slot] = this.slotOf(prefix) ?? this.fail(prefix);
    const listener = (event: WatchEvent) => {
      if (event.type === 'reset') onEvent({ ...event, items: event.items.filter((kv) => kv.key.startsWith(prefix)) });
      else if ((event.type === 'put' ? event.kv.key : event.key).startsWith(prefix)) onEvent(event);
    };
    slot.listeners.add(listener);
    if (slot.synced) listener({ type: 'reset', items: [...slot.items.values()], revision: slot.revision });
    return { close: async () => void slot.listeners.delete(listener) };
  }

  /** Calls `listener` with the prefix after any change (level-triggered consumers); returns the unsubscribe. */
  public onChange(listener: (prefix: string) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private apply(prefix: string, event: WatchEvent): void {
    const slot = this.slots.get(prefix) as Slot;
    const out: WatchEvent[] = [];
    if (event.type === 'reset') {
      const next = new Map(event.items.map((kv) => [kv.key, kv]));
      if (!slot.synced) {
        slot.items.clear();
        for (const [k, v] of next) slot.items.set(k, v);
        out.push({ type: 'reset', items: event.items, revision: event.revision });
      } else {
        for (const [key, kv] of slot.items) {
          if (!next.has(key)) {
            slot.items.delete(key);
            out.push({ type: 'delete', key, revision: event.revision, previous: kv });
          }
        }
        for (const [key, kv] of next) {
          const old = slot.items.get(key);
          slot.items.set(key, kv);
          if (old?.value !== kv.value) out.push({ type: 'put', kv });
        }
      }
      slot.revision = event.revision;
      slot.synced = true;
      if ([...this.slots.values()].every((s) => s.synced)) this.syncedResolve?.();
    } else if (event.type === 'put') {
      const old = slot.items.get(event.kv.key);
      slot.items.set(event.kv.key, event.kv);
      slot.revision = event.kv.revision || slot.revision;
      // A new revision with the same value (a Node's status heartbeat under the nodes/ view) is kept, not
      // announced: every agent would otherwise recompute on every node's heartbeat.
      if (old?.value !== event.kv.value) out.push(event);
    } else {
      if (!slot.items.has(event.key)) return;
      const previous = slot.items.get(event.key);
      slot.items.delete(event.key);
      out.push({ ...event, ...(previous ? { previous } : {}) });
    }
    if (!out.length) return;
    for (const listener of slot.listeners) for (const e of out) listener(e);
    for (const listener of this.changeListeners) listener(prefix);
  }

  private slotOf(key: string): [string, Slot] | undefined {
    for (const [prefix, slot] of this.slots) if (key.startsWith(prefix)) return [prefix, slot];
    return undefined;
  }

  private fail(key: string): never {
    throw new TypeError(`watch cache: ${JSON.stringify(key)} is not under a cached prefix (${this.prefixes.join(', ')})`);
  }
}

/**
 * `store` with reads and watches of cached prefixes answered by `cache` (no datastore round trip),
 * everything else — writes in particular — passed through. Writers that compare-and-swap read
 * their own store: a cached read may lag the datastore by one event.
 */
export function cachedStore(store: KeyValueStore, cache: WatchCache): KeyValueStore {
  return {
    kind: store.kind,
    get: async (key: string) => (cache.covers(key) ? cache.get(key) : store.get(key)),
    list: async (prefix: string) => (cache.covers(prefix) ? cache.list(prefix) : store.list(prefix)),
    put: (key: string, value: string, options?: PutOptions) => store.put(key, value, options),
    create: (key: string, value: string, options?: PutOptions) => store.create(key, value, options),
    update: (key: string, value: string, revision: Revision, options?: PutOptions) => store.update(key, value, revision, options),
    delete: (key: string, revision?: Revision) => store.delete(key, revision),
    watch: (prefix: string, onEvent: (event: WatchEvent) => void, options?: WatchOptions) => (cache.covers(prefix) ? cache.watch(prefix, onEvent) : store.watch(prefix, onEvent, options)),
    close: () => store.close(),
  };
}
