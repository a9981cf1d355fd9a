import * as fs from 'fs';
import * as path from 'path';
import { defaultCacheDir } from '../../image/cache';
import { ensureGoBinaries, GoTarget } from '../go-build';

/**
 * The Kubernetes components the cluster lab runs, built from their published Go modules by the
 * project's own module `tools/kubernetes` (which pins `k8s.io/kubernetes` and every staging module
 * of the same release) into `<cache>/kubernetes-<version>/bin`. Built once; a later call builds only
 * what is missing or what an older module definition or Go toolchain built (lab/go-build).
 */
export const KUBERNETES_COMMANDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'] as const;
/**
 * The upstream e2e suite (`go test -c k8s.io/kubernetes/test/e2e`), the ginkgo CLI of the version it
 * was written with (runs it in parallel processes) and its test image's one binary.
 */
export const E2E_COMMANDS = ['e2e.test', 'ginkgo', 'agnhost'] as const;
type ClusterCommand = (typeof KUBERNETES_COMMANDS)[number];
export type KubernetesCommand = ClusterCommand | (typeof E2E_COMMANDS)[number];

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
  /** What to build. @default KUBERNETES_COMMANDS (the cluster); the conformance run adds E2E_COMMANDS. */
  readonly commands?: readonly KubernetesCommand[];
  /** Progress lines (what is built, a heartbeat while the compiler runs). */
  readonly log: (line: string) => void;
}

/** Builds whatever of the commands is missing or stale; returns where they are. */
export async function ensureKubernetes(options: EnsureKubernetesOptions): Promise<KubernetesBinaries> {
  const moduleDir = options.moduleDir ?? KUBERNETES_MODULE_DIR;
  const binaries = kubernetesBinaries(options.cacheDir, moduleDir);
  const commands = options.commands ?? KUBERNETES_COMMANDS;
  await ensureGoBinaries({
    name: `kubernetes ${binaries.version}`,
    moduleDir,
    binDir: binaries.binDir,
    targets: commands.map((command) => TARGETS[command]),
    ldflags: ldflags(binaries.version),
    hint: 'a first build takes about 11 min on 2 cores, e2e.test about 8 more',
    log: options.log,
  });
  return binaries;
}

const TARGETS: Readonly<Record<KubernetesCommand, GoTarget>> = {
  ...Object.fromEntries(KUBERNETES_COMMANDS.map((command) => [command, { output: command, package: `k8s.io/kubernetes/cmd/${command}` }])) as Record<ClusterCommand, GoTarget>,
  'e2e.test': { output: 'e2e.test', package: 'k8s.io/kubernetes/test/e2e', test: true },
  ginkgo: { output: 'ginkgo', package: 'github.com/onsi/ginkgo/v2/ginkgo' },
  agnhost: { output: 'agnhost', package: 'k8s.io/kubernetes/test/images/agnhost', static: true },
};

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
