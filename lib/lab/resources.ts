import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { randomBytes } from 'crypto';
import { runSync } from './exec';
import { cgroupPids, removeCgroups, topLevelCgroups } from './cgroups';

/**
 * Everything a lab creates carries its id, `cnkl<pid>x<random>`: namespaces are `<id>-<role>`,
 * the temp dir is `<tmp>/<id>`. The pid lets a later run tell a crashed lab's leftovers (owner
 * gone) from a lab that is still running, and sweep only the former.
 */
export const LAB_PREFIX = 'cnkl';
const ID_PATTERN = /^cnkl(\d+)x[0-9a-f]+/;

export function newLabId(): string {
  return `${LAB_PREFIX}${process.pid}x${randomBytes(3).toString('hex')}`;
}

export function listNetns(): string[] {
  const out = runSync(['ip', 'netns', 'list']).stdout;
  return out.split('\n').map((line) => line.split(' ')[0]).filter((name) => name.length > 0);
}

/** Whether a process with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ownerAlive(pid: number): boolean {
  return pid === process.pid || processAlive(pid);
}

/**
 * SIGKILLs whatever `find` lists until it lists nothing (children may appear while parents die) or
 * `attempts` rounds have passed.
 */
export function killAllSync(find: () => readonly number[], attempts = 3): void {
  for (let attempt = 0; attempt < attempts; attempt++) {
    const pids = find();
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    runSync(['sleep', '0.05']);
  }
}

/** The processes whose network namespace is `netns`. */
export function netnsPids(netns: string): number[] {
  return runSync(['ip', 'netns', 'pids', netns]).stdout.split('\n').filter(Boolean).map(Number);
}

/** Kills every process still inside `netns` and removes it; absent is fine. */
export function destroyNetnsSync(netns: string): void {
  killAllSync(() => netnsPids(netns));
  runSync(['ip', 'netns', 'del', netns]);
}

/**
 * Removes namespaces and temp dirs left by labs whose process no longer runs (a crash, a
 * SIGKILL). Returns the namespaces removed.
 */
export function sweepStaleLabs(): string[] {
  const removed: string[] = [];
  for (const netns of listNetns()) {
    const m = ID_PATTERN.exec(netns);
    if (m && !ownerAlive(Number(m[1]))) {
      destroyNetnsSync(netns);
      removed.push(netns);
    }
  }
  // Cluster-lab nodes: containers run in their own network namespaces, but under the node's cgroup.
  for (const cgroup of topLevelCgroups(ID_PATTERN)) {
    const m = ID_PATTERN.exec(cgroup);
    if (!m || ownerAlive(Number(m[1]))) continue;
    killAllSync(() => cgroupPids(`/${cgroup}`), 20);
    removeCgroups(`/${cgroup}`);
  }
  for (const entry of fs.readdirSync(os.tmpdir())) {
    const m = ID_PATTERN.exec(entry);
    if (m && !ownerAlive(Number(m[1]))) fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true });
  }
  return removed;
}

/**
 * Labs alive in this process, so that exit and signal handlers can tear them down even when a
 * caller forgot to (or could not) call `destroy()`.
 */
const live = new Set<{ destroySync(): void }>();
let handlersInstalled = false;

export function track(lab: { destroySync(): void }): void {
  live.add(lab);
  installHandlers();
}

export function untrack(lab: { destroySync(): void }): void {
  live.delete(lab);
}

function destroyAllSync(): void {
  for (const lab of [...live]) {
    try {
      lab.destroySync();
    } catch (err) {
      console.error(`lab cleanup failed: ${(err as Error).message}`);
    }
    live.delete(lab);
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', destroyAllSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      destroyAllSync();
      // Re-raise with the default disposition so the exit status says what happened.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    });
  }
}
