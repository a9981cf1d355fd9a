/** Shared by the benchmarks: percentiles, the machine description, and BENCHMARKS.md sections. */
import { execSync } from 'node:child_process';
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
