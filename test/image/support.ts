import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultCacheDir } from '../../lib/image/cache';
import type { BuildOptions } from '../../lib/image/build';
import { DEFAULT_PATH } from '../../lib/image/image-spec';

export const REPO_ROOT = join(__dirname, '..', '..');

/** A scratch directory removed by `cleanup`, named with the pid so parallel runs never collide. */
export function scratchDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `cnikit-image-${label}-${process.pid}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function buildOptions(outDir: string): BuildOptions {
  return {
    repoRoot: REPO_ROOT,
    outDir,
    cacheDir: defaultCacheDir(),
    version: '0.0.0-test',
    revision: '0123456789abcdef0123456789abcdef01234567',
    source: 'https://example.invalid/cnikit.git',
    licenses: 'Apache-2.0',
    epochSeconds: 0,
  };
}

export interface SkopeoInspect {
  readonly Digest: string;
  readonly Architecture: string;
  readonly Os: string;
  readonly Labels: Record<string, string>;
  readonly Layers: string[];
  readonly Env: string[];
}

/** What skopeo, an independent OCI implementation, reads from the layout. */
export function skopeoInspect(layoutDir: string, tag: string): SkopeoInspect {
  return JSON.parse(execFileSync('skopeo', ['inspect', `oci:${layoutDir}:${tag}`]).toString()) as SkopeoInspect;
}

export function skopeoConfig(layoutDir: string, tag: string): { config: { User?: string; Entrypoint?: string[] }; created: string } {
  return JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${layoutDir}:${tag}`]).toString()) as { config: { User?: string; Entrypoint?: string[] }; created: string };
}

/** Unpacks the image with umoci into `<bundleDir>/rootfs` and returns the root filesystem's path. */
export function umociUnpack(layoutDir: string, tag: string, bundleDir: string): string {
  execFileSync('umoci', ['unpack', '--rootless', '--image', `${layoutDir}:${tag}`, bundleDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  return join(bundleDir, 'rootfs');
}

/** Runs a program of the unpacked image inside it, with the image's PATH and nothing of the caller's environment. */
export function runInChroot(rootfs: string, argv: readonly string[], env: Readonly<Record<string, string>> = {}, stdin = '', user = '0:0'): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('chroot', [`--userspec=${user}`, rootfs, ...argv], { env: { PATH: DEFAULT_PATH, ...env }, input: stdin, encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
