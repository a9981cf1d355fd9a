import { promises as fs } from 'node:fs';
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

/**
 * A lock file created with O_EXCL holding the owner's pid, for separate CNI processes on one
 * host. A file left by a process that no longer runs is taken over.
 */
export class FileLock implements HostLock {
  private readonly inProcess = new InProcessLock();

  constructor(private readonly file: string, private readonly timeoutMs = 60_000) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.inProcess.run(async () => {
      await this.acquire();
      try {
        return await fn();
      } finally {
        await fs.unlink(this.file).catch(() => undefined);
      }
    });
  }

  private async acquire(): Promise<void> {
    await fs.mkdir(path.dirname(this.file), { recursive: true });
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      try {
        const handle = await fs.open(this.file, 'wx', 0o600);
        await handle.writeFile(String(process.pid));
        await handle.close();
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const owner = Number(await fs.readFile(this.file, 'utf8').catch(() => ''));
      if (owner > 0 && !alive(owner)) {
        await fs.unlink(this.file).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw new Error(`IPAM host lock ${this.file}: held by pid ${owner || '?'} for more than ${this.timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * 8));
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
