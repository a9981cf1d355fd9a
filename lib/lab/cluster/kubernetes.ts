import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { defaultCacheDir } from '../../image/cache';
import { run } from '../exec';

/**
 * The Kubernetes components the cluster lab runs, built from their published Go modules by the
 * project's own module `tools/kubernetes` (which pins `k8s.io/kubernetes` and every staging module
 * of the same release) into `<cache>/kubernetes-<version>/bin`. Built once; a later call builds only
 * what is missing or what an older module definition or Go toolchain built.
 */
export const KUBERNETES_COMMANDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'] as const;
export type KubernetesCommand = (typeof KUBERNETES_COMMANDS)[number];

export interface KubernetesBinaries {
  /** The `k8s.io/kubernetes` release, e.g. `v1.28.15`. */
  readonly version: string;
  readonly binDir: string;
  path(command: KubernetesCommand): string;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const KUBERNETES_MODULE_DIR = path.join(REPO_ROOT, 'tools', 'kubernetes');

/** The release `tools/kubernetes/go.mod` requires. */
export function kubernetesVersion(moduleDir = KUBERNETES_MODULE_DIR): string {
  const goMod = fs.readFileSync(path.join(moduleDir, 'go.mod'), 'utf8');
  const match = /^\s*(?:require\s+)?k8s\.io\/kubernetes (v\d+\.\d+\.\d+)\b/m.exec(goMod);
  if (!match) throw new Error(`${moduleDir}/go.mod: does not require k8s.io/kubernetes vX.Y.Z`);
  return match[1];
}

export function kubernetesBinaries(cacheDir = defaultCacheDir(), moduleDir = KUBERNETES_MODULE_DIR): KubernetesBinaries {
  const version = kubernetesVersion(moduleDir);
  const binDir = path.join(cacheDir, `kubernetes-${version}`, 'bin');
  return { version, binDir, path: (command) => path.join(binDir, command) };
}

export interface EnsureKubernetesOptions {
  readonly cacheDir?: string;
  readonly moduleDir?: string;
  /** Progress lines (what is built, a heartbeat while the compiler runs). */
  readonly log: (line: string) => void;
}

/** What a build was made from: the module definition and the Go toolchain. */
async function buildStamp(moduleDir: string, version: string): Promise<string> {
  const hash = createHash('sha256').update(ldflags(version));
  for (const file of ['go.mod', 'go.sum']) hash.update(fs.readFileSync(path.join(moduleDir, file)));
  const go = (await run(['go', 'version'], { env: goEnv() })).stdout.trim();
  return `${hash.digest('hex')} ${go}`;
}

/** Builds whatever of KUBERNETES_COMMANDS is missing or stale; returns where they are. */
export async function ensureKubernetes(options: EnsureKubernetesOptions): Promise<KubernetesBinaries> {
  const moduleDir = options.moduleDir ?? KUBERNETES_MODULE_DIR;
  const binaries = kubernetesBinaries(options.cacheDir, moduleDir);
  const stampFile = path.join(binaries.binDir, '..', 'stamp');
  let stamp: string;
  try {
    stamp = await buildStamp(moduleDir, binaries.version);
  } catch (error) {
    throw new Error(`kubernetes: cannot run the Go toolchain (${(error as Error).message}); install Go ≥ 1.22 to build ${binaries.version}`);
  }
  const current = fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp;
  const missing = KUBERNETES_COMMANDS.filter((command) => !current || !fs.existsSync(binaries.path(command)));
  if (missing.length === 0) return binaries;
  fs.mkdirSync(binaries.binDir, { recursive: true });
  fs.rmSync(stampFile, { force: true });
  options.log(`kubernetes ${binaries.version}: building ${missing.join(', ')} from Go modules (first build about 11 min on 2 cores; cached in ${path.dirname(binaries.binDir)})`);
  const started = Date.now();
  await goBuild(moduleDir, missing, binaries.binDir, ldflags(binaries.version), options.log);
  options.log(`kubernetes: built ${missing.join(', ')} in ${minutes(Date.now() - started)}`);
  fs.writeFileSync(stampFile, stamp);
  return binaries;
}

/**
 * Stripped binaries that report their release (`kubectl version`, the Node's kubeletVersion) as the
 * release's own build does; without these the version reads `v0.0.0-master`.
 */
function ldflags(version: string): string {
  const [major, minor] = version.slice(1).split('.');
  const vars = { gitVersion: version, gitMajor: major, gitMinor: minor, gitTreeState: 'clean' };
  const x = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((pkg) => Object.entries(vars).map(([k, v]) => `-X ${pkg}.${k}=${v}`));
  return ['-s', '-w', ...x].join(' ');
}

/** Go from PATH, else where the official tarball installs it; modules read-only (go.sum is committed). */
function goEnv(): Record<string, string> {
  return { PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin`, GOFLAGS: '-mod=readonly -buildvcs=false' };
}

function minutes(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/**
 * One `go build -v` of the commands (so the compiler and linkers run in parallel) into a temporary
 * directory whose files are renamed into place. `-v` names each package as it is compiled: a heartbeat
 * every 30 s says how far the compiler is.
 */
function goBuild(moduleDir: string, commands: readonly KubernetesCommand[], binDir: string, flags: string, log: (line: string) => void): Promise<void> {
  const partial = path.join(binDir, `.partial-${process.pid}`);
  fs.mkdirSync(partial, { recursive: true });
  return new Promise((resolve, reject) => {
    const packages = commands.map((command) => `k8s.io/kubernetes/cmd/${command}`);
    const child = spawn('go', ['build', '-v', '-trimpath', `-ldflags=${flags}`, '-o', `${partial}/`, ...packages], {
      cwd: moduleDir,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...goEnv() },
    });
    let compiled = 0;
    let tail: string[] = [];
    const started = Date.now();
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = chunk.split('\n').filter(Boolean);
      compiled += lines.filter((line) => !line.includes(' ')).length;
      tail = [...tail, ...lines].slice(-20);
    });
    const heartbeat = setInterval(() => log(`kubernetes: compiling, ${compiled} packages so far, ${minutes(Date.now() - started)}`), 30_000);
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearInterval(heartbeat);
      if (!error) for (const command of commands) fs.renameSync(path.join(partial, command), path.join(binDir, command));
      fs.rmSync(partial, { recursive: true, force: true });
      if (error) reject(error);
      else resolve();
    };
    child.on('error', finish);
    child.on('close', (code) => finish(code === 0 ? undefined : new Error(`kubernetes: go build exited ${code}: ${tail.join(' | ')}`)));
  });
}
