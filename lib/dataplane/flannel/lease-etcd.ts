import { Cidr } from '../../model/cidr';
import { isRevisionConflict } from '../datastore/errors';
import { KeyValue, KeyValueStore, WatchHandle } from '../datastore/types';
import { KeepLeaseHandlers, Lease, LeaseAttrs, LeaseEvent, LeaseManager, Stoppable, WatchLeasesOptions } from './lease';
import { checkLeaseNetwork, decodeLeaseAttrs, encodeLeaseAttrs, parseSubnetKey, subnetKey } from './lease-record';
import { BadRecordError, RecordReader } from '../datastore/records';
import { FlannelNetConfig, SubnetRange, isSubnetInRange, parseNetConfig } from './net-config';

export interface EtcdLeaseManagerOptions {
  readonly store: KeyValueStore;
  /** flannel's --etcd-prefix. @default /coreos.com/network */
  readonly prefix?: string;
  /** Lease lifetime. @default 86400 (24 h, flannel's) */
  readonly ttlSeconds?: number;
  /** Renew this long before expiry (flannel's --subnet-lease-renew-margin). @default 3600 */
  readonly renewMarginSeconds?: number;
  /** Retry a failed renewal after this long. @default 60 */
  readonly renewRetrySeconds?: number;
  /** The subnets this node had before (from subnet.env), tried before a random pick. @default none */
  readonly previous?: { readonly subnet?: Cidr; readonly ipv6Subnet?: Cidr };
  /** Compare-and-swap attempts before giving up. @default 10 */
  readonly maxAttempts?: number;
  /** How many free subnets to pick randomly among. @default 100 */
  readonly candidates?: number;
  /** Random source in [0, 1). @default Math.random */
  readonly random?: () => number;
  /** Diagnostics (e.g. "reusing lease"). @default none */
  readonly log?: (message: string) => void;
}

/** The lease is gone (deleted, expired or now belongs to another node). */
export class LeaseRevokedError extends Error {
  constructor(public readonly key: string) {
    super(`lease ${key} has been revoked`);
    this.name = 'LeaseRevokedError';
  }
}

interface StoredLease {
  readonly lease: Lease;
  readonly kv: KeyValue;
  /** Why the value could not be decoded: the key still holds its subnet, but nobody's attributes are known. */
  readonly corrupt?: string;
}

/** Whose a stored lease value is, as seen by the node holding `lease`. */
type Ownership = 'ours' | 'corrupt' | 'taken';

/**
 * flannel's etcd subnet manager: `<prefix>/config` holds the network config, each node's lease is
 * `<prefix>/subnets/<subnet key>` with a TTL. Allocation reuses the node's lease (matched by public
 * IP), then the subnet from subnet.env, then picks randomly among the first free subnets, and
 * writes with compare-and-swap so racing nodes never share a subnet. Keys without a TTL are
 * reservations: never allocated to others, never expired.
 */
export class EtcdLeaseManager implements LeaseManager {
  public readonly name: string;
  private readonly prefix: string;
  private readonly subnetsPrefix: string;
  private readonly ttlSeconds: number;
  private readonly stoppables = new Set<Stoppable>();

  constructor(private readonly options: EtcdLeaseManagerOptions) {
    this.prefix = (options.prefix ?? '/coreos.com/network').replace(/\/+$/, '');
    this.subnetsPrefix = `${this.prefix}/subnets/`;
    this.ttlSeconds = options.ttlSeconds ?? 86400;
    const margin = options.renewMarginSeconds ?? 3600;
    if (!(this.ttlSeconds >= 1)) throw new RangeError(`lease TTL must be at least 1 second, got ${this.ttlSeconds}`);
    if (!(margin >= 0 && margin < this.ttlSeconds)) {
      throw new RangeError(`lease renew margin must be between 0 and the TTL (${this.ttlSeconds} s), got ${margin} s`);
    }
    this.name = `etcd ${this.prefix}`;
  }

  public async getNetworkConfig(): Promise<FlannelNetConfig> {
    const key = `${this.prefix}/config`;
    const kv = await this.options.store.get(key);
    if (!kv) {
      throw new Error(`etcd: network config ${key} not found. Did you create your config using etcdv3 API? `
        + `(e.g. etcdctl put ${key} '{"Network": "10.244.0.0/16", "Backend": {"Type": "vxlan"}}' with ETCDCTL_API=3)`);
    }
    return parseNetConfig(kv.value, key);
  }

  public async previousLease(publicIp?: string, publicIpv6?: string): Promise<Lease | undefined> {
    const config = await this.getNetworkConfig();
    return findOwn(await this.leases(), config, { publicIp, publicIpv6, backendType: '' })?.lease;
  }

  public async acquireLease(attrs: LeaseAttrs): Promise<Lease> {
    const config = await this.getNetworkConfig();
    if (config.ipv4 && !attrs.publicIp) throw new Error('acquireLease: IPv4 is enabled but the node has no public IPv4 address');
    if (config.ipv6 && !attrs.publicIpv6) throw new Error('acquireLease: IPv6 is enabled but the node has no public IPv6 address');
    const attempts = this.options.maxAttempts ?? 10;
    let lastConflict: Error | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return await this.tryAcquire(config, attrs);
      } catch (error) {
        if (!isRevisionConflict(error)) throw error;
        lastConflict = error;
        this.log(`lease allocation lost a race (attempt ${attempt}/${attempts}): ${error.message}`);
      }
    }
    throw new Error(`failed to acquire a subnet lease after ${attempts} attempts: ${lastConflict?.message ?? 'conflicts'}`);
  }

  public async renewLease(lease: Lease): Promise<Lease> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const kv = await this.options.store.get(this.subnetsPrefix + lease.key);
      const owner = kv && this.ownership(kv, lease);
      if (!kv || owner === 'taken') throw new LeaseRevokedError(lease.key);
      // A reservation does not expire; a lease that did keeps its TTL even if a corrupt write dropped it.
      const reservation = !kv.expires && lease.expiration === undefined;
      if (reservation && owner === 'ours') return lease;
      try {
        // A corrupt value is rewritten like a renewal would: same key, this node's attributes.
        await this.options.store.update(kv.key, encodeLeaseAttrs(lease.attrs), kv.revision, reservation ? {} : { ttlSeconds: this.ttlSeconds });
        return reservation ? lease : { ...lease, expiration: this.expiry() };
      } catch (error) {
        if (!isRevisionConflict(error)) throw error;
      }
    }
    throw new LeaseRevokedError(lease.key);
  }

  public async completeLease(_lease?: Lease): Promise<void> {
    // Nothing to announce in etcd mode: the lease itself is the announcement.
  }

  public keepLease(lease: Lease, handlers: KeepLeaseHandlers): Stoppable {
    const key = this.subnetsPrefix + lease.key;
    const marginMs = (this.options.renewMarginSeconds ?? 3600) * 1000;
    const retryMs = (this.options.renewRetrySeconds ?? 60) * 1000;
    let current = lease;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let watchTimer: NodeJS.Timeout | undefined;
    let watch: WatchHandle | undefined;

    const revoked = (): void => {
      if (stopped) return;
      void handle.stop();
      handlers.onRevoked(current);
    };
    const schedule = (delayMs: number): void => {
      if (stopped || current.expiration === undefined) return;
      timer = setTimeout(renew, Math.max(0, delayMs));
    };
    const renew = (repairing?: string): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      this.renewLease(current).then((renewed) => {
        if (stopped) return;
        current = renewed;
        if (repairing) handlers.onRepaired?.(renewed, repairing);
        else handlers.onRenewed?.(renewed);
        schedule(renewed.expiration ? renewed.expiration.getTime() - Date.now() - marginMs : 0);
      }, (error: Error) => {
        if (stopped) return;
        if (error instanceof LeaseRevokedError) {
          revoked();
          return;
        }
        handlers.onError?.(error);
        // A reservation (no expiration) has no renewal timer: retry the repair itself.
        if (repairing && current.expiration === undefined) timer = setTimeout(() => renew(repairing), retryMs);
        else schedule(retryMs);
      });
    };
    const check = (kv: KeyValue): void => {
      const owner = this.ownership(kv, current);
      if (owner === 'taken') revoked();
      else if (owner === 'corrupt') renew(this.corruption(kv));
    };

    // Watch from the revision at which the lease was seen, so a deletion right after acquiring is not missed.
    const attachWatch = async (): Promise<void> => {
      const seen = await this.options.store.list(key);
      if (stopped) return;
      const mine = seen.items.find((kv) => kv.key === key);
      if (!mine) {
        revoked();
        return;
      }
      check(mine);
      watch = this.options.store.watch(key, (event) => {
        if (event.type === 'delete' && event.key === key) revoked();
        if (event.type === 'reset') {
          const kv = event.items.find((item) => item.key === key);
          if (kv) check(kv);
          else revoked();
        }
        if (event.type === 'put' && event.kv.key === key) check(event.kv);
      }, { fromRevision: seen.revision, onError: handlers.onError });
      if (stopped) await watch.close();
    };
    const watchOwnKey = (): void => {
      attachWatch().catch((error: Error) => {
        handlers.onError?.(error);
        if (!stopped) watchTimer = setTimeout(watchOwnKey, retryMs);
      });
    };
    watchOwnKey();
    schedule(current.expiration ? current.expiration.getTime() - Date.now() - marginMs : 0);

    const handle: Stoppable = {
      stop: async () => {
        if (stopped) return;
        stopped = true;
        if (timer) clearTimeout(timer);
        if (watchTimer) clearTimeout(watchTimer);
        this.stoppables.delete(handle);
        await watch?.close();
        watch = undefined;
      },
    };
    this.stoppables.add(handle);
    return handle;
  }

  public watchLeases(onEvents: (events: readonly LeaseEvent[]) => void, options: WatchLeasesOptions = {}): Stoppable {
    const known = new Map<string, Lease>();
    // Reports a bad record once per revision; a lease whose value turns bad keeps its last good version.
    const reader = new RecordReader((error) => options.onRefused?.(error.message));
    let config: FlannelNetConfig | undefined;
    let stopped = false;
    let watch: WatchHandle | undefined;
    let timer: NodeJS.Timeout | undefined;

    const decode = (kv: KeyValue): Lease => {
      const key = kv.key.slice(this.subnetsPrefix.length);
      const subnets = kv.key.startsWith(this.subnetsPrefix) ? parseSubnetKey(key) : undefined;
      if (!subnets) throw new BadRecordError(kv.key, 'key', key, '<address>-<prefix length>[&<IPv6 address>-<prefix length>] under <prefix>/subnets/');
      if (config) checkLeaseNetwork(config, kv.key, subnets);
      return { key, ...subnets, attrs: decodeLeaseAttrs(kv.value, kv.key) };
    };
    const replaceAll = (items: readonly KeyValue[]): LeaseEvent[] => {
      const next = new Map<string, Lease>();
      for (const lease of reader.read(this.subnetsPrefix, items, decode)) next.set(lease.key, lease);
      const events: LeaseEvent[] = [];
      for (const [key, lease] of known) if (!next.has(key)) events.push({ type: 'removed', lease });
      for (const [key, lease] of next) {
        const old = known.get(key);
        if (!old || JSON.stringify(old.attrs) !== JSON.stringify(lease.attrs)) events.push({ type: 'added', lease });
      }
      known.clear();
      for (const [key, lease] of next) known.set(key, lease);
      return events;
    };

    const start = async (): Promise<void> => {
      try {
        config = await this.getNetworkConfig();
        const list = await this.options.store.list(this.subnetsPrefix);
        if (stopped) return;
        onEvents(replaceAll(list.items));
        watch = this.options.store.watch(this.subnetsPrefix, (event) => {
          if (stopped) return;
          if (event.type === 'reset') {
            const events = replaceAll(event.items);
            if (events.length > 0) onEvents(events);
          } else if (event.type === 'put') {
            const lease = reader.decode(event.kv, decode, true);
            if (!lease || JSON.stringify(known.get(lease.key)?.attrs) === JSON.stringify(lease.attrs)) return;
            known.set(lease.key, lease);
            onEvents([{ type: 'added', lease }]);
          } else {
            reader.forget(event.key);
            const key = event.key.slice(this.subnetsPrefix.length);
            const lease = known.get(key);
            if (!lease) return;
            known.delete(key);
            onEvents([{ type: 'removed', lease }]);
          }
        }, { fromRevision: list.revision, onError: options.onError });
      } catch (error) {
        options.onError?.(error as Error);
        if (!stopped) timer = setTimeout(() => void start(), 1000);
      }
    };
    void start();

    const handle: Stoppable = {
      stop: async () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        this.stoppables.delete(handle);
        await watch?.close();
      },
    };
    this.stoppables.add(handle);
    return handle;
  }

  public async close(): Promise<void> {
    await Promise.all([...this.stoppables].map((s) => s.stop()));
  }

  private async tryAcquire(config: FlannelNetConfig, attrs: LeaseAttrs): Promise<Lease> {
    const { store } = this.options;
    const leases = await this.leases();
    const value = encodeLeaseAttrs(attrs);

    const own = findOwn(leases, config, attrs);
    if (own) {
      if (compatible(config, own.lease)) {
        this.log(`reusing lease ${own.lease.key} of public IP ${attrs.publicIp ?? attrs.publicIpv6}`);
        const reservation = !own.kv.expires;
        await store.update(own.kv.key, value, own.kv.revision, reservation ? {} : { ttlSeconds: this.ttlSeconds });
        return { ...own.lease, attrs, expiration: reservation ? undefined : this.expiry() };
      }
      this.log(`deleting lease ${own.lease.key}: it does not fit the network config any more`);
      await store.delete(own.kv.key, own.kv.revision);
      return this.tryAcquire(config, attrs);
    }

    const previous = this.options.previous;
    // Our subnet from subnet.env whose value was corrupted: it is still ours to take back.
    const previousKey = previous && subnetKey(config.ipv4 ? previous.subnet : undefined, config.ipv6 ? previous.ipv6Subnet : undefined);
    const damaged = leases.find((l) => l.corrupt !== undefined && l.lease.key === previousKey);
    if (damaged && compatible(config, damaged.lease)) {
      this.log(`reclaiming lease ${damaged.lease.key} from the subnet file; its value was corrupt (${damaged.corrupt})`);
      await store.update(damaged.kv.key, value, damaged.kv.revision, damaged.kv.expires ? { ttlSeconds: this.ttlSeconds } : {});
      return { ...damaged.lease, attrs, expiration: damaged.kv.expires ? this.expiry() : undefined };
    }

    const taken = leases.map((l) => l.lease);
    let subnet = config.ipv4 ? usable(config.ipv4, previous?.subnet, taken, (l) => l.subnet) : undefined;
    let ipv6Subnet = config.ipv6 ? usable(config.ipv6, previous?.ipv6Subnet, taken, (l) => l.ipv6Subnet) : undefined;
    if ((config.ipv4 && !subnet) || (config.ipv6 && !ipv6Subnet)) {
      subnet = config.ipv4 ? this.pick(config.ipv4, taken, (l) => l.subnet) : undefined;
      ipv6Subnet = config.ipv6 ? this.pick(config.ipv6, taken, (l) => l.ipv6Subnet) : undefined;
    } else if (previous) {
      this.log(`reusing previous subnet ${subnetKey(subnet, ipv6Subnet)} from the subnet file`);
    }
    const key = subnetKey(subnet, ipv6Subnet);
    await store.create(this.subnetsPrefix + key, value, { ttlSeconds: this.ttlSeconds });
    return { key, subnet, ipv6Subnet, attrs, expiration: this.expiry() };
  }

  /** A random subnet among the first `candidates` free ones in [SubnetMin, SubnetMax]. */
  private pick(range: SubnetRange, taken: readonly Lease[], subnetOf: (l: Lease) => Cidr | undefined): Cidr {
    const limit = this.options.candidates ?? 100;
    const used = taken.map(subnetOf).filter((s): s is Cidr => s !== undefined);
    // Leases of the configured length are looked up by address; others (an old SubnetLen) by overlap.
    const sameLength = new Set(used.filter((u) => u.prefix === range.subnetLen).map((u) => u.network));
    const otherLengths = used.filter((u) => u.prefix !== range.subnetLen);
    const step = 1n << BigInt(range.network.bits - range.subnetLen);
    const free: Cidr[] = [];
    for (let at = range.subnetMin.network; at <= range.subnetMax.network && free.length < limit; at += step) {
      if (sameLength.has(at)) continue;
      const candidate = Cidr.fromBigInt(range.network.family, at, range.subnetLen);
      if (!otherLengths.some((u) => u.overlaps(candidate))) free.push(candidate);
    }
    if (free.length === 0) {
      throw new Error(`out of subnets: every /${range.subnetLen} of ${range.network} between ${range.subnetMin.address()} and ${range.subnetMax.address()} is leased`);
    }
    return free[Math.floor((this.options.random ?? Math.random)() * free.length)];
  }

  private async leases(): Promise<StoredLease[]> {
    const list = await this.options.store.list(this.subnetsPrefix);
    const out: StoredLease[] = [];
    for (const kv of list.items) {
      const key = kv.key.slice(this.subnetsPrefix.length);
      const subnets = parseSubnetKey(key);
      if (!kv.key.startsWith(this.subnetsPrefix) || !subnets) continue;
      try {
        out.push({ kv, lease: { key, ...subnets, attrs: decodeLeaseAttrs(kv.value, kv.key) } });
      } catch (error) {
        // Its subnet stays taken: only its own node (by subnet.env) may reclaim it.
        this.log((error as Error).message);
        out.push({ kv, lease: { key, ...subnets, attrs: { backendType: '' } }, corrupt: (error as Error).message });
      }
    }
    return out;
  }

  /**
   * `taken` when the value names another node's public IP(s); `corrupt` when it cannot be read or
   * names none (not a loss: the node rewrites it); `ours` otherwise.
   */
  private ownership(kv: KeyValue, lease: Lease): Ownership {
    let attrs: LeaseAttrs;
    try {
      attrs = decodeLeaseAttrs(kv.value, kv.key);
    } catch {
      return 'corrupt';
    }
    if (attrs.publicIp === undefined && attrs.publicIpv6 === undefined) return 'corrupt';
    return attrs.publicIp === lease.attrs.publicIp && attrs.publicIpv6 === lease.attrs.publicIpv6 ? 'ours' : 'taken';
  }

  private corruption(kv: KeyValue): string {
    try {
      decodeLeaseAttrs(kv.value, kv.key);
      return `lease ${kv.key}: PublicIP (none) is not valid; expected this node's address`;
    } catch (error) {
      return (error as Error).message;
    }
  }

  private expiry(): Date {
    return new Date(Date.now() + this.ttlSeconds * 1000);
  }

  private log(message: string): void {
    this.options.log?.(message);
  }
}

/** The lease published by this node: same public IP(s) for the enabled families. */
function findOwn(leases: readonly StoredLease[], config: FlannelNetConfig, attrs: LeaseAttrs): StoredLease | undefined {
  return leases.find(({ lease }) => (!config.ipv4 || (attrs.publicIp !== undefined && lease.attrs.publicIp === attrs.publicIp))
    && (!config.ipv6 || (attrs.publicIpv6 !== undefined && lease.attrs.publicIpv6 === attrs.publicIpv6)));
}

function compatible(config: FlannelNetConfig, lease: Lease): boolean {
  const fits = (range: SubnetRange | undefined, subnet: Cidr | undefined): boolean => (range ? subnet !== undefined && isSubnetInRange(range, subnet) : true);
  return fits(config.ipv4, lease.subnet) && fits(config.ipv6, lease.ipv6Subnet);
}

/** `previous` when it still fits the config and nobody else holds it. */
function usable(range: SubnetRange, previous: Cidr | undefined, taken: readonly Lease[], subnetOf: (l: Lease) => Cidr | undefined): Cidr | undefined {
  if (!previous || !isSubnetInRange(range, previous)) return undefined;
  return taken.some((l) => subnetOf(l)?.overlaps(previous)) ? undefined : previous;
}
