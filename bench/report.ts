/** Shared by the benchmarks: percentiles, the machine description, timed process runs, and BENCHMARKS.md sections. */
import { execSync, spawn } from 'node:child_process';
import { cpus, release } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export const BENCHMARKS_FILE = path.join(__dirname, '..', 'BENCHMARKS.md');

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? NaN;
}

export function machine(): string {
  let nproc = String(cpus().length);
  try {
    nproc = execSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // cpus() is the fallback
  }
  return `Machine: ${nproc} CPUs (\`nproc\`), ${cpus()[0]?.model ?? 'unknown CPU'}, kernel ${release()}, Node ${process.version}, measured ${new Date().toISOString()}.`;
}

/**
 * Replaces (or appends) the section between `<!-- bench:<id>:start -->` and `<!-- bench:<id>:end -->`
 * in BENCHMARKS.md, so each benchmark owns its section and re-running one leaves the others alone.
 */
export function writeBenchmarkSection(id: string, title: string, body: string): void {
  const start = `<!-- bench:${id}:start -->`;
  const end = `<!-- bench:${id}:end -->`;
  const section = `${start}\n## ${title}\n\n${body.trim()}\n${end}`;
  let text = existsSync(BENCHMARKS_FILE) ? readFileSync(BENCHMARKS_FILE, 'utf8') : '# Benchmarks\n\nFigures written by `npm run bench` (each bench replaces its own section). Ratios are against a reference measured in the same run.\n';
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text = from >= 0 && to > from ? text.slice(0, from) + section + text.slice(to + end.length) : `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(BENCHMARKS_FILE, text);
}

/** Runs a process with `stdin`, returning its wall time in ms, exit code and combined output. */
export function timedExec(argv: string[], env: Record<string, string>, stdin: string): Promise<{ ms: number; code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, code: code ?? 1, out }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}
