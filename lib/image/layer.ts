import { gzipSync } from 'node:zlib';
import { pack as tarPack, type Header } from 'tar-stream';
import { sha256Digest } from './digest';
import type { FileTree, TreeEntry } from './file-tree';

/** One image layer: the uncompressed tar's digest (diff ID) and the gzip blob that is stored and pushed. */
export interface Layer {
  readonly diffId: string;
  readonly digest: string;
  readonly size: number;
  readonly blob: Buffer;
}

/**
 * gzip level 9 with Node's bundled zlib; the header carries no name and mtime 0, so the same tarball gives
 * the same bytes with the same Node/zlib build.
 */
export function gzipLayer(tar: Buffer): Layer {
  const blob = gzipSync(tar, { level: 9, memLevel: 9 });
  return { diffId: sha256Digest(tar), digest: sha256Digest(blob), size: blob.length, blob };
}

/**
 * A reproducible tarball of the tree: entries sorted, every mtime `epoch`, owner 0:0 with no names,
 * nothing taken from the host file system.
 */
export async function tarTree(tree: FileTree, epochSeconds: number): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => {
    chunks.push(chunk as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  const mtime = new Date(epochSeconds * 1000);
  for (const entry of tree.entries()) {
    const { header, content } = tarHeader(entry, mtime);
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null): void => (error ? reject(error) : resolve());
      if (content === undefined) pack.entry(header, callback);
      else pack.entry(header, content, callback);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

function tarHeader(entry: TreeEntry, mtime: Date): { header: Partial<Header> & Pick<Header, 'name'>; content?: Buffer } {
  const common = { uid: 0, gid: 0, uname: '', gname: '', mtime };
  switch (entry.kind) {
    case 'file':
      return { header: { ...common, name: entry.path, type: 'file', mode: entry.mode, size: entry.content.length }, content: entry.content };
    case 'directory':
      return { header: { ...common, name: `${entry.path}/`, type: 'directory', mode: entry.mode } };
    case 'symlink':
      return { header: { ...common, name: entry.path, type: 'symlink', mode: 0o777, linkname: entry.target } };
  }
}

/** Tar then gzip: the layer of a file tree. */
export async function buildLayer(tree: FileTree, epochSeconds: number): Promise<Layer> {
  return gzipLayer(await tarTree(tree, epochSeconds));
}
