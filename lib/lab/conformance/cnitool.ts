import { createHash } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { defaultCacheDir } from '../../image/cache';
import { ensureGoBinaries } from '../go-build';

/**
 * `cnitool`, the CNI project's reference runtime (libcni driving a conflist, as containerd and
 * CRI-O do), built from the project's own module `tools/cni` (a Go 1.24 `tool` directive pinning
 * `github.com/containernetworking/cni`) into `<cache>/cnitool-<version>/bin/cnitool`.
 */
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CNI_MODULE_DIR = path.join(REPO_ROOT, 'tools', 'cni');
const CNI_MODULE = 'github.com/containernetworking/cni';

/** The release `tools/cni/go.mod` requires, e.g. `v1.3.0`. */
export function cnitoolVersion(moduleDir = CNI_MODULE_DIR): string {
  const goMod = fs.readFileSync(path.join(moduleDir, 'go.mod'), 'utf8');
  const match = /^\s*(?:require\s+)?github\.com\/containernetworking\/cni (v\d+\.\d+\.\d+)\b/m.exec(goMod);
  if (!match) throw new Error(`${moduleDir}/go.mod: does not require ${CNI_MODULE} vX.Y.Z`);
  return match[1];
}

export interface EnsureCnitoolOptions {
  readonly log: (line: string) => void;
  /** @default defaultCacheDir() */
  readonly cacheDir?: string;
  /** @default tools/cni */
  readonly moduleDir?: string;
}

export interface Cnitool {
  readonly version: string;
  /** The executable. */
  readonly path: string;
}

/** Builds cnitool when it is missing or was built from another module definition or Go toolchain. */
export async function ensureCnitool(options: EnsureCnitoolOptions): Promise<Cnitool> {
  const moduleDir = options.moduleDir ?? CNI_MODULE_DIR;
  const version = cnitoolVersion(moduleDir);
  const binDir = path.join(options.cacheDir ?? defaultCacheDir(), `cnitool-${version}`, 'bin');
  await ensureGoBinaries({
    name: `cnitool ${version}`,
    moduleDir,
    binDir,
    targets: [{ output: 'cnitool', package: `${CNI_MODULE}/cnitool` }],
    hint: 'about 30 s',
    log: options.log,
  });
  return { version, path: path.join(binDir, 'cnitool') };
}

/**
 * The CNI_CONTAINERID cnitool gives the plugins: `cnitool-` and the first 10 bytes of the SHA-512
 * of the namespace path it was given (made absolute), in hex. The same path gives the same ID, so
 * ADD, CHECK and DEL of one namespace reach one attachment.
 */
export function cnitoolContainerId(netnsPath: string): string {
  return `cnitool-${createHash('sha512').update(path.resolve(netnsPath)).digest().subarray(0, 10).toString('hex')}`;
}
