import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The kit's one native addon, `native/tcp-md5/tcp_md5.c` (TCP-MD5 keys for the BGP speaker: Node has
 * no setsockopt), compiled with the machine's gcc against the running Node's N-API headers. Cached
 * by source, compiler and headers; the output has no timestamps or paths, so images stay reproducible.
 */
export const NATIVE_ADDONS = ['tcp-md5'] as const;
export type NativeAddon = typeof NATIVE_ADDONS[number];

/** Builds (or reuses) the addon; returns the path of the `.node` file. */
export function buildNativeAddon(repoRoot: string, name: NativeAddon, cacheDir: string): string {
  const source = join(repoRoot, 'native', name, `${name.replace(/-/g, '_')}.c`);
  const headers = join(dirname(process.execPath), '..', 'include', 'node');
  if (!existsSync(join(headers, 'node_api.h'))) {
    throw new Error(`native addon ${name}: ${headers}/node_api.h is missing; install Node with its headers (the official tarball or the nodejs package ships them)`);
  }
  const gcc = spawnSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' });
  if (gcc.status !== 0) throw new Error(`native addon ${name}: gcc is not available (${gcc.error?.message ?? gcc.stderr.trim()}); install the Debian packages gcc and libc6-dev`);
  const key = createHash('sha256').update(readFileSync(source)).update(gcc.stdout).update(readFileSync(join(headers, 'node_api.h'))).digest('hex').slice(0, 16);
  const dir = join(cacheDir, 'native');
  const out = join(dir, `${name}-${key}.node`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const result = spawnSync('gcc', ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', '-Werror', `-I${headers}`, '-o', tmp, source], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`native addon ${name}: gcc failed: ${result.stderr.trim().split('\n').slice(0, 5).join(' | ')}`);
  renameSync(tmp, out);
  return out;
}
