import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Cidr, addressToBigInt, bigIntToAddress } from '../../model/cidr';
import { FileLock } from './calico-host-lock';

/** One address range to allocate from: a subnet, its gateway (never handed out) and optional bounds. */
export interface IpamRange {
  readonly subnet: Cidr;
  readonly gateway: string;
  /** First address handed out. @default the subnet's network address + 1 (the gateway is skipped) */
  readonly rangeStart?: string;
  /** Last address handed out. @default the last address before the IPv4 broadcast / the IPv6 subnet's last address */
  readonly rangeEnd?: string;
}

export interface IpamAllocation {
  /** `10.244.1.5/24` */
  readonly address: string;
  readonly gateway: string;
  readonly family: 4 | 6;
}

export interface Reservation {
  readonly ip: string;
  readonly containerId: string;
  readonly ifname: string;
  /** The CNI network it was made for; absent in a reservation made before it was recorded. */
  readonly network?: string;
}

/** Thrown when a range has no free address; the CNI plugin maps it to its error JSON. */
export class RangeFullError extends Error {
  constructor(range: IpamRange) {
    super(`no free address left in ${range.subnet.toString()}`);
    this.name = 'RangeFullError';
  }
}

/** Thrown when another operation on the same attachment held it for longer than the wait allowed. */
export class AttachmentBusyError extends Error {
  constructor(containerId: string, ifname: string, waitedMs: number) {
    super(`another operation on ${containerId}/${ifname} held its lock for more than ${waitedMs} ms`);
    this.name = 'AttachmentBusyError';
  }
}

const DRAFT_PREFIX = '.reserving.';
const DRAFT = /^\.reserving\.(\d+)\./;

/** Lock files per store (see HostLocalStore.exclusive). */
export const LOCK_STRIPES = 256;

/**
 * host-local's on-disk store: one file per reserved address named by the address, holding
 * `<containerID>\r\n<ifname>` and, after host-local's two lines, `\r\n<network>`, plus
 * `last_reserved_ip.<range>` so allocation goes round-robin. The network is recorded because one
 * store serves every network of a node that shares its subnet (so their addresses never collide),
 * while GC is per network (SPEC.md: the valid attachments "to this network").
 * A reservation is owned by (containerID, ifname) — the file's content, as upstream's
 * `ReleaseByID(id, ifname)` reads it — and only that owner's DEL frees it.
 * Unlike host-local, an owner index `owners/<containerID>@<ifname>` lists the addresses of each
 * attachment, so ADD and DEL read one file instead of every reservation (a per-pod process
 * cannot afford a directory scan on a full node); GC scans the reservations themselves. The index
 * only ever grows by appends, and an address is appended *before* its file is linked, so a
 * process killed mid-ADD leaves a superset: every entry is confirmed against the address file's
 * content, and nothing reserved is ever missing from it.
 *
 * Concurrency: the runtime calls ADD for different containers in parallel. host-local holds a
 * flock on the whole directory; here no store-wide lock is needed: a reservation is the link(2) of
 * a complete draft under the address's name, which the kernel makes atomic (EEXIST when taken), so
 * two racing ADDs can never both take the same address. Operations
 * on the *same* attachment (a runtime that retries or cancels: ADD, DEL, ADD racing) are
 * serialised by `exclusive`, which the plugin holds for the whole ADD or DEL.
 */
export class HostLocalStore {
  constructor(public readonly dir: string, private readonly lockWaitMs = 30_000) {}

  /**
   * Runs `fn` holding (containerId, ifname)'s lock: a FileLock (queued in this process, flock(2)
   * across processes, released by the kernel when a holder dies). Attachments hash onto
   * LOCK_STRIPES lock files, so the directory stays bounded however many pods come and go; two
   * attachments sharing a stripe only wait for each other. Throws AttachmentBusyError when the
   * lock is not had within the wait.
   */
  async exclusive<T>(containerId: string, ifname: string, fn: () => Promise<T>): Promise<T> {
    const signal = AbortSignal.timeout(this.lockWaitMs);
    const lock = new FileLock(this.lockFileOf(containerId, ifname), { signal });
    let started = false;
    try {
      return await lock.run(() => {
        started = true;
        return fn();
      });
    } catch (error) {
      if (!started && signal.aborted) throw new AttachmentBusyError(containerId, ifname, this.lockWaitMs);
      throw error;
    }
  }

  /** The lock file `exclusive` takes for (containerId, ifname). */
  lockFileOf(containerId: string, ifname: string): string {
    const stripe = createHash('sha1').update(ownerName(containerId, ifname)).digest().readUInt16BE(0) % LOCK_STRIPES;
    return path.join(this.dir, 'locks', String(stripe));
  }

  /**
   * Reserves one address per range for (containerId, ifname) on `network`; returns the existing
   * ones when already reserved.
   */
  async allocate(containerId: string, ifname: string, ranges: readonly IpamRange[], network?: string): Promise<IpamAllocation[]> {
    await fs.mkdir(path.join(this.dir, 'owners'), { recursive: true, mode: 0o755 });
    const existing = await this.reservationsOf(containerId, ifname);
    const out: IpamAllocation[] = [];
    const taken: string[] = [];
    try {
      for (const [index, range] of ranges.entries()) {
        const mine = existing.find((r) => range.subnet.containsAddress(r.ip));
        const ip = mine?.ip ?? await this.reserveIn(range, index, containerId, ifname, network);
        if (!mine) taken.push(ip);
        out.push({ address: `${ip}/${range.subnet.prefix}`, gateway: range.gateway, family: range.subnet.family });
      }
    } catch (error) {
      await Promise.all(taken.map((ip) => fs.rm(path.join(this.dir, ip), { force: true })));
      throw error;
    }
    return out;
  }

  /** Releases every address of (containerId, ifname); nothing reserved is fine. Returns the released addresses. */
  async release(containerId: string, ifname: string): Promise<string[]> {
    const mine = await this.reservationsOf(containerId, ifname);
    await Promise.all(mine.map((r) => fs.rm(path.join(this.dir, r.ip), { force: true })));
    await fs.rm(this.ownerFile(containerId, ifname), { force: true });
    return mine.map((r) => r.ip);
  }

  /** The addresses reserved for (containerId, ifname), from the owner index, each confirmed by its reservation file. */
  async reservationsOf(containerId: string, ifname: string): Promise<Reservation[]> {
    let listed: string[];
    try {
      listed = (await fs.readFile(this.ownerFile(containerId, ifname), 'utf8')).split('\n').filter(Boolean);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const confirmed = await Promise.all([...new Set(listed)].map((ip) => this.read(ip)));
    return confirmed.filter((r): r is Reservation => r !== undefined && r.containerId === containerId && r.ifname === ifname);
  }

  /** Every reservation, read from the address files themselves (a directory scan: for GC, not per pod). */
  async reservations(): Promise<Reservation[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const read = await Promise.all(names.filter((name) => addressToBigInt(name) !== undefined).map((ip) => this.read(ip)));
    return read.filter((r): r is Reservation => r !== undefined);
  }

  /**
   * GC: releases every reservation of `network` whose owner is not in `keep` (keys
   * `<containerID>\n<ifname>`); returns the released ones. Reservations of other networks are left
   * alone; one that records no network (made before networks were recorded) counts as any network's.
   * Without `network`, every network's.
   */
  async releaseAllExcept(keep: ReadonlySet<string>, network?: string): Promise<Reservation[]> {
    const ours = (r: Reservation) => network === undefined || r.network === undefined || r.network === network;
    const stale = (await this.reservations()).filter((r) => ours(r) && !keep.has(`${r.containerId}\n${r.ifname}`));
    await Promise.all(stale.map((r) => fs.rm(path.join(this.dir, r.ip), { force: true })));
    const owners = new Set(stale.map((r) => this.ownerFile(r.containerId, r.ifname)));
    await Promise.all([...owners].map((file) => fs.rm(file, { force: true })));
    await this.removeOrphanDrafts();
    return stale;
  }

  /** Drafts (see reserveIn) of processes killed mid-reservation: never reservations, but litter. */
  private async removeOrphanDrafts(): Promise<void> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const orphans = names.filter((name) => {
      const pid = Number(DRAFT.exec(name)?.[1]);
      return pid > 0 && !processAlive(pid);
    });
    await Promise.all(orphans.map((name) => fs.rm(path.join(this.dir, name), { force: true })));
  }

  private ownerFile(containerId: string, ifname: string): string {
    return path.join(this.dir, 'owners', ownerName(containerId, ifname));
  }

  private async read(ip: string): Promise<Reservation | undefined> {
    try {
      const [containerId = '', ifname = '', network = ''] = (await fs.readFile(path.join(this.dir, ip), 'utf8')).split(/\r?\n/);
      return { ip, containerId: containerId.trim(), ifname: ifname.trim(), ...(network.trim() ? { network: network.trim() } : {}) };
    } catch {
      return undefined; // released meanwhile
    }
  }

  private async reserveIn(range: IpamRange, index: number, containerId: string, ifname: string, network: string | undefined): Promise<string> {
    const family = range.subnet.family;
    const first = range.rangeStart ? addressToBigInt(range.rangeStart) ?? range.subnet.network + 1n : range.subnet.network + 1n;
    const last = range.rangeEnd ? addressToBigInt(range.rangeEnd) ?? range.subnet.last : family === 4 ? range.subnet.last - 1n : range.subnet.last;
    const gateway = addressToBigInt(range.gateway);
    const lastFile = path.join(this.dir, `last_reserved_ip.${index}`);
    const lastReserved = addressToBigInt((await fs.readFile(lastFile, 'utf8').catch(() => '')).trim());
    let candidate = lastReserved !== undefined && lastReserved >= first && lastReserved < last ? lastReserved + 1n : first;
    const size = last - first + 1n;
    // the reservation's content is written once, to a file of our own, then hard-linked under each
    // candidate's name: link() fails with EEXIST atomically, and a reservation is never seen (or
    // left by a crash) empty
    const draft = path.join(this.dir, `${DRAFT_PREFIX}${process.pid}.${randomBytes(4).toString('hex')}`);
    await fs.writeFile(draft, `${containerId}\r\n${ifname}${network ? `\r\n${network}` : ''}`, { mode: 0o644 });
    try {
      for (let tried = 0n; tried < size; tried++, candidate = candidate >= last ? first : candidate + 1n) {
        if (candidate === gateway) continue;
        const ip = bigIntToAddress(family, candidate);
        const file = path.join(this.dir, ip);
        if (await fs.access(file).then(() => true, () => false)) continue;
        await fs.appendFile(this.ownerFile(containerId, ifname), `${ip}\n`);
        try {
          await fs.link(draft, file);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw error;
        }
        await fs.writeFile(lastFile, ip).catch(() => undefined);
        return ip;
      }
    } finally {
      await fs.rm(draft, { force: true });
    }
    throw new RangeFullError(range);
  }
}

function ownerName(containerId: string, ifname: string): string {
  return `${containerId}@${encodeURIComponent(ifname)}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
