import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { run } from './exec';

/**
 * The labs' Go-built tools (Kubernetes, its e2e suite, cnitool): each from a module of the project's
 * own under `tools/` that pins what it builds (go.mod, go.sum committed), into a cache directory,
 * rebuilt only when missing or built from another module definition, flags or Go toolchain.
 */
export interface GoTarget {
  /** The file written into the bin directory. */
  readonly output: string;
  /** The package: a command, or with `test` a package whose tests are compiled (`go test -c`). */
  readonly package: string;
  /** @default false */
  readonly test?: boolean;
  /** Without cgo: a static binary, for an image holding nothing else. @default false */
  readonly static?: boolean;
}

export interface EnsureGoBinariesOptions {
  /** What is built, for progress lines (e.g. `kubernetes v1.28.15`). */
  readonly name: string;
  /** The module whose go.mod and go.sum pin what is built (and stamp it). */
  readonly moduleDir: string;
  /** Where `go build` runs: a copy of the module that `prepare` fills. @default moduleDir */
  readonly buildDir?: string;
  readonly binDir: string;
  readonly targets: readonly GoTarget[];
  /** @default '-s -w' */
  readonly ldflags?: string;
  /** Said before a build starts, e.g. how long a first build takes. @default none */
  readonly hint?: string;
  /**
   * Runs before a build, only when something is stale: for a module whose package needs generated
   * files first (the Pulumi Kubernetes provider embeds its schema). @default nothing
   */
  readonly prepare?: () => Promise<void>;
  readonly log: (line: string) => void;
}

/** Go from PATH, else where the official tarball installs it; modules read-only (go.sum is committed). */
export function goEnv(): Record<string, string> {
  return { PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin`, GOFLAGS: '-mod=readonly -buildvcs=false' };
}

/** Builds whichever targets are missing or stale into `binDir`. */
export async function ensureGoBinaries(options: EnsureGoBinariesOptions): Promise<void> {
  const ldflags = options.ldflags ?? '-s -w';
  let stamp: string;
  try {
    stamp = await buildStamp(options.moduleDir, ldflags);
  } catch (error) {
    throw new Error(`${options.name}: cannot run the Go toolchain (${(error as Error).message}); install Go ≥ 1.24`);
  }
  const stampDir = path.join(options.binDir, '..', 'stamps');
  const stampOf = (target: GoTarget) => path.join(stampDir, target.output);
  const stale = options.targets.filter((target) => !fs.existsSync(path.join(options.binDir, target.output))
    || !fs.existsSync(stampOf(target)) || fs.readFileSync(stampOf(target), 'utf8') !== stamp);
  if (stale.length === 0) return;
  fs.mkdirSync(options.binDir, { recursive: true });
  fs.mkdirSync(stampDir, { recursive: true });
  const names = stale.map((t) => t.output).join(', ');
  options.log(`${options.name}: building ${names} from Go modules${options.hint ? ` (${options.hint})` : ''}; cached in ${path.dirname(options.binDir)}`);
  const started = Date.now();
  await options.prepare?.();
  const partial = path.join(options.binDir, `.partial-${process.pid}`);
  fs.mkdirSync(partial, { recursive: true });
  try {
    // One `go build` of every command, so the compiler and linkers run in parallel.
    for (const cgo of [true, false]) {
      const commands = stale.filter((t) => !t.test && !t.static === cgo);
      if (commands.length > 0) await goRun(options, ['build', '-v', '-trimpath', `-ldflags=${ldflags}`, '-o', `${partial}/`, ...commands.map((t) => t.package)], started, cgo);
    }
    for (const target of stale.filter((t) => t.test)) {
      await goRun(options, ['test', '-c', '-trimpath', `-ldflags=${ldflags}`, '-o', path.join(partial, target.output), target.package], started, !target.static);
    }
    for (const target of stale) {
      const built = path.join(partial, target.test ? target.output : path.basename(target.package));
      fs.renameSync(built, path.join(options.binDir, target.output));
      fs.writeFileSync(stampOf(target), stamp);
    }
  } finally {
    fs.rmSync(partial, { recursive: true, force: true });
  }
  options.log(`${options.name}: built ${names} in ${minutes(Date.now() - started)}`);
}

/** What a build is made from: the module definition, the link flags and the Go toolchain. */
async function buildStamp(moduleDir: string, ldflags: string): Promise<string> {
  const hash = createHash('sha256').update(ldflags);
  for (const file of ['go.mod', 'go.sum']) hash.update(fs.readFileSync(path.join(moduleDir, file)));
  const go = (await run(['go', 'version'], { env: goEnv() })).stdout.trim();
  return `${hash.digest('hex')} ${go}`;
}

/**
 * Runs `go <args>` in the module. `go build -v` names each package as it is compiled: a heartbeat
 * every 30 s says how far the compiler is.
 */
function goRun(options: EnsureGoBinariesOptions, args: readonly string[], started: number, cgo: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...goEnv(), ...(cgo ? {} : { CGO_ENABLED: '0' }) };
    const child = spawn('go', args, { cwd: options.buildDir ?? options.moduleDir, stdio: ['ignore', 'ignore', 'pipe'], env });
    let compiled = 0;
    let tail: string[] = [];
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = chunk.split('\n').filter(Boolean);
      compiled += lines.filter((line) => !line.includes(' ')).length;
      tail = [...tail, ...lines].slice(-20);
    });
    const heartbeat = setInterval(() => options.log(`${options.name}: go ${args[0]}, ${compiled} packages named so far, ${minutes(Date.now() - started)}`), 30_000);
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearInterval(heartbeat);
      if (error) reject(error);
      else resolve();
    };
    child.on('error', finish);
    child.on('close', (code) => finish(code === 0 ? undefined : new Error(`${options.name}: go ${args.slice(0, 2).join(' ')} exited ${code}: ${tail.join(' | ')}`)));
  });
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
