import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Throw-away network namespaces for tests. Names are `cnkt<pid>x<random>-<role>` (≤ 32 chars
 * is not required for netns names, but keep roles short); each is removed by `destroy`, and
 * everything still alive is removed on process exit or SIGINT/SIGTERM. Namespaces left by a
 * test process that no longer runs (SIGKILL) are swept on the next `createNetns`.
 */
const PREFIX = 'cnkt';
const live = new Set<string>();
let handlersInstalled = false;
let swept = false;

function sh(argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** True when this process may create namespaces (root with `ip` available). */
export function canCreateNetns(): boolean {
  return process.getuid?.() === 0 && sh(['ip', '-V']).code === 0;
}

export function createNetns(role: string): string {
  installHandlers();
  if (!swept) sweepStale();
  const name = `${PREFIX}${process.pid}x${randomBytes(3).toString('hex')}-${role}`;
  const r = sh(['ip', 'netns', 'add', name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`);
  live.add(name);
  sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Kills processes left inside the namespace and removes it; absent is fine. */
export function destroyNetns(name: string): void {
  const pids = sh(['ip', 'netns', 'pids', name]).stdout.split('\n').filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  sh(['ip', 'netns', 'del', name]);
  live.delete(name);
}

/** Runs `fn` with fresh namespaces (one per role) and always removes them. */
export async function withNetns<T>(roles: readonly string[], fn: (...names: string[]) => Promise<T>): Promise<T> {
  const names: string[] = [];
  try {
    for (const role of roles) names.push(createNetns(role));
    return await fn(...names);
  } finally {
    for (const name of names) destroyNetns(name);
  }
}

/** Runs a command inside a namespace (sync), e.g. `execIn(ns, ['ping', '-c1', ip])`. */
export function execIn(netns: string, argv: string[]): { code: number; stdout: string; stderr: string } {
  return sh(['ip', 'netns', 'exec', netns, ...argv]);
}

function sweepStale(): void {
  swept = true;
  for (const line of sh(['ip', 'netns', 'list']).stdout.split('\n')) {
    const name = line.split(' ')[0];
    const m = /^cnkt(\d+)x/.exec(name ?? '');
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch {
      destroyNetns(name);
    }
  }
}

function destroyAll(): void {
  for (const name of [...live]) destroyNetns(name);
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', destroyAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      destroyAll();
      process.kill(process.pid, signal);
    });
  }
}
