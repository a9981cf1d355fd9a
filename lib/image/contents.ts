import { neededLibraries } from './elf';
import type { FileTree, Origin } from './file-tree';

/** One path of an image, as listed beside the layout. */
export interface ContentFile {
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: string;
  readonly size: number;
  readonly target?: string;
  /** For ELF files: the shared libraries it needs (DT_NEEDED). */
  readonly needs?: readonly string[];
  readonly from: string;
}

export interface LayerContents {
  readonly description: string;
  readonly digest: string;
  readonly diffId: string;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  /** Every package with files in the layer: Debian packages, the npm Node build, bundled npm modules. */
  readonly packages: readonly Origin[];
  readonly files: readonly ContentFile[];
}

/** The contents listing of a whole image: what `dist/images/<name>.contents.json` holds. */
export interface ImageContents {
  readonly name: string;
  readonly tag: string;
  readonly manifestDigest: string;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly user: string;
  readonly entrypoint: readonly string[];
  readonly layers: readonly LayerContents[];
}

export function originLabel(origin: Origin): string {
  return `${origin.kind}:${origin.name}@${origin.version}`;
}

/** The files of a tree in path order, and the packages they came from. */
export function listTree(tree: FileTree, extraPackages: readonly Origin[] = []): { files: ContentFile[]; packages: Origin[] } {
  const packages = new Map<string, Origin>();
  const files = tree.entries().map((entry): ContentFile => {
    packages.set(originLabel(entry.origin), entry.origin);
    const base = { path: `/${entry.path}`, from: originLabel(entry.origin) };
    switch (entry.kind) {
      case 'file': {
        const needs = neededLibraries(entry.content);
        return { ...base, type: 'file', mode: entry.mode.toString(8).padStart(4, '0'), size: entry.content.length, ...(needs === undefined ? {} : { needs }) };
      }
      case 'directory':
        return { ...base, type: 'directory', mode: entry.mode.toString(8).padStart(4, '0'), size: 0 };
      case 'symlink':
        return { ...base, type: 'symlink', mode: '0777', size: 0, target: entry.target };
    }
  });
  for (const origin of extraPackages) packages.set(originLabel(origin), origin);
  return { files, packages: [...packages.values()].sort((a, b) => originLabel(a).localeCompare(originLabel(b))) };
}

/** Where the dynamic loader looks without configuration (no ld.so.cache in the images). */
const LIBRARY_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib'];

/**
 * Every shared library an ELF file of the image needs, with the files that need it, that no layer
 * provides in the loader's search path: an image that passes this starts every program it carries.
 */
export function unresolvedLibraries(layers: readonly { readonly files: readonly ContentFile[] }[]): Map<string, string[]> {
  const files = layers.flatMap((l) => l.files);
  const provided = new Set(files.filter((f) => f.type !== 'directory' && LIBRARY_DIRS.some((dir) => f.path === `${dir}/${f.path.split('/').pop() ?? ''}`)).map((f) => f.path.split('/').pop()));
  const missing = new Map<string, string[]>();
  for (const file of files) {
    for (const soname of file.needs ?? []) {
      if (!provided.has(soname)) missing.set(soname, [...(missing.get(soname) ?? []), file.path]);
    }
  }
  return missing;
}
