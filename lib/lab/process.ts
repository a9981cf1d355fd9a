import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import { inNetns } from './exec';

export interface StartOptions {
  readonly netns?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** @default the harness's working directory */
  readonly cwd?: string;
  /** stdout and stderr are appended here. */
  readonly logFile: string;
}

/**
 * A long-running process the lab started (etcd, an agent, an echo server, a stream). Its output
 * goes to a log file and is kept in memory line by line so callers can wait for a line.
 */
export class LabProcess {
  public readonly child: ChildProcess;
  public readonly exited: Promise<number>;
  private readonly lines: string[] = [];
  private readonly waiters: Array<() => void> = [];
  private exitCode: number | undefined;

  constructor(public readonly name: string, argv: readonly string[], public readonly options: StartOptions) {
    const full = options.netns ? inNetns(options.netns, argv) : [...argv];
    const log = fs.openSync(options.logFile, 'a');
    this.child = spawn(full[0], full.slice(1), {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
    });
    let partial = '';
    const onData = (chunk: Buffer) => {
      fs.writeSync(log, chunk);
      partial += chunk.toString('utf8');
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        this.lines.push(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
      this.wake();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      const finish = (code: number) => {
        if (this.exitCode !== undefined) return;
        this.exitCode = code;
        try {
          fs.closeSync(log);
        } catch {
          // already closed
        }
        this.wake();
        resolve(code);
      };
      this.child.on('exit', (code, signal) => finish(code ?? (signal ? 128 : 1)));
      this.child.on('error', () => finish(127));
    });
  }

  public get pid(): number | undefined {
    return this.child.pid;
  }

  public get running(): boolean {
    return this.exitCode === undefined;
  }

  public output(): readonly string[] {
    return this.lines;
  }

  /** Resolves with the first line (from the beginning) matching `pattern`; rejects on exit or timeout. */
  public async waitForLine(pattern: RegExp, timeoutMs = 15_000, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.lines.slice(from).find((line) => pattern.test(line));
      if (hit !== undefined) return hit;
      if (!this.running) {
        throw new Error(`${this.name} exited (${this.exitCode}) before printing ${pattern}: ${this.lines.slice(-5).join(' | ')}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms: ${this.lines.slice(-5).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
  public async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<number> {
    if (!this.running) return this.exitCode ?? 0;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** For exit handlers: SIGKILL without waiting. */
  public killSync(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
