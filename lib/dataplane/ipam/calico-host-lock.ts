import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Serialises IPAM work on one host, as Calico's `/var/run/calico/ipam.lock` does: without it,
 * every concurrent ADD on a node that finds its blocks full would claim a block of its own.
 * Correctness never depends on the lock (every write is compare-and-swap); block usage does.
 */
export interface HostLock {
  run<T>(fn: () => Promise<T>): Promise<T>;
}

/** One queue per process (the agent; tests with one client per node). */
export class InProcessLock implements HostLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

export interface FileLockOptions {
  /**
   * Gives up waiting (rejecting with the signal's reason) when this aborts; a function is called when
   * `run` is, so a timeout in it counts from when the wait begins. @default wait until granted
   */
  readonly signal?: AbortSignal | (() => AbortSignal);
  /** util-linux `flock`. @default 'flock' (from PATH) */
  readonly flockBinary?: string;
}

/**
 * Turns one process may take in a row without letting the kernel lock go, when its own callers queue:
 * a burst in the resident server pays for one `flock` spawn, not one per ADD, and a CNI process of
 * another kind (Calico's own plugin, the executable) still gets its turn within a bounded wait.
 */
export const HANDOFF_TURNS = 16;

/** The in-process side of one lock file: a FIFO queue and, between turns, the kernel lock it may hand on. */
class ProcessQueue {
  readonly turns = new InProcessLock();
  /** Callers waiting in `turns` (their turn has not begun). */
  waiting = 0;
  /** The open lock file holding the kernel lock, kept while callers wait. */
  held: FileHandle | undefined;
  /** Turns taken since `held` was acquired. */
  given = 0;
}

/** Callers in one process share one queue per lock file: only its head waits on the kernel. */
const queues = new Map<string, ProcessQueue>();

/**
 * `flock(2)` on the lock file, for separate CNI processes on one host — the lock Calico's own CNI
 * plugin takes on the same file, so the two exclude each other. Waiters sleep in the kernel and are
 * woken when the holder closes the file (no polling); a holder that dies releases it with its last
 * descriptor, so a stale owner needs no takeover logic. Node has no flock(2), and the npm bindings
 * are native addons that cannot go into the single-file plugin bundle: util-linux `flock`, present on
 * every Linux host, locks the descriptor this process passes it (the lock belongs to the open file
 * description, which outlives the helper) and exits. Within one process (the resident server) callers
 * queue first-come first-served, and the kernel lock passes from one to the next while they queue
 * (at most HANDOFF_TURNS in a row).
 */
export class FileLock implements HostLock {
  private readonly queue: ProcessQueue;

  constructor(private readonly file: string, private readonly options: FileLockOptions = {}) {
    const key = path.resolve(file);
    let queue = queues.get(key);
    if (!queue) queues.set(key, (queue = new ProcessQueue()));
    this.queue = queue;
  }

  run<T>(fn: () => Promise<T>): Promise<T> {
    const { signal } = this.options;
    const wait = typeof signal === 'function' ? signal() : signal;
    // The bound holds in the in-process queue too: a caller behind other holders rejects when it aborts,
    // and its turn, when it comes, is skipped (acquire sees the abort) without taking the lock.
    let onAbort: (() => void) | undefined;
    const gaveUp = wait ? new Promise<never>((_, reject) => {
      onAbort = () => reject(wait.reason);
      if (wait.aborted) onAbort();
      else wait.addEventListener('abort', onAbort, { once: true });
    }) : undefined;
    let started = false;
    const queue = this.queue;
    queue.waiting++;
    const turn = queue.turns.run(async () => {
      queue.waiting--;
      try {
        if (wait?.aborted) throw wait.reason;
        if (!queue.held) {
          queue.held = await this.acquire(wait);
          queue.given = 0;
        }
        queue.given++;
        started = true;
        return await fn();
      } finally {
        if (queue.held && (queue.waiting === 0 || queue.given >= HANDOFF_TURNS)) {
          const handle = queue.held;
          queue.held = undefined;
          await handle.close().catch(() => undefined);
        }
      }
    });
    if (!gaveUp) return turn;
    // A long-lived signal must not collect a listener per call.
    turn.finally(() => wait?.removeEventListener('abort', onAbort!)).catch(() => undefined);
    gaveUp.catch(() => undefined);
    // Once the lock is held, `fn` runs to its end whatever the signal does (its own deadline governs it).
    return Promise.race([turn, gaveUp.catch((reason: unknown) => (started ? turn : Promise.reject(reason)))]);
  }

  private async acquire(signal: AbortSignal | undefined): Promise<FileHandle> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const handle = await fs.open(this.file, 'a', 0o600);
    try {
      await new Promise<void>((resolve, reject) => {
        const child = spawn(this.options.flockBinary ?? 'flock', ['--exclusive', '3'], { stdio: ['ignore', 'ignore', 'pipe', handle.fd], signal });
        let stderr = '';
        child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
        child.once('error', reject);
        child.once('close', (code, killed) => (code === 0 ? resolve() : reject(new Error(`IPAM host lock ${this.file}: flock ended with ${code ?? killed}${stderr ? `: ${stderr.trim()}` : ''}`))));
      });
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw signal?.aborted ? signal.reason : error;
    }
    return handle;
  }
}
