import { posix } from 'node:path';

/** Where a path in an image came from, for the contents listing: a Debian package, an npm package, a bundle. */
export interface Origin {
  readonly kind: 'debian' | 'npm' | 'bundle' | 'builder';
  readonly name: string;
  readonly version: string;
}

export type TreeEntry =
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly content: Buffer; readonly origin: Origin }
  | { readonly kind: 'directory'; readonly path: string; readonly mode: number; readonly origin: Origin }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string; readonly origin: Origin };

/**
 * The files of one layer, keyed by normalised path (no leading slash). Parents are created as 0755
 * directories; a later entry replaces an earlier one at the same path, as a later layer would.
 */
export class FileTree {
  private readonly byPath = new Map<string, TreeEntry>();

  static normalise(path: string): string {
    const normal = posix.normalize(`/${path}`).replace(/^\/+/, '').replace(/\/+$/, '');
    if (normal === '' || path.split('/').includes('..')) {
      throw new Error(`image path ${JSON.stringify(path)} is not a path below the root`);
    }
    return normal;
  }

  addFile(path: string, content: Buffer, mode: number, origin: Origin): void {
    this.put({ kind: 'file', path: FileTree.normalise(path), content, mode: mode & 0o7777, origin });
  }

  addDirectory(path: string, mode: number, origin: Origin): void {
    this.put({ kind: 'directory', path: FileTree.normalise(path), mode: mode & 0o7777, origin });
  }

  addSymlink(path: string, target: string, origin: Origin): void {
    this.put({ kind: 'symlink', path: FileTree.normalise(path), target, origin });
  }

  get(path: string): TreeEntry | undefined {
    return this.byPath.get(FileTree.normalise(path));
  }

  /** Every entry in byte order of its path, so the tarball does not depend on insertion order. */
  entries(): TreeEntry[] {
    return [...this.byPath.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  }

  get size(): number {
    return this.byPath.size;
  }

  private put(entry: TreeEntry): void {
    this.ensureParents(entry.path, entry.origin);
    const existing = this.byPath.get(entry.path);
    if (existing?.kind === 'directory' && entry.kind === 'directory') return;
    if (existing?.kind === 'directory' && [...this.byPath.keys()].some((p) => p.startsWith(`${entry.path}/`))) {
      throw new Error(`image path ${entry.path} is a directory with contents and cannot become a ${entry.kind}`);
    }
    this.byPath.set(entry.path, entry);
  }

  private ensureParents(path: string, origin: Origin): void {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join('/');
      const existing = this.byPath.get(parent);
      if (existing === undefined) {
        this.byPath.set(parent, { kind: 'directory', path: parent, mode: 0o755, origin });
      } else if (existing.kind !== 'directory') {
        throw new Error(`image path ${path} needs ${parent} to be a directory but it is a ${existing.kind}`);
      }
    }
  }
}
