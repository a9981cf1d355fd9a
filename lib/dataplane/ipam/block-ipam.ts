import { Cidr, IpFamily } from '../../model/cidr';
import { isRevisionConflict } from '../datastore/errors';
import { KeyValue, KeyValueStore } from '../datastore/types';
import { decodeAffinity, decodeBlock, decodeHandle, decodeIpamConfig, decodePool, decodeReservation } from '../datastore/calico-records';
import { BadRecordError, RecordReader, isBadRecord } from '../datastore/records';
import {
  BlockAffinitySpec, IpReservationSpec, IpamBlockSpec, IpamConfig, IpamHandleSpec, Pool,
  addressOrdinal, adjustHandle, affinityName, assignFromBlock, blockHost, blockName, emptyBlock, freeBlockCandidates, freeCount,
  isEmptyBlock, releaseAddresses, releaseHandle, reservedTest, resolveIpamConfig, whollyReserved,
} from './block-model';
import { HostLock, InProcessLock } from './calico-host-lock';
import { CALICO_KEYS } from './calico-store';

/** The request cannot be served: pools exhausted, block limit reached, no pool for the family. */
export class IpamExhaustedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpamExhaustedError';
  }
}

/** Too many compare-and-swap conflicts in a row (the datastore is very contended). */
export class IpamConflictError extends Error {
  constructor(what: string, attempts: number) {
    super(`IPAM: gave up ${what} after ${attempts} compare-and-swap conflicts`);
    this.name = 'IpamConflictError';
  }
}

export interface AssignRequest {
  readonly node: string;
  /** `<network>.<containerID>` for pods, `vxlan-tunnel-addr-<node>` for tunnels. */
  readonly handleId: string;
  readonly family: IpFamily;
  /** @default 1 */
  readonly count?: number;
  /** Stored with each allocation (node, pod, namespace, timestamp, type). @default { node } */
  readonly attributes?: Readonly<Record<string, string>>;
  /** Restrict to these pools (names or CIDRs). @default every enabled pool of the family */
  readonly pools?: readonly string[];
  /** Only pools whose allowedUses contain this. @default 'Workload' */
  readonly use?: 'Workload' | 'Tunnel';
}

export interface BlockIpamOptions {
  /** Compare-and-swap attempts per operation (Calico: 100). @default 100 */
  readonly maxAttempts?: number;
  /** @default Math.random */
  readonly random?: () => number;
  /** Serialises assignments on this host (see calico-host-lock.ts). @default one queue per BlockIpam */
  readonly hostLock?: HostLock;
  /**
   * Told of each record refused (once per revision of the record); `standIn` is true when
   * `pools()`/`blocks()` use its last good version instead. @default ignored
   */
  readonly onBadRecord?: (error: BadRecordError, standIn: boolean) => void;
}

/** What one turn of the host lock has read so far, for the next request in it. */
interface Turn {
  readonly affinities: Map<string, Affinity[]>;
}

type Affinity = { key: string; revision: string; spec: BlockAffinitySpec };

interface Snapshot {
  readonly config: IpamConfig;
  readonly pools: readonly Pool[];
  readonly reservations: readonly IpReservationSpec[];
}

/**
 * Calico's block IPAM (libcalico-go `ipam.go` AutoAssign / ReleaseByHandle) over a
 * `KeyValueStore` holding Calico-shaped resources. Every write is a compare-and-swap; a lost race
 * re-reads and retries with a small random back-off. Order of writes per assignment follows
 * Calico: the handle is incremented first, then the block; so a crash in between leaves a handle
 * that claims too much (harmless, released with it), never an allocation nobody can release.
 *
 * Every record is decoded by `datastore/calico-records.ts`. A bad one is never allocated from,
 * released into or written back: assignment skips it and goes on with other blocks (or claims a
 * new one), and throws its BadRecordError only when nothing else could serve the request; a
 * corrupt IPAMConfig, IPReservation or IPAM handle is thrown at once (using defaults instead could
 * hand out reserved addresses or borrow against strictAffinity).
 */
export class BlockIpam {
  private readonly maxAttempts: number;
  private readonly random: () => number;
  private readonly hostLock: HostLock;
  private readonly records: RecordReader;
  /** Handles as this instance last wrote them: the next change to one tries that revision before reading. */
  private readonly handlesWritten = new Map<string, KeyValue>();

  constructor(private readonly store: KeyValueStore, options: BlockIpamOptions = {}) {
    this.maxAttempts = options.maxAttempts ?? 100;
    this.random = options.random ?? Math.random;
    this.hostLock = options.hostLock ?? new InProcessLock();
    this.records = new RecordReader(options.onBadRecord ?? (() => undefined));
  }

  /**
   * The pools, for routing and reporting: a bad pool record is left out, or stands in as its last
   * good version when this instance saw one (a pool corrupted in place keeps its blocks routed).
   */
  async pools(): Promise<Pool[]> {
    const { items } = await this.store.list(CALICO_KEYS.pools);
    return this.records.read(CALICO_KEYS.pools, items, decodePool);
  }

  async config(): Promise<IpamConfig> {
    const kv = await this.store.get(CALICO_KEYS.config);
    return kv ? decodeIpamConfig(kv) : resolveIpamConfig(undefined);
  }

  /** What assignment works from: only records that decode now (no stand-ins). */
  private async snapshot(): Promise<Snapshot> {
    const [config, pools, reservations] = await Promise.all([
      this.config(),
      this.store.list(CALICO_KEYS.pools).then((r) => this.records.read(CALICO_KEYS.pools, r.items, decodePool, false)),
      this.store.list(CALICO_KEYS.reservations).then((r) => r.items.map((kv) => decodeReservation(kv))),
    ]);
    return { config, pools, reservations };
  }

  /** One block read for a change: its value, or a BadRecordError (reported) when it is bad. */
  private block(kv: KeyValue, pools?: readonly Pool[]): IpamBlockSpec | BadRecordError {
    try {
      return decodeBlock(kv, pools);
    } catch (error) {
      if (!isBadRecord(error)) throw error;
      this.records.refuse(kv, error);
      return error;
    }
  }

  /** Assigns `count` addresses of one family to the handle; returns them (without prefix length). */
  async autoAssign(request: AssignRequest): Promise<string[]> {
    const [addresses] = await this.autoAssignAll([request]);
    return addresses;
  }

  /**
   * Several assignments (a dual-stack pod's two families, as Calico's AutoAssign with Num4 and Num6)
   * in one turn of the host lock and from one read of config, pools and reservations: a burst of ADDs
   * on a node is serialised by the lock, so each turn's length is the node's ADD rate.
   * Returns each request's addresses, in order.
   */
  autoAssignAll(requests: readonly AssignRequest[]): Promise<string[][]> {
    if (!requests.length) return Promise.resolve([]);
    return this.hostLock.run(async () => {
      const snap = await this.snapshot();
      const turn: Turn = { affinities: new Map() };
      const out: string[][] = [];
      for (const request of requests) out.push(await this.assignUnlocked(request, snap, turn));
      return out;
    });
  }

  private async assignUnlocked(request: AssignRequest, snap: Snapshot, turn: Turn): Promise<string[]> {
    const count = request.count ?? 1;
    const pools = snap.pools.filter((p) => p.cidr.family === request.family && !p.disabled
      && p.allowedUses.includes(request.use ?? 'Workload')
      && (!request.pools || request.pools.some((n) => n === p.name || n === p.cidr.toString())));
    if (!pools.length) {
      throw new IpamExhaustedError(`IPAM: no enabled IPv${request.family} pool${request.pools ? ` among ${request.pools.join(', ')}` : ''} to assign from`);
    }
    const reserved = reservedTest(snap.reservations);
    const attributes = request.attributes ?? { node: request.node };
    const inPools = (cidr: string) => pools.some((p) => p.cidr.contains(Cidr.parse(cidr, 'block.cidr')));
    const assigned: string[] = [];
    // The node's own blocks refused on the way: when nothing else serves the request, the first is the reason.
    const bad: BadRecordError[] = [];
    const exhausted = (message: string) => bad[0] ?? new IpamExhaustedError(message);

    for (let attempt = 0; assigned.length < count; attempt++) {
      if (attempt >= this.maxAttempts) throw new IpamConflictError(`assigning for ${request.handleId}`, attempt);
      if (attempt > 0) await this.backoff(attempt);
      // The turn's latest read serves a request's first attempt; a retry (conflict, new block) reads again.
      let read = attempt === 0 ? turn.affinities.get(request.node) : undefined;
      if (!read) turn.affinities.set(request.node, (read = await this.affinities(request.node)));
      const affinities = read.filter((a) => inPools(a.spec.cidr));
      // 1. The node's own blocks.
      const outcome = await this.tryBlocks(
        affinities.filter((a) => a.spec.state === 'confirmed').map((a) => a.spec.cidr), request, count - assigned.length, attributes, reserved, snap.pools, bad,
      );
      assigned.push(...outcome.addresses);
      if (outcome.conflict || assigned.length >= count) continue;
      // 2. A new block for the node.
      if (snap.config.autoAllocateBlocks) {
        if (affinities.length >= snap.config.maxBlocksPerHost) {
          throw exhausted(`IPAM: cannot allocate new block due to per host block limit (${snap.config.maxBlocksPerHost} blocks on node ${request.node})`);
        }
        const claimed = await this.claimBlock(request.node, pools, snap);
        if (claimed !== 'none') continue;
      }
      // 3. Borrow from other nodes' blocks.
      if (snap.config.strictAffinity) {
        throw exhausted(`IPAM: no free block left in ${pools.map((p) => p.cidr.toString()).join(', ')} for node ${request.node} and strictAffinity forbids borrowing`);
      }
      // Other nodes' bad blocks are reported and skipped; they do not stand for the node's exhaustion.
      const blocks: IpamBlockSpec[] = [];
      for (const kv of (await this.store.list(CALICO_KEYS.blocks)).items) {
        const b = this.block(kv);
        if (b instanceof BadRecordError || !inPools(b.cidr) || blockHost(b) === request.node || freeCount(b, reserved) === 0) continue;
        if (!(this.block(kv, snap.pools) instanceof BadRecordError)) blocks.push(b);
      }
      if (!blocks.length) {
        throw exhausted(`IPAM: the IPv${request.family} pools ${pools.map((p) => p.cidr.toString()).join(', ')} have no free address left`);
      }
      const borrowed = await this.tryBlocks(shuffle(blocks.map((b) => b.cidr), this.random), request, count - assigned.length, attributes, reserved, snap.pools, []);
      assigned.push(...borrowed.addresses);
    }
    return assigned;
  }

  /** Tries the blocks in order; stops at the first conflict so the caller re-reads. */
  private async tryBlocks(
    cidrs: readonly string[], request: AssignRequest, wanted: number, attributes: Readonly<Record<string, string>>,
    reserved: (a: string) => boolean, pools: readonly Pool[], bad: BadRecordError[],
  ): Promise<{ addresses: string[]; conflict: boolean }> {
    const addresses: string[] = [];
    for (const cidr of cidrs) {
      if (addresses.length >= wanted) break;
      const kv = await this.store.get(CALICO_KEYS.blocks + blockName(cidr));
      if (!kv) continue;
      const block = this.block(kv, pools);
      if (block instanceof BadRecordError) {
        bad.push(block);
        continue;
      }
      if (block.deleted) continue;
      const result = assignFromBlock(block, wanted - addresses.length, request.handleId, attributes, reserved);
      if (!result.addresses.length) continue;
      await this.adjustHandle(request.handleId, cidr, result.addresses.length);
      try {
        await this.store.update(kv.key, JSON.stringify(result.block), kv.revision);
      } catch (error) {
        await this.adjustHandle(request.handleId, cidr, -result.addresses.length);
        if (isRevisionConflict(error)) return { addresses, conflict: true };
        throw error;
      }
      addresses.push(...result.addresses);
    }
    return { addresses, conflict: false };
  }

  /**
   * Claims a free block for the node: affinity `pending` → block created (compare-and-swap on
   * absence, so two nodes can never both create it) → affinity `confirmed`. Returns the CIDR,
   * 'raced' when another node won the block (try again), or 'none' when no block is free.
   */
  private async claimBlock(node: string, pools: readonly Pool[], snap: Snapshot): Promise<string | 'raced' | 'none'> {
    // Taken is what the keys say: a bad record still holds its name (creating it again would only conflict).
    const names = new Set((await this.store.list(CALICO_KEYS.blocks)).items.map((kv) => kv.key.slice(CALICO_KEYS.blocks.length)));
    for (const pool of pools) {
      for (const cidr of freeBlockCandidates(pool, new Set(), this.random)) {
        const text = cidr.toString();
        if (names.has(blockName(text)) || whollyReserved(cidr, snap.reservations)) continue;
        const affinityKey = CALICO_KEYS.affinities + affinityName(node, text);
        const pending: BlockAffinitySpec = { node, cidr: text, state: 'pending', deleted: 'false' };
        let affinity: KeyValue;
        try {
          affinity = await this.store.create(affinityKey, JSON.stringify(pending));
        } catch (error) {
          if (isRevisionConflict(error)) return 'raced';
          throw error;
        }
        try {
          await this.store.create(CALICO_KEYS.blocks + blockName(text), JSON.stringify(emptyBlock(cidr, node, snap.config.strictAffinity)));
        } catch (error) {
          await this.store.delete(affinityKey, affinity.revision).catch(() => undefined);
          if (isRevisionConflict(error)) return 'raced';
          throw error;
        }
        await this.store.update(affinityKey, JSON.stringify({ ...pending, state: 'confirmed' }), affinity.revision);
        return text;
      }
    }
    return 'none';
  }

  /** The node's block affinities (any state); bad ones are left out. */
  async affinities(node: string): Promise<Affinity[]> {
    const prefix = CALICO_KEYS.affinities + node + '-';
    const { items } = await this.store.list(prefix);
    return items.flatMap((kv) => {
      const spec = this.records.decode(kv, decodeAffinity);
      return spec && spec.node === node ? [{ key: kv.key, revision: kv.revision, spec }] : [];
    });
  }

  /**
   * The blocks, for routing and reporting: checked against `pools` when given (a block outside
   * every pool is refused). A bad block is left out, or — with `standIn` — stands in as its last
   * good version when this instance saw one: a block corrupted in place keeps its routes.
   */
  async blocks(pools?: readonly Pool[], standIn = true): Promise<IpamBlockSpec[]> {
    const { items } = await this.store.list(CALICO_KEYS.blocks);
    return this.records.read(CALICO_KEYS.blocks, items, (kv) => decodeBlock(kv, pools), standIn);
  }

  /** The handle; a corrupt one is thrown (what it holds cannot be known). */
  async handle(handleId: string): Promise<IpamHandleSpec | undefined> {
    const kv = await this.store.get(CALICO_KEYS.handles + handleId);
    return kv ? decodeHandle(kv) : undefined;
  }

  /** The addresses held by a handle (read from its blocks). */
  async addressesOf(handleId: string): Promise<string[]> {
    const handle = await this.handle(handleId);
    if (!handle) return [];
    const out: string[] = [];
    for (const cidr of Object.keys(handle.block)) {
      const kv = await this.store.get(CALICO_KEYS.blocks + blockName(cidr));
      if (!kv) continue;
      const block = this.block(kv);
      if (block instanceof BadRecordError) continue;
      block.allocations.forEach((a, ordinal) => {
        if (a !== null && block.attributes[a]?.handle_id === handleId) out.push(Cidr.parse(block.cidr, 'block.cidr').address(BigInt(ordinal)));
      });
    }
    return out;
  }

  /**
   * Releases everything the handle holds and deletes it; a missing handle is not an error. Returns
   * the freed addresses. A bad block the handle points into is left as it is, and so is the handle
   * (so a later release can finish once the block is repaired); its BadRecordError is then thrown.
   * Takes a turn of the host lock, as Calico's DEL does: a burst of DELs on a node all write the same
   * one or two blocks, and unserialised they retry each other's compare-and-swap conflicts.
   * The handle is read once, before the turn: only an ADD of the same container could add to it,
   * and the runtime never runs that beside its DEL; a block it names is re-read and changed by
   * compare-and-swap inside the turn.
   */
  async releaseByHandle(handleId: string): Promise<string[]> {
    const handle = await this.handle(handleId);
    // DEL is repeated for containers long gone: a handle that does not exist needs no turn.
    if (!handle) return [];
    return this.hostLock.run(async () => {
      // The handle's blocks (one per family) are separate records: released side by side, and each
      // settled before the turn ends (a failure of one must not leave the other writing unlocked).
      const outcomes = await Promise.allSettled(Object.keys(handle.block).map((cidr) => this.updateBlock(cidr, (block) => releaseHandle(block, handleId))));
      const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
      const failure = failures.find((e) => !isBadRecord(e)) ?? failures[0];
      if (failure !== undefined) throw failure;
      const released = outcomes.map((o) => (o.status === 'fulfilled' ? o.value : []));
      this.handlesWritten.delete(CALICO_KEYS.handles + handleId);
      await this.store.delete(CALICO_KEYS.handles + handleId).catch(() => undefined);
      return released.flat();
    });
  }

  /** Releases single addresses (GC); the handles they belonged to are decremented. Bad blocks are left alone. */
  async releaseAddresses(addresses: readonly string[]): Promise<string[]> {
    const blocks = await this.blocks(undefined, false);
    const released: string[] = [];
    for (const block of blocks) {
      const cidr = Cidr.parse(block.cidr, 'block.cidr');
      const mine = addresses.filter((a) => cidr.containsAddress(a));
      if (!mine.length) continue;
      const owners = new Map<string, number>();
      const freed = await this.updateBlock(block.cidr, (b) => {
        owners.clear();
        for (const address of mine) {
          const ordinal = addressOrdinal(b, address);
          const attrIndex = ordinal === undefined ? null : b.allocations[ordinal];
          const handleId = attrIndex === null || attrIndex === undefined ? undefined : b.attributes[attrIndex]?.handle_id;
          if (handleId) owners.set(handleId, (owners.get(handleId) ?? 0) + 1);
        }
        return releaseAddresses(b, mine);
      });
      for (const [handleId, n] of owners) {
        const next = await this.adjustHandle(handleId, block.cidr, -n);
        if (!Object.keys(next.block).length) {
          this.handlesWritten.delete(CALICO_KEYS.handles + handleId);
          await this.store.delete(CALICO_KEYS.handles + handleId).catch(() => undefined);
        }
      }
      released.push(...freed);
    }
    return released;
  }

  /**
   * Removes a node's affinities and its empty blocks; non-empty blocks lose their affinity (Calico's
   * node cleanup). A bad block is left as it is, with its affinity (reported, not repaired).
   */
  async releaseNodeBlocks(node: string): Promise<string[]> {
    const removed: string[] = [];
    next: for (const affinity of await this.affinities(node)) {
      const key = CALICO_KEYS.blocks + blockName(affinity.spec.cidr);
      for (let attempt = 0; ; attempt++) {
        if (attempt >= this.maxAttempts) throw new IpamConflictError(`releasing block ${affinity.spec.cidr}`, attempt);
        const kv = await this.store.get(key);
        if (!kv) break;
        const block = this.block(kv);
        if (block instanceof BadRecordError) continue next;
        try {
          if (isEmptyBlock(block)) await this.store.delete(key, kv.revision);
          else await this.store.update(key, JSON.stringify({ ...block, affinity: null, sequenceNumber: (block.sequenceNumber ?? 0) + 1 }), kv.revision);
          break;
        } catch (error) {
          if (!isRevisionConflict(error)) throw error;
        }
      }
      await this.store.delete(affinity.key).catch(() => undefined);
      removed.push(affinity.spec.cidr);
    }
    return removed;
  }

  /** Read-modify-CAS loop on one block; returns the addresses `change` freed. A bad block is thrown, never changed. */
  private async updateBlock(cidr: string, change: (block: IpamBlockSpec) => { block: IpamBlockSpec; addresses: readonly string[] }): Promise<string[]> {
    const key = CALICO_KEYS.blocks + blockName(cidr);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      if (attempt > 0) await this.backoff(attempt);
      const kv = await this.store.get(key);
      if (!kv) return [];
      const block = this.block(kv);
      if (block instanceof BadRecordError) throw block;
      const result = change(block);
      if (!result.addresses.length) return [];
      try {
        await this.store.update(key, JSON.stringify(result.block), kv.revision);
        return [...result.addresses];
      } catch (error) {
        if (!isRevisionConflict(error)) throw error;
      }
    }
    throw new IpamConflictError(`updating block ${cidr}`, this.maxAttempts);
  }

  private async adjustHandle(handleId: string, blockCidr: string, delta: number): Promise<IpamHandleSpec> {
    const key = CALICO_KEYS.handles + handleId;
    // First guess without a read: the version this instance wrote last (a dual-stack pod's second
    // family), else none (a new pod's handle does not exist yet). A wrong guess is a conflict, then read.
    let guess: KeyValue | null | undefined = this.handlesWritten.get(key) ?? (delta > 0 ? null : undefined);
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      const kv = guess === undefined ? await this.store.get(key) : guess ?? undefined;
      guess = undefined;
      // A corrupt handle is thrown by decodeHandle: it is never rewritten.
      const next = adjustHandle(kv ? decodeHandle(kv) : undefined, handleId, blockCidr, delta);
      try {
        if (kv) this.handlesWritten.set(key, await this.store.update(key, JSON.stringify(next), kv.revision));
        else if (delta > 0) this.handlesWritten.set(key, await this.store.create(key, JSON.stringify(next)));
        return next;
      } catch (error) {
        this.handlesWritten.delete(key);
        if (!isRevisionConflict(error)) throw error;
      }
    }
    throw new IpamConflictError(`updating handle ${handleId}`, this.maxAttempts);
  }

  private backoff(attempt: number): Promise<void> {
    const ms = Math.floor(this.random() * Math.min(50, 2 * attempt));
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
