import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { toolsLayer, runtimeLayer, type BuiltLayer } from './base-layers';
import { bundleExecutable } from './bundle';
import { listTree, unresolvedLibraries, type ContentFile, type ImageContents } from './contents';
import { FileTree } from './file-tree';
import { BUNDLE_DIR, COMMAND_DIR, DEFAULT_PATH, type ImageSpec } from './image-spec';
import { buildLayer } from './layer';
import { writeOciLayout } from './layout';
import { HOST_RUNTIME_MANIFEST, hostRuntimeManifest } from './host-runtime';
import { buildNativeAddon } from './native-addon';
import { NODE, type NodeDistribution } from './node-runtime';
import { ANNOTATION, type ImageConfig } from './oci';

export interface BuildOptions {
  readonly repoRoot: string;
  /** Where layouts go: `<outDir>/<name>/` plus `<outDir>/<name>.contents.json`. */
  readonly outDir: string;
  readonly cacheDir: string;
  /** The tag in the layout and the version annotation. */
  readonly version: string;
  /** The git commit the sources are at, when known. */
  readonly revision?: string;
  /** Where the sources live (a repository URL), when known. */
  readonly source?: string;
  readonly licenses: string;
  /** Every timestamp in the image: SOURCE_DATE_EPOCH when set, else 0. */
  readonly epochSeconds: number;
  /** @default NODE */
  readonly node?: NodeDistribution;
}

export interface BuiltImage {
  readonly name: string;
  readonly tag: string;
  readonly manifestDigest: string;
  readonly layoutDir: string;
  readonly contentsFile: string;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
}

/** Builds one image's OCI layout and contents listing; the same sources give the same manifest digest. */
export async function buildImage(spec: ImageSpec, options: BuildOptions): Promise<BuiltImage> {
  const node = options.node ?? NODE;
  const runtime = await runtimeLayer(node, options.cacheDir, options.epochSeconds);
  const layers: BuiltLayer[] = [runtime];
  if ((spec.debianPackages ?? []).length > 0) {
    layers.push(await toolsLayer(spec.debianPackages ?? [], spec.systemTools ?? [], spec.excludePackages ?? [], runtime.packages, options.cacheDir, options.epochSeconds));
  }
  layers.push(await appLayer(spec, options, runtime.contents.files));
  const unresolved = unresolvedLibraries(layers.map((l) => l.contents));
  if (unresolved.size > 0) {
    const list = [...unresolved].map(([soname, users]) => `${soname} (needed by ${users.join(', ')})`).join('; ');
    throw new Error(`image ${spec.name} is incomplete: no layer provides ${list}; add the Debian package that ships it or stop excluding it`);
  }

  const labels: Record<string, string> = { [ANNOTATION.title]: spec.name, [ANNOTATION.description]: spec.description, [ANNOTATION.version]: options.version, [ANNOTATION.licenses]: options.licenses };
  if (options.source !== undefined) labels[ANNOTATION.source] = options.source;
  if (options.revision !== undefined) labels[ANNOTATION.revision] = options.revision;
  const created = new Date(options.epochSeconds * 1000).toISOString();
  const env = { PATH: DEFAULT_PATH, ...spec.env };
  const config: ImageConfig = {
    created,
    architecture: 'amd64',
    os: 'linux',
    config: {
      User: spec.user,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Entrypoint: spec.entrypoint,
      WorkingDir: '/',
      Labels: labels,
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.layer.diffId) },
    history: layers.map((l) => ({ created, created_by: `cnikit image builder: ${l.contents.description}` })),
  };
  const layoutDir = join(options.outDir, spec.name);
  await mkdir(options.outDir, { recursive: true });
  const written = await writeOciLayout(layoutDir, { layers: layers.map((l) => l.layer), config, annotations: { ...labels, [ANNOTATION.created]: created } }, options.version);
  const uncompressedSize = layers.reduce((sum, l) => sum + l.contents.uncompressedSize, 0);
  const contents: ImageContents = {
    name: spec.name,
    tag: options.version,
    manifestDigest: written.manifestDigest,
    compressedSize: written.compressedSize,
    uncompressedSize,
    user: spec.user,
    entrypoint: spec.entrypoint,
    layers: layers.map((l) => l.contents),
  };
  const contentsFile = join(options.outDir, `${spec.name}.contents.json`);
  await writeFile(contentsFile, `${JSON.stringify(contents, null, 2)}\n`);
  return { name: spec.name, tag: options.version, manifestDigest: written.manifestDigest, layoutDir, contentsFile, compressedSize: written.compressedSize, uncompressedSize };
}

async function appLayer(spec: ImageSpec, options: BuildOptions, runtimeFiles: readonly ContentFile[]): Promise<BuiltLayer> {
  const tree = new FileTree();
  const bundled = [];
  const bundleAssets: Record<string, string[]> = {};
  for (const executable of spec.executables) {
    const bundle = await bundleExecutable(options.repoRoot, executable.entry);
    const origin = { kind: 'bundle', name: executable.entry, version: options.version } as const;
    tree.addFile(`${BUNDLE_DIR}/${executable.output}`, bundle.code, 0o755, origin);
    if (executable.command !== undefined) tree.addSymlink(`${COMMAND_DIR}/${executable.command}`, `${BUNDLE_DIR}/${executable.output}`, origin);
    for (const asset of bundle.assets) {
      const version = bundle.packages.find((p) => p.name === asset.package)?.version ?? 'unknown';
      tree.addFile(`${posix.dirname(BUNDLE_DIR)}/${asset.path}`, asset.content, 0o644, { kind: 'npm', name: asset.package, version });
    }
    if (bundle.assets.length > 0) bundleAssets[`${BUNDLE_DIR}/${executable.output}`] = bundle.assets.map((a) => `${posix.dirname(BUNDLE_DIR)}/${a.path}`);
    bundled.push(...bundle.packages.map((p) => ({ kind: 'npm' as const, ...p })));
  }
  for (const addon of spec.nativeAddons ?? []) {
    const file = buildNativeAddon(options.repoRoot, addon, options.cacheDir);
    tree.addFile(`${BUNDLE_DIR}/${addon}.node`, await readFile(file), 0o644, { kind: 'builder', name: `native/${addon}`, version: options.version });
  }
  if (spec.installsRuntimeOnHost === true) {
    const manifest = hostRuntimeManifest(runtimeFiles, bundleAssets);
    tree.addFile(HOST_RUNTIME_MANIFEST, Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), 0o644, { kind: 'builder', name: 'cnikit', version: options.version });
  }
  const listed = listTree(tree, bundled);
  const layer = await buildLayer(tree, options.epochSeconds);
  return {
    layer,
    contents: {
      description: `dataplane: ${spec.executables.map((e) => e.output).join(', ')}`,
      digest: layer.digest,
      diffId: layer.diffId,
      compressedSize: layer.size,
      uncompressedSize: listed.files.reduce((sum, f) => sum + f.size, 0),
      ...listed,
    },
  };
}
