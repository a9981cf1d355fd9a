import { join } from 'node:path';
import { describePackages, dropDocumentation, fetchPackage, resolveDependencies, unpackPackage } from './debian';
import { FileTree } from './file-tree';
import { buildLayer } from './layer';
import { writeOciLayout, type WrittenImage } from './layout';
import { ANNOTATION, type ImageConfig } from './oci';

/** A small image made of Debian packages only: no Node runtime (the cluster lab's pause and test images). */
export interface DebianImageSpec {
  readonly name: string;
  readonly tag: string;
  readonly description: string;
  readonly packages: readonly string[];
  /** Extra files, path → content and mode (e.g. a binary built elsewhere). */
  readonly files?: Readonly<Record<string, { readonly content: Buffer; readonly mode: number }>>;
  /** Extra symlinks, path → target (e.g. busybox applets). */
  readonly symlinks?: Readonly<Record<string, string>>;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** @default '0:0' */
  readonly user?: string;
}

export interface BuiltDebianImage extends WrittenImage {
  readonly layoutDir: string;
}

/** Builds `spec` as one layer into the OCI layout `<outDir>/<name>`; the same packages give the same digest. */
export async function buildDebianImage(spec: DebianImageSpec, outDir: string, cacheDir: string): Promise<BuiltDebianImage> {
  const names = await resolveDependencies(spec.packages, new Set(['debconf', 'cdebconf']));
  const tree = new FileTree();
  const origin = { kind: 'builder', name: 'cnikit', version: spec.tag } as const;
  for (const pkg of await describePackages(names)) await unpackPackage(pkg, await fetchPackage(pkg, cacheDir), tree, dropDocumentation);
  for (const [path, file] of Object.entries(spec.files ?? {})) tree.addFile(path, file.content, file.mode, origin);
  for (const [path, target] of Object.entries(spec.symlinks ?? {})) tree.addSymlink(path, target, origin);
  tree.addDirectory('tmp', 0o1777, origin);
  tree.addDirectory('proc', 0o755, origin);
  tree.addDirectory('sys', 0o755, origin);
  tree.addDirectory('dev', 0o755, origin);
  tree.addDirectory('etc', 0o755, origin);
  const layer = await buildLayer(tree, 0);
  const created = new Date(0).toISOString();
  const labels = { [ANNOTATION.title]: spec.name, [ANNOTATION.description]: spec.description, [ANNOTATION.version]: spec.tag };
  const config: ImageConfig = {
    created,
    architecture: 'amd64',
    os: 'linux',
    config: {
      User: spec.user ?? '0:0',
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      ...(spec.cmd ? { Cmd: spec.cmd } : {}),
      WorkingDir: '/',
      Labels: labels,
    },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: `cnikit image builder${names.length ? `: Debian ${names.join(', ')}` : ''}` }],
  };
  const layoutDir = join(outDir, spec.name);
  const written = await writeOciLayout(layoutDir, { layers: [layer], config, annotations: labels }, spec.tag);
  return { ...written, layoutDir };
}
