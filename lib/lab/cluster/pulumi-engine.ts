import * as fs from 'fs';
import * as path from 'path';
import { defaultCacheDir } from '../../image/cache';
import { run } from '../exec';
import { ensureGoBinaries, goEnv } from '../go-build';

/**
 * The Pulumi engine the cluster lab deploys with, built from published Go modules like the
 * cluster's own binaries (lab/go-build): the CLI from `tools/pulumi` (github.com/pulumi/pulumi/pkg/v3
 * at the release of the @pulumi/pulumi the project pins) and the Kubernetes resource provider from
 * `tools/pulumi-kubernetes` (github.com/pulumi/pulumi-kubernetes/provider/v4 at the commit of the
 * @pulumi/kubernetes release the project pins), installed as a plugin into the engine's own
 * PULUMI_HOME. No Node.js language host: the lab runs programs inline through the SDK's Automation
 * API, whose in-process language server the CLI talks to (docs/pulumi.md says why).
 */
export interface PulumiEngine {
  /** The CLI's release, e.g. `3.248.0`. */
  readonly version: string;
  /** The Kubernetes provider's release, e.g. `4.25.0`. */
  readonly kubernetesProviderVersion: string;
  /** Holds `bin/pulumi`, as the Automation API's `PulumiCommand.get({ root })` expects. */
  readonly root: string;
  /** PULUMI_HOME whose `plugins` holds the Kubernetes provider. */
  readonly home: string;
  readonly cli: string;
}

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const PULUMI_MODULE_DIR = path.join(REPO_ROOT, 'tools', 'pulumi');
export const PULUMI_KUBERNETES_MODULE_DIR = path.join(REPO_ROOT, 'tools', 'pulumi-kubernetes');
const PROVIDER_MODULE = 'github.com/pulumi/pulumi-kubernetes/provider/v4';
const PROVIDER_COMMAND = 'cmd/pulumi-resource-kubernetes';

/** The npm package's version as installed (node_modules), which the SDK reports to the engine. */
function installedVersion(pkg: string): string {
  const file = require.resolve(`${pkg}/package.json`, { paths: [REPO_ROOT] });
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

/** The `pkg/v3` release `tools/pulumi/go.mod` requires. */
export function pulumiCliVersion(moduleDir = PULUMI_MODULE_DIR): string {
  const goMod = fs.readFileSync(path.join(moduleDir, 'go.mod'), 'utf8');
  const match = /^\s*(?:require\s+)?github\.com\/pulumi\/pulumi\/pkg\/v3 v(\d+\.\d+\.\d+)(?:\s|$)/m.exec(goMod);
  if (!match) throw new Error(`${moduleDir}/go.mod: does not require github.com/pulumi/pulumi/pkg/v3 vX.Y.Z`);
  return match[1];
}

/**
 * The provider release `tools/pulumi-kubernetes/go.mod` builds. The proxy serves that module only as
 * pseudo-versions, so go.mod says which release its commit is (`// release vX.Y.Z is commit <hash>`),
 * and the required pseudo-version must end in that commit.
 */
export function kubernetesProviderVersion(moduleDir = PULUMI_KUBERNETES_MODULE_DIR): string {
  const goMod = fs.readFileSync(path.join(moduleDir, 'go.mod'), 'utf8');
  const release = /^\/\/ release v(\d+\.\d+\.\d+) is commit ([0-9a-f]{12})\b/m.exec(goMod);
  const required = new RegExp(`^\\s*(?:require\\s+)?${PROVIDER_MODULE.replace(/[./]/g, '\\$&')} (v\\S+)`, 'm').exec(goMod);
  if (!release || !required) throw new Error(`${moduleDir}/go.mod: expected "// release vX.Y.Z is commit <12 hex digits>" and a require of ${PROVIDER_MODULE}`);
  if (!required[1].endsWith(`-${release[2]}`)) {
    throw new Error(`${moduleDir}/go.mod: requires ${PROVIDER_MODULE} ${required[1]}, which is not commit ${release[2]} of release v${release[1]}`);
  }
  return release[1];
}

export function pulumiEngine(cacheDir = defaultCacheDir()): PulumiEngine {
  const version = pulumiCliVersion();
  const root = path.join(cacheDir, `pulumi-v${version}`);
  return {
    version,
    kubernetesProviderVersion: kubernetesProviderVersion(),
    root,
    home: path.join(root, 'home'),
    cli: path.join(root, 'bin', 'pulumi'),
  };
}

export interface EnsurePulumiOptions {
  readonly cacheDir?: string;
  readonly log: (line: string) => void;
}

/**
 * Builds what is missing or stale and installs the provider plugin; checks first that the Go modules
 * build the releases node_modules holds (a mismatch would have the engine look for another plugin).
 */
export async function ensurePulumiEngine(options: EnsurePulumiOptions): Promise<PulumiEngine> {
  const engine = pulumiEngine(options.cacheDir);
  const sdk = installedVersion('@pulumi/pulumi');
  const k8s = installedVersion('@pulumi/kubernetes');
  if (sdk !== engine.version) throw new Error(`tools/pulumi/go.mod builds the Pulumi CLI ${engine.version} but node_modules holds @pulumi/pulumi ${sdk}; they must be the same release`);
  if (k8s !== engine.kubernetesProviderVersion) {
    throw new Error(`tools/pulumi-kubernetes/go.mod builds the Kubernetes provider ${engine.kubernetesProviderVersion} but node_modules holds @pulumi/kubernetes ${k8s}; they must be the same release`);
  }
  await ensureGoBinaries({
    name: `pulumi ${engine.version}`,
    moduleDir: PULUMI_MODULE_DIR,
    binDir: path.join(engine.root, 'bin'),
    targets: [{ output: 'pulumi', package: 'github.com/pulumi/pulumi/pkg/v3/cmd/pulumi' }],
    ldflags: `-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${engine.version}`,
    hint: 'a first build takes about 10 min on 2 cores',
    log: options.log,
  });
  const providerRoot = path.join(path.dirname(engine.root), `pulumi-kubernetes-v${engine.kubernetesProviderVersion}`);
  const buildDir = path.join(providerRoot, 'src');
  await ensureGoBinaries({
    name: `pulumi-resource-kubernetes ${engine.kubernetesProviderVersion}`,
    moduleDir: PULUMI_KUBERNETES_MODULE_DIR,
    buildDir,
    binDir: path.join(providerRoot, 'bin'),
    targets: [{ output: 'pulumi-resource-kubernetes', package: `./${PROVIDER_COMMAND}` }],
    ldflags: `-s -w -X ${PROVIDER_MODULE}/pkg/version.Version=${engine.kubernetesProviderVersion}`,
    hint: 'a first build takes about 10 to 18 min on 2 cores',
    prepare: () => prepareProviderSource(buildDir, engine.kubernetesProviderVersion),
    log: options.log,
  });
  await installProviderPlugin(engine, path.join(providerRoot, 'bin', 'pulumi-resource-kubernetes'), options.log);
  return engine;
}

/**
 * The provider's command embeds `schema-embed.json` and `terraform-mapping-embed.json`, which its
 * `go:generate` writes from the committed schema with the release's VERSION. The module cache is
 * read-only, so the command is copied into a copy of tools/pulumi-kubernetes and generated there.
 */
async function prepareProviderSource(buildDir: string, version: string): Promise<void> {
  fs.rmSync(buildDir, { recursive: true, force: true });
  const command = path.join(buildDir, PROVIDER_COMMAND);
  fs.mkdirSync(command, { recursive: true });
  for (const file of ['go.mod', 'go.sum']) fs.copyFileSync(path.join(PULUMI_KUBERNETES_MODULE_DIR, file), path.join(buildDir, file));
  await run(['go', '-C', PULUMI_KUBERNETES_MODULE_DIR, 'mod', 'download', PROVIDER_MODULE], { env: goEnv(), timeoutMs: 600_000 });
  const moduleDir = (await run(['go', '-C', PULUMI_KUBERNETES_MODULE_DIR, 'list', '-m', '-f', '{{.Dir}}', PROVIDER_MODULE], { env: goEnv(), timeoutMs: 120_000 })).stdout.trim();
  for (const file of fs.readdirSync(path.join(moduleDir, PROVIDER_COMMAND))) {
    const to = path.join(command, file);
    fs.copyFileSync(path.join(moduleDir, PROVIDER_COMMAND, file), to);
    fs.chmodSync(to, 0o644);
  }
  await run(['go', '-C', command, 'generate', '.'], { env: { ...goEnv(), VERSION: version }, timeoutMs: 900_000 });
}

/** `pulumi plugin install resource kubernetes <version> --file <binary>`, again only when the binary changed. */
async function installProviderPlugin(engine: PulumiEngine, binary: string, log: (line: string) => void): Promise<void> {
  const installed = path.join(engine.home, 'plugins', `resource-kubernetes-v${engine.kubernetesProviderVersion}`, 'pulumi-resource-kubernetes');
  if (fs.existsSync(installed) && fs.readFileSync(installed).equals(fs.readFileSync(binary))) return;
  log(`pulumi ${engine.version}: installing the kubernetes provider ${engine.kubernetesProviderVersion} into ${engine.home}`);
  await run([engine.cli, 'plugin', 'install', 'resource', 'kubernetes', engine.kubernetesProviderVersion, '--file', binary, '--reinstall'], {
    env: engineEnv(engine), timeoutMs: 300_000,
  });
}

/** What every run of this engine gets: its own home, no update check, no plugin download. */
export function engineEnv(engine: PulumiEngine): Record<string, string> {
  return {
    PULUMI_HOME: engine.home,
    PULUMI_SKIP_UPDATE_CHECK: 'true',
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: 'true',
  };
}
