import { spawn, spawnSync } from 'child_process';

/** What a finished command left behind. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin. @default nothing */
  readonly input?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Resolve with the result instead of rejecting on a non-zero exit. @default false */
  readonly allowFailure?: boolean;
  /** Kill the command after this many milliseconds. @default 30000 */
  readonly timeoutMs?: number;
}

/** A command that exited non-zero; the message is one line with the command and its stderr. */
export class CommandError extends Error {
  constructor(public readonly argv: readonly string[], public readonly result: RunResult) {
    super(`${argv.join(' ')} exited ${result.code}: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    this.name = 'CommandError';
  }
}

/** Runs a command without a shell and collects its output. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ? { ...process.env, ...options.env } : process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (result.code !== 0 && !options.allowFailure) reject(new CommandError(argv, result));
      else resolve(result);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** The synchronous variant, for exit handlers where nothing asynchronous runs any more. */
export function runSync(argv: readonly string[]): RunResult {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** argv that runs `argv` inside the named network namespace. */
export function inNetns(netns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', netns, ...argv];
}

/** Feeds `lines` to `ip -batch` in one process (optionally inside a namespace). */
export function ipBatch(lines: readonly string[], netns?: string): Promise<RunResult> {
  const argv = netns ? ['ip', '-n', netns, '-batch', '-'] : ['ip', '-batch', '-'];
  return run(argv, { input: lines.join('\n') + '\n' });
}
