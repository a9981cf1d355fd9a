import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, sha256Digest } from './digest';
import type { Layer } from './layer';

/** Downloads and built layers live outside the repository: `$CNIKIT_CACHE_DIR`, else `~/.cache/cnikit`. */
export function defaultCacheDir(): string {
  return process.env.CNIKIT_CACHE_DIR ?? join(homedir(), '.cache', 'cnikit');
}

/**
 * A built layer stored under the digest of everything it was built from, with whatever listing goes
 * with it; `make` runs only when no layer for that key is stored.
 */
export async function cachedLayer<T>(cacheDir: string, key: unknown, make: () => Promise<{ layer: Layer; meta: T }>): Promise<{ layer: Layer; meta: T }> {
  const dir = join(cacheDir, 'layers', sha256Digest(canonicalJson(key)).slice('sha256:'.length));
  const inMemory = loaded.get(dir) as Promise<{ layer: Layer; meta: T }> | undefined;
  if (inMemory !== undefined) return inMemory;
  const result = loadOrMake(dir, make);
  loaded.set(dir, result);
  result.catch(() => loaded.delete(dir));
  return result;
}

/** Layers this process already has, so building several images reads each shared layer once. */
const loaded = new Map<string, Promise<unknown>>();

async function loadOrMake<T>(dir: string, make: () => Promise<{ layer: Layer; meta: T }>): Promise<{ layer: Layer; meta: T }> {
  const metaFile = join(dir, 'layer.json');
  if (existsSync(metaFile)) {
    const stored = JSON.parse(await readFile(metaFile, 'utf8')) as { diffId: string; digest: string; size: number; meta: T };
    const blob = await readFile(join(dir, 'layer.tar.gz'));
    if (blob.length === stored.size && sha256Digest(blob) === stored.digest) {
      return { layer: { diffId: stored.diffId, digest: stored.digest, size: stored.size, blob }, meta: stored.meta };
    }
  }
  const made = await make();
  const staging = `${dir}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await writeFile(join(staging, 'layer.tar.gz'), made.layer.blob);
  const { diffId, digest, size } = made.layer;
  await writeFile(join(staging, 'layer.json'), JSON.stringify({ diffId, digest, size, meta: made.meta }));
  await rm(dir, { recursive: true, force: true });
  try {
    await rename(staging, dir);
  } catch (error) {
    // Another build (a parallel test worker) stored the same layer first; its bytes are these bytes.
    if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
    await rm(staging, { recursive: true, force: true });
  }
  return made;
}
