import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { renderCniShim } from '../dataplane/cni/shim';
import type { HostRuntimeManifest } from './host-runtime';

/** The directory under the CNI binary directory that holds the shipped runtime and bundle. */
export const PAYLOAD_HOME = '.cnikit';

/** In each payload: runs the shipped Node with its own loader and libraries. */
const NODE_RUNNER = 'node-run';

export interface CniInstallOptions {
  /** The host's CNI binary directory as mounted in the installer's container. */
  readonly binDir: string;
  /** The plugin's executable names, i.e. the `type`s network configurations use; each gets a launcher. */
  readonly names: readonly string[];
  /** The plugin bundle inside the image. */
  readonly bundle: string;
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

export interface CniInstallResult {
  readonly launchers: readonly string[];
  readonly payloadDir: string;
  readonly copied: boolean;
}

/**
 * Installs the plugin on the host: the bundle with the loader, Node and libraries it was built with go
 * into `<binDir>/.cnikit/<content hash>/`, then for each name a small launcher replaces `<binDir>/<name>`
 * by rename, and last the network configuration, so it never names a plugin that is not there yet.
 * A runtime invoking the plugin meanwhile runs either the old or the new one, never half of one; the
 * host needs only /bin/sh. Running it again with the same image changes nothing.
 */
export async function installCniPlugin(options: CniInstallOptions): Promise<CniInstallResult> {
  const manifest = JSON.parse(await readFile(options.runtimeManifest, 'utf8')) as HostRuntimeManifest;
  const payload: [string, string][] = [
    [options.bundle, 'plugin.js'],
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
    await mkdir(join(staging, 'lib'), { recursive: true });
    for (const [source, target] of payload) {
      await copyFile(source, join(staging, target));
      await chmod(join(staging, target), target.endsWith('.js') ? 0o644 : 0o755);
    }
    await writeAtomically(join(staging, NODE_RUNNER), nodeRunnerScript(), 0o755);
    await rename(staging, payloadDir);
    copied = true;
  }

  const launchers = options.names.map((name) => join(options.binDir, name));
  const previous = launchers.filter((l) => existsSync(l));
  const previousText = (await Promise.all(previous.map((l) => readFile(l, 'utf8')))).join('\n');
  for (const [i, launcher] of launchers.entries()) {
    const script = options.shim === undefined
      ? launcherScript(options.names[i] ?? '', version)
      : renderCniShim({
        port: options.shim.port,
        tokenFile: options.shim.tokenFile,
        node: posix.join(options.hostBinDir ?? '/opt/cni/bin', PAYLOAD_HOME, version, NODE_RUNNER),
        plugin: posix.join(options.hostBinDir ?? '/opt/cni/bin', PAYLOAD_HOME, version, 'plugin.js'),
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

/** The launcher: finds the payload beside itself and runs Node through the shipped loader. */
export function launcherScript(name: string, version: string): string {
  return [
    '#!/bin/sh',
    `# cnikit CNI plugin "${name}", installed by cni-install: Node and its libraries are shipped beside it`,
    '# so the plugin never depends on what the host has.',
    `d="\${0%/*}/${PAYLOAD_HOME}/${version}"`,
    'exec "$d/ld.so" --library-path "$d/lib" "$d/node" "$d/plugin.js" "$@"',
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
