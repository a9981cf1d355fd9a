import { spawn } from 'node:child_process';

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one process, feeding `input` on stdin; never throws for a non-zero exit (callers decide). */
export function run(argv: readonly string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({
      code: code ?? 1,
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8'),
    }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
  });
}

/** Like `run`, but throws with the command and its stderr on a non-zero exit. */
export async function runChecked(argv: readonly string[], input?: string): Promise<string> {
  const result = await run(argv, input);
  if (result.code !== 0) {
    throw new Error(`${argv.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
  }
  return result.stdout;
}

/** Path of a namespace given as a name under /var/run/netns or as a path. */
export function netnsPath(netns: string): string {
  return netns.includes('/') ? netns : `/var/run/netns/${netns}`;
}

/**
 * The argv that runs an iproute2 tool (`ip`, `bridge`) in `netns`: `-n <name>` for named
 * namespaces (no extra process), `nsenter --net=<path>` for paths.
 */
export function iprouteArgv(tool: 'ip' | 'bridge', netns: string | undefined, args: readonly string[]): string[] {
  if (netns === undefined) return [tool, ...args];
  if (!netns.includes('/')) return [tool, '-n', netns, ...args];
  // runtimes pin namespaces under /var/run/netns (containerd, CRI-O): `-n` saves the nsenter exec
  const pinned = /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(netns);
  if (pinned) return [tool, '-n', pinned[1], ...args];
  return ['nsenter', `--net=${netns}`, tool, ...args];
}

/** The argv that runs any command in `netns`. */
export function inNetns(netns: string | undefined, argv: readonly string[]): string[] {
  return netns === undefined ? [...argv] : ['nsenter', `--net=${netnsPath(netns)}`, ...argv];
}
