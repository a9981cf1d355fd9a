import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { cachedLayer } from './cache';
import { listTree, type ContentFile, type LayerContents } from './contents';
import { describePackages, dropDocumentation, fetchPackage, resolveDependencies, unpackPackage, type DebianPackage } from './debian';
import { FileTree, type Origin } from './file-tree';
import { buildLayer, type Layer } from './layer';
import { fetchNode, RUNTIME_PACKAGES, unpackNode, type NodeDistribution } from './node-runtime';
import type { PathMapper } from './tar-reader';

/** The builder's version in contents listings. */
const LAYER_FORMAT = 4;

/**
 * Cached layers are keyed by the builder's own code as well as their inputs, so a change to how layers
 * are assembled (a path filter, say) never reuses a layer built the old way.
 */
const BUILDER_CODE = (() => {
  const hash = createHash('sha256');
  for (const file of readdirSync(__dirname).filter((f) => /\.(ts|js)$/.test(f)).sort()) hash.update(file).update(readFileSync(join(__dirname, file)));
  return hash.digest('hex');
})();

/**
 * Packages no layer carries: debconf is only read by maintainer scripts, which never run in an image
 * assembled from unpacked packages.
 */
const NEVER: readonly string[] = ['debconf', 'cdebconf'];

const BUILDER: Origin = { kind: 'builder', name: 'cnikit', version: String(LAYER_FORMAT) };

/** Files a container expects besides the runtime: users (root and the distroless `nonroot` 65532), NSS, /tmp, /run. */
function addBaseFiles(tree: FileTree): void {
  tree.addFile('etc/passwd', Buffer.from('root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n'), 0o644, BUILDER);
  tree.addFile('etc/group', Buffer.from('root:x:0:\nnonroot:x:65532:\n'), 0o644, BUILDER);
  tree.addFile('etc/nsswitch.conf', Buffer.from('passwd: files\ngroup: files\nhosts: files dns\n'), 0o644, BUILDER);
  tree.addDirectory('tmp', 0o1777, BUILDER);
  // As in every Debian system: iproute2 looks for named network namespaces in /run/netns, while
  // runtimes and manifests mount them at /var/run/netns.
  tree.addDirectory('run', 0o755, BUILDER);
  tree.addSymlink('var/run', '/run', BUILDER);
  tree.addDirectory('root', 0o700, BUILDER);
  tree.addDirectory('home/nonroot', 0o755, BUILDER);
}

export interface BuiltLayer {
  readonly layer: Layer;
  readonly contents: LayerContents;
}

interface LayerMeta {
  readonly description: string;
  readonly packages: LayerContents['packages'];
  readonly files: readonly ContentFile[];
  readonly uncompressedSize: number;
}

function toBuilt(layer: Layer, meta: LayerMeta): BuiltLayer {
  return {
    layer,
    contents: { ...meta, digest: layer.digest, diffId: layer.diffId, compressedSize: layer.size },
  };
}

/** apt answers the same within one build run; asking once keeps `npm run images` and the tests quick. */
const resolved = new Map<string, Promise<{ names: string[]; debs: DebianPackage[] }>>();

/** Forgets what apt answered, after its lists were updated. */
export function forgetAptAnswers(): void {
  resolved.clear();
}

function resolvePackages(roots: readonly string[], exclude: readonly string[]): Promise<{ names: string[]; debs: DebianPackage[] }> {
  const key = JSON.stringify([roots, [...exclude].sort()]);
  let result = resolved.get(key);
  if (result === undefined) {
    result = resolveDependencies(roots, new Set(exclude)).then(async (names) => ({ names, debs: await describePackages(names) }));
    resolved.set(key, result);
    result.catch(() => resolved.delete(key));
  }
  return result;
}

/**
 * The runtime every image shares, so a registry stores it once: glibc, libgcc, libstdc++ (Debian) and
 * the Node binary, plus users and NSS configuration.
 */
export async function runtimeLayer(node: NodeDistribution, cacheDir: string, epochSeconds: number): Promise<BuiltLayer & { packages: readonly string[] }> {
  const { names, debs } = await resolvePackages(RUNTIME_PACKAGES, NEVER);
  const key = { BUILDER_CODE, layer: 'runtime', node, debs, epochSeconds };
  const { layer, meta } = await cachedLayer<LayerMeta>(cacheDir, key, async () => {
    const tree = new FileTree();
    for (const pkg of debs) await unpackPackage(pkg, await fetchPackage(pkg, cacheDir), tree, withoutGconv);
    await unpackNode(node, await fetchNode(node, cacheDir), tree);
    addBaseFiles(tree);
    const listed = listTree(tree);
    const layer = await buildLayer(tree, epochSeconds);
    return { layer, meta: { description: `runtime: Node.js ${node.version} and its shared libraries`, ...listed, uncompressedSize: uncompressed(listed.files) } };
  });
  return { ...toBuilt(layer, meta), packages: names };
}

/**
 * The system programs a component runs (e.g. iproute2's `ip`, `nft`) with the libraries they need; what
 * the runtime layer already has is not repeated.
 */
export async function toolsLayer(
  roots: readonly string[],
  tools: readonly string[],
  exclude: readonly string[],
  runtimePackages: readonly string[],
  cacheDir: string,
  epochSeconds: number,
): Promise<BuiltLayer> {
  const { debs } = await resolvePackages(roots, [...NEVER, ...exclude, ...runtimePackages]);
  const key = { BUILDER_CODE, layer: 'tools', debs, tools: [...tools].sort(), epochSeconds };
  const { layer, meta } = await cachedLayer<LayerMeta>(cacheDir, key, async () => {
    const tree = new FileTree();
    const keep = keepPrograms(tools);
    for (const pkg of debs) await unpackPackage(pkg, await fetchPackage(pkg, cacheDir), tree, keep);
    const listed = listTree(tree);
    const layer = await buildLayer(tree, epochSeconds);
    return { layer, meta: { description: `system tools: ${[...tools].sort().join(', ')}`, ...listed, uncompressedSize: uncompressed(listed.files) } };
  });
  return toBuilt(layer, meta);
}

/**
 * glibc's iconv character-set modules (8 MB) go: Node converts text with its own ICU, and no program in
 * the images calls iconv(3). The Node binary itself is kept byte for byte as published (not stripped),
 * so it matches the pinned integrity and native crash stacks keep their symbols.
 */
const withoutGconv: PathMapper = (path) => (/^usr\/lib\/[^/]+-linux-gnu\/gconv(\/|$)/.test(path) ? undefined : dropDocumentation(path));

/** Documentation goes, and so does every program under a bin/ or sbin/ directory that is not listed. */
function keepPrograms(tools: readonly string[]): PathMapper {
  const wanted = new Set(tools);
  return (path) => {
    const kept = dropDocumentation(path);
    if (kept === undefined) return undefined;
    if (/^(usr\/)?s?bin\/[^/]+$/.test(kept) && !wanted.has(posix.basename(kept))) return undefined;
    // tc's qdisc plugins (iproute2) are loaded only by tc, which is never kept; q_atm.so needs libatm.
    if (/^usr\/lib\/[^/]+-linux-gnu\/tc\//.test(kept) && !wanted.has('tc')) return undefined;
    return kept;
  };
}

function uncompressed(files: readonly ContentFile[]): number {
  return files.reduce((sum, f) => sum + f.size, 0);
}
