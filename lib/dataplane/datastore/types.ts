/**
 * The datastore's vocabulary: one small key/value interface that both etcd v3 and the Kubernetes
 * API implement, so that allocation logic (flannel subnet leases, Calico block IPAM) is written once.
 *
 * - Keys are strings; values are UTF-8 text (JSON by convention). Each datastore decides how keys
 *   map onto its storage (etcd: the key itself; Kubernetes: `<plural>/<name>` of a custom resource).
 * - Every stored value carries a `revision`: an opaque token that changes on every write of the key
 *   (etcd `mod_revision`, Kubernetes `metadata.resourceVersion`). It is the compare-and-swap token:
 *   compare revisions for equality only, never order them.
 */

/** A JSON value, as parsed by `JSON.parse`. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Opaque version token of a key (etcd mod_revision, Kubernetes resourceVersion). */
export type Revision = string;

export interface KeyValue {
  readonly key: string;
  readonly value: string;
  /** The key's revision: pass it to `update`/`delete` for compare-and-swap. */
  readonly revision: Revision;
  /** True when the key lives under a TTL lease and disappears unless it is written again. */
  readonly expires: boolean;
}

export interface PutOptions {
  /**
   * Time to live in seconds: the key is deleted by the datastore when it elapses. Each write with a
   * TTL starts a new lease. Not every datastore supports TTLs (the Kubernetes one does not).
   * @default no TTL (the key lives until deleted)
   */
  readonly ttlSeconds?: number;
}

export interface ListResult {
  readonly items: readonly KeyValue[];
  /** The datastore's revision at the time of the list: pass it to `watch` to see every later change. */
  readonly revision: Revision;
}

/**
 * A change seen by a watch.
 * - `put`: the key was created or written.
 * - `delete`: the key was deleted (or its TTL expired); `previous` is the last value when known.
 * - `reset`: the watch lost history (etcd compaction, Kubernetes 410 Gone) and relisted: `items` is
 *   the complete current content under the prefix; replace everything known before.
 */
export type WatchEvent =
  | { readonly type: 'put'; readonly kv: KeyValue }
  | { readonly type: 'delete'; readonly key: string; readonly revision: Revision; readonly previous?: KeyValue }
  | { readonly type: 'reset'; readonly items: readonly KeyValue[]; readonly revision: Revision };

export interface WatchOptions {
  /**
   * Deliver changes made after this revision (usually `ListResult.revision`).
   * @default changes from now on
   */
  readonly fromRevision?: Revision;
  /** Called for transient errors (lost connection); the watch keeps reconnecting. @default ignored */
  readonly onError?: (error: Error) => void;
  /**
   * Called each time the watch is (re)established with the datastore, which is then reachable
   * even if nothing changed (etcd: the watch stream is connected; Kubernetes: a list succeeded or a
   * bookmark arrived). @default ignored
   */
  readonly onConnected?: () => void;
}

/** A running watch; events stop after `close` resolves. */
export interface WatchHandle {
  close(): Promise<void>;
}

/**
 * One key/value-ish datastore. Every write that must not race uses `create` or `update`/`delete`
 * with a revision (compare-and-swap); a lost race throws `RevisionConflictError`.
 */
export interface KeyValueStore {
  /** A short name for logs and metrics, e.g. `etcd` or `kubernetes`. */
  readonly kind: string;

  get(key: string): Promise<KeyValue | undefined>;

  /** Every key that starts with `prefix`, in key order. */
  list(prefix: string): Promise<ListResult>;

  /** Writes `key` unconditionally. */
  put(key: string, value: string, options?: PutOptions): Promise<KeyValue>;

  /** Writes `key` only if it does not exist; throws `RevisionConflictError` (reason `exists`) otherwise. */
  create(key: string, value: string, options?: PutOptions): Promise<KeyValue>;

  /**
   * Writes `key` only if its current revision is `revision`; throws `RevisionConflictError`
   * (reason `changed`, or `missing` when the key is gone) otherwise.
   */
  update(key: string, value: string, revision: Revision, options?: PutOptions): Promise<KeyValue>;

  /**
   * Deletes `key`; with `revision`, only if the key still has it (else `RevisionConflictError`).
   * Returns false when there was nothing to delete (and no revision was asked for).
   */
  delete(key: string, revision?: Revision): Promise<boolean>;

  /** Watches every key under `prefix`; reconnects and resumes by itself until closed. */
  watch(prefix: string, onEvent: (event: WatchEvent) => void, options?: WatchOptions): WatchHandle;

  /** Releases connections. Open watches are closed. */
  close(): Promise<void>;
}
