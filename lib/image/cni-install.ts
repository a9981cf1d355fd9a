import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, posix, relative } from 'node:path';
import { renderCniShim } from '../dataplane/cni/shim';
import type { HostRuntimeManifest } from './host-runtime';

/** The directory under the CNI binary directory that holds the shipped runtime and bundle. */
export const PAYLOAD_HOME = '.cnikit';

/** In each payload: runs the shipped Node with its own loader and libraries. */
const NODE_RUNNER = 'node-run';

export interface CniInstallOptions {
  /** The host's CNI binary directory as mounted in the installer's container. */
  readonly binDir: string;
  /**
   * The plugins' executable names, i.e. the `type`s network configurations use, each with the bundle (a
   * path inside the image) it runs; each name gets a launcher. Names may share a bundle.
   */
  readonly plugins: readonly CniPluginBundle[];
  /** The runtime manifest the image builder wrote (HOST_RUNTIME_MANIFEST). */
  readonly runtimeManifest: string;
  /** A network configuration to install, and where (the host's /etc/cni/net.d as mounted). */
  readonly conf?: { readonly source: string; readonly dir: string; readonly fileName: string };
  /**
   * Thick-plugin mode (docs/cni.md): install the bash shim that forwards each invocation to the resident
   * CNI server on this loopback port, with the server's token file (a host path), and falls back to the
   * shipped plugin when the server is down. The shim needs bash on the host.
   * @default the plain launcher (/bin/sh only)
   */
  readonly shim?: { readonly port: number; readonly tokenFile: string };
  /**
   * The CNI binary directory as the host sees it, which the shim names in absolute paths.
   * @default '/opt/cni/bin'
   */
  readonly hostBinDir?: string;
}

export interface CniPluginBundle {
  readonly name: string;
  readonly bundle: string;
}

export interface CniInstallResult {
  readonly launchers: readonly string[];
  readonly payloadDir: string;
  readonly copied: boolean;
}

/**
 * Installs the plugins on the host: their bundles (with the files bundled packages read at run time) and
 * the loader, Node and libraries they were built with go into `<binDir>/.cnikit/<content hash>/`, then for each name a small launcher replaces `<binDir>/<name>`
 * by rename, and last the network configuration, so it never names a plugin that is not there yet.
 * A runtime invoking the plugin meanwhile runs either the old or the new one, never half of one; the
 * host needs only /bin/sh. Running it again with the same image changes nothing.
 */
export async function installCniPlugin(options: CniInstallOptions): Promise<CniInstallResult> {
  const manifest = JSON.parse(await readFile(options.runtimeManifest, 'utf8')) as HostRuntimeManifest;
  // Bundles go to bin/ and their run-time files (etcd3's .proto) to the same place relative to bin/'s
  // parent as in the image, since bundled code finds them from its own directory.
  const bundles = [...new Set(options.plugins.map((p) => p.bundle))].sort();
  const payload: [string, string][] = [
    ...bundles.flatMap((bundle): [string, string][] => [
      [bundle, bundlePath(bundle)],
      ...(manifest.bundleAssets[bundle] ?? []).map((asset): [string, string] => [asset, relative(dirname(dirname(bundle)), asset)]),
    ]),
    [manifest.loader, 'ld.so'],
    [manifest.node, 'node'],
    ...manifest.libraries.map((lib): [string, string] => [lib, join('lib', basename(lib))]),
  ];
  const hash = createHash('sha256');
  for (const [source, target] of payload) hash.update(target).update('\0').update(await readFile(source)).update('\0');
  hash.update(nodeRunnerScript());
  const version = hash.digest('hex').slice(0, 16);
  const home = join(options.binDir, PAYLOAD_HOME);
  const payloadDir = join(home, version);

  let copied = false;
  if (!existsSync(payloadDir)) {
    const staging = `${payloadDir}.tmp-${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    for (const [source, target] of payload) {
      await mkdir(dirname(join(staging, target)), { recursive: true });
      await copyFile(source, join(staging, target));
      await chmod(join(staging, target), isExecutable(target) ? 0o755 : 0o644);
    }
    await writeAtomically(join(staging, NODE_RUNNER), nodeRunnerScript(), 0o755);
    await rename(staging, payloadDir);
    copied = true;
  }

  const launchers = options.plugins.map(({ name }) => join(options.binDir, name));
  const previous = launchers.filter((l) => existsSync(l));
  const previousText = (await Promise.all(previous.map((l) => readFile(l, 'utf8')))).join('\n');
  for (const [i, launcher] of launchers.entries()) {
    const { name, bundle } = options.plugins[i] ?? { name: '', bundle: '' };
    const script = options.shim === undefined
      ? launcherScript(name, version, bundlePath(bundle))
      : renderCniShim({
        port: options.shim.port,
        tokenFile: options.shim.tokenFile,
        node: posix.join(options.hostBinDir ?? '/opt/cni/bin', PAYLOAD_HOME, version, NODE_RUNNER),
        plugin: posix.join(options.hostBinDir ?? '/opt/cni/bin', PAYLOAD_HOME, version, bundlePath(bundle)),
      });
    await writeAtomically(launcher, script, 0o755);
  }
  // Payloads the previous launchers named stay until the next install, so invocations that started
  // before this one can finish; older ones and abandoned staging directories go.
  for (const entry of await readdir(home)) {
    if (entry !== version && !previousText.includes(`/${PAYLOAD_HOME}/${entry}`)) {
      await rm(join(home, entry), { recursive: true, force: true });
    }
  }
  if (options.conf !== undefined) {
    await mkdir(options.conf.dir, { recursive: true });
    await writeAtomically(join(options.conf.dir, options.conf.fileName), await readFile(options.conf.source), 0o644);
  }
  return { launchers, payloadDir, copied };
}

/** The loader, Node and the libraries are run or mapped; bundles are read by Node; assets are data. */
function isExecutable(target: string): boolean {
  return target === 'ld.so' || target === 'node' || target.startsWith('lib/');
}

/** Where a bundle goes in the payload. */
function bundlePath(bundle: string): string {
  return posix.join('bin', basename(bundle));
}

/** The launcher: finds the payload beside itself and runs Node through the shipped loader. */
export function launcherScript(name: string, version: string, bundle: string): string {
  return [
    '#!/bin/sh',
    `# cnikit CNI plugin "${name}", installed by cni-install: Node and its libraries are shipped beside it`,
    '# so the plugin never depends on what the host has.',
    `d="\${0%/*}/${PAYLOAD_HOME}/${version}"`,
    `exec "$d/ld.so" --library-path "$d/lib" "$d/node" "$d/${bundle}" "$@"`,
    '',
  ].join('\n');
}

/** `node` for programs that exec it by path (the shim's fallback): the shipped Node through the shipped loader. */
export function nodeRunnerScript(): string {
  return ['#!/bin/sh', 'd="${0%/*}"', 'exec "$d/ld.so" --library-path "$d/lib" "$d/node" "$@"', ''].join('\n');
}

async function writeAtomically(path: string, content: string | Buffer, mode: number): Promise<void> {
  const staging = `${path}.tmp-${process.pid}`;
  const file = await open(staging, 'w', mode);
  try {
    await file.writeFile(content);
    await file.sync();
  } finally {
    await file.close();
  }
  await chmod(staging, mode);
  await rename(staging, path);
}
