import { Etcd3, IOptions, Watcher } from 'etcd3';
import type { IKeyValue, IResponseHeader } from 'etcd3/lib/rpc';
import { RevisionConflictError } from './errors';
import { KeyValue, KeyValueStore, ListResult, PutOptions, Revision, WatchEvent, WatchHandle, WatchOptions } from './types';

export interface EtcdStoreOptions {
  /** Client URLs, e.g. `http://127.0.0.1:2379`. */
  readonly endpoints: readonly string[];
  /** PEM material for TLS (flannel's --etcd-cafile/--etcd-certfile/--etcd-keyfile). @default plain-text */
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  /** etcd user authentication. @default none */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline of each unary call. @default 10000 ms */
  readonly callTimeoutMs?: number;
  /** How long to wait between attempts to re-create a cancelled (e.g. compacted) watch. @default 1000 ms */
  readonly watchRetryMs?: number;
  /**
   * gRPC keepalive ping interval while a call or watch is open: a frozen or unreachable etcd then
   * breaks the connection (and every watch reports it) within this plus 5 s, even when nothing
   * changes. etcd refuses pings more often than its --grpc-keepalive-min-time (5 s). @default 10000 ms
   */
  readonly keepaliveMs?: number;
}

/**
 * The etcd v3 datastore (gRPC through the `etcd3` client). Revisions are etcd mod_revisions; TTLs
 * are etcd leases (one lease per write, so renewing re-puts the key under a fresh lease, as flannel
 * does); compare-and-swap writes are single transactions on `Version == 0` or `Mod == revision`.
 */
export class EtcdStore implements KeyValueStore {
  public readonly kind = 'etcd';
  private readonly watches = new Set<WatchHandle>();

  public static connect(options: EtcdStoreOptions): EtcdStore {
    const timeout = options.callTimeoutMs ?? 10000;
    const clientOptions: IOptions = {
      hosts: [...options.endpoints],
      credentials: options.tls?.ca ? { rootCertificate: options.tls.ca, certChain: options.tls.cert, privateKey: options.tls.key } : undefined,
      auth: options.auth,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeout }),
      grpcOptions: {
        'grpc.keepalive_time_ms': options.keepaliveMs ?? 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        // Only while a call or watch is open: etcd (PermitWithoutStream false) would answer pings on an
        // idle connection with GOAWAY too_many_pings. An idle client has nothing to notice anyway.
        'grpc.keepalive_permit_without_calls': 0,
      },
    };
    return new EtcdStore(new Etcd3(clientOptions), options.watchRetryMs ?? 1000);
  }

  constructor(public readonly client: Etcd3, private readonly watchRetryMs = 1000) {}

  public async get(key: string): Promise<KeyValue | undefined> {
    const response = await this.client.get(key).exec();
    const kv = response.kvs[0];
    return kv ? toKeyValue(kv) : undefined;
  }

  public async list(prefix: string): Promise<ListResult> {
    const response = await this.client.getAll().prefix(prefix).sort('Key', 'Ascend').exec();
    return { items: response.kvs.map(toKeyValue), revision: String(response.header.revision) };
  }

  public async put(key: string, value: string, options: PutOptions = {}): Promise<KeyValue> {
    const lease = await this.grant(options);
    const builder = this.client.put(key).value(value);
    const response = await (lease ? builder.lease(lease) : builder).exec();
    return written(key, value, response.header, lease);
  }

  public async create(key: string, value: string, options: PutOptions = {}): Promise<KeyValue> {
    const lease = await this.grant(options);
    const put = this.client.put(key).value(value);
    const response = await this.client.if(key, 'Version', '==', 0).then(lease ? put.lease(lease) : put).commit();
    if (!response.succeeded) {
      await this.revoke(lease);
      throw new RevisionConflictError(key, 'exists');
    }
    return written(key, value, response.header, lease);
  }

  public async update(key: string, value: string, revision: Revision, options: PutOptions = {}): Promise<KeyValue> {
    const lease = await this.grant(options);
    const put = this.client.put(key).value(value);
    const response = await this.client.if(key, 'Mod', '==', revision)
      .then(lease ? put.lease(lease) : put)
      .else(this.client.get(key))
      .commit();
    if (!response.succeeded) {
      await this.revoke(lease);
      const current = response.responses[0]?.response_range?.kvs?.length ?? 0;
      throw new RevisionConflictError(key, current === 0 ? 'missing' : 'changed', revision);
    }
    return written(key, value, response.header, lease);
  }

  public async delete(key: string, revision?: Revision): Promise<boolean> {
    if (revision === undefined) {
      const response = await this.client.delete().key(key).exec();
      return Number(response.deleted) > 0;
    }
    const response = await this.client.if(key, 'Mod', '==', revision)
      .then(this.client.delete().key(key))
      .else(this.client.get(key))
      .commit();
    if (!response.succeeded) {
      const current = response.responses[0]?.response_range?.kvs?.length ?? 0;
      throw new RevisionConflictError(key, current === 0 ? 'missing' : 'changed', revision);
    }
    return true;
  }

  public watch(prefix: string, onEvent: (event: WatchEvent) => void, options: WatchOptions = {}): WatchHandle {
    let closed = false;
    let watcher: Watcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    // The watcher being created: close() waits for it, so that one closed mid-creation is cancelled
    // before the client goes (etcd3 otherwise keeps re-creating it against a closed client forever).
    let creating: Promise<void> | undefined;
    // The next revision to receive; etcd's watcher advances it itself while reconnecting.
    let nextRevision = options.fromRevision === undefined ? undefined : (BigInt(options.fromRevision) + 1n).toString();

    const start = (): void => {
      if (closed) return;
      const builder = this.client.watch().prefix(prefix).withPreviousKV();
      if (nextRevision !== undefined) builder.startRevision(nextRevision);
      creating = builder.create().then(async (created) => {
        if (closed) {
          await created.cancel().catch(() => undefined);
          return;
        }
        watcher = created;
        created.on('data', (response) => {
          nextRevision = (BigInt(response.header.revision) + 1n).toString();
          for (const event of response.events) {
            if (event.type === 'Put') {
              onEvent({ type: 'put', kv: toKeyValue(event.kv) });
            } else {
              onEvent({
                type: 'delete',
                key: event.kv.key.toString(),
                revision: String(event.kv.mod_revision),
                previous: event.prev_kv ? toKeyValue(event.prev_kv) : undefined,
              });
            }
          }
        });
        created.on('disconnected', (error: Error) => options.onError?.(error));
        // create() resolves on the first 'connected'; later ones are reconnections.
        created.on('connected', () => options.onConnected?.());
        options.onConnected?.();
        // 'error' means etcd cancelled the watch, e.g. the start revision was compacted: relist.
        created.on('error', (error: Error) => {
          options.onError?.(error);
          watcher = undefined;
          void resync();
        });
      }, (error: Error) => {
        options.onError?.(error);
        timer = setTimeout(start, this.watchRetryMs);
      });
    };

    const resync = async (): Promise<void> => {
      if (closed) return;
      try {
        const list = await this.list(prefix);
        if (closed) return;
        nextRevision = (BigInt(list.revision) + 1n).toString();
        onEvent({ type: 'reset', items: list.items, revision: list.revision });
        start();
      } catch (error) {
        options.onError?.(error as Error);
        timer = setTimeout(() => void resync(), this.watchRetryMs);
      }
    };

    start();
    const handle: WatchHandle = {
      close: async () => {
        closed = true;
        if (timer) clearTimeout(timer);
        this.watches.delete(handle);
        await creating?.catch(() => undefined);
        const current = watcher;
        watcher = undefined;
        if (current) await current.cancel().catch(() => undefined);
      },
    };
    this.watches.add(handle);
    return handle;
  }

  public async close(): Promise<void> {
    await Promise.all([...this.watches].map((w) => w.close()));
    this.client.close();
  }

  private async grant(options: PutOptions): Promise<string | undefined> {
    if (options.ttlSeconds === undefined) return undefined;
    const ttl = Math.ceil(options.ttlSeconds);
    if (!(ttl >= 1)) throw new RangeError(`etcd: ttlSeconds must be at least 1, got ${options.ttlSeconds}`);
    const response = await this.client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 });
    return String(response.ID);
  }

  private async revoke(lease: string | undefined): Promise<void> {
    if (lease) await this.client.leaseClient.leaseRevoke({ ID: lease }).catch(() => undefined);
  }
}

function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    revision: String(kv.mod_revision),
    expires: kv.lease !== undefined && kv.lease !== null && String(kv.lease) !== '0',
  };
}

function written(key: string, value: string, header: IResponseHeader, lease: string | undefined): KeyValue {
  return { key, value, revision: String(header.revision), expires: lease !== undefined };
}
