import type { FileTree, Origin } from './file-tree';

/** One path of an image, as listed beside the layout. */
export interface ContentFile {
  readonly path: string;
  readonly type: 'file' | 'directory' | 'symlink';
  readonly mode: string;
  readonly size: number;
  readonly target?: string;
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
      case 'file':
        return { ...base, type: 'file', mode: entry.mode.toString(8).padStart(4, '0'), size: entry.content.length };
      case 'directory':
        return { ...base, type: 'directory', mode: entry.mode.toString(8).padStart(4, '0'), size: 0 };
      case 'symlink':
        return { ...base, type: 'symlink', mode: '0777', size: 0, target: entry.target };
    }
  });
  for (const origin of extraPackages) packages.set(originLabel(origin), origin);
  return { files, packages: [...packages.values()].sort((a, b) => originLabel(a).localeCompare(originLabel(b))) };
}
