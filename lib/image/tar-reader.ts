import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { FileTree, type Origin } from './file-tree';

/** Decides which archive paths go into the image (and where); `undefined` leaves a path out. */
export type PathMapper = (path: string) => string | undefined;

/**
 * Reads a tarball into `tree` through `map`. Hard links become copies of their target, since the
 * layer is rebuilt from scratch; devices and fifos are refused (no package we use ships them).
 */
export async function readTarInto(tar: Buffer, tree: FileTree, origin: Origin, map: PathMapper): Promise<void> {
  const files = new Map<string, { content: Buffer; mode: number }>();
  const reader = extract();
  const finished = new Promise<void>((resolve, reject) => {
    reader.on('finish', resolve);
    reader.on('error', reject);
  });
  reader.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => {
      chunks.push(chunk as Buffer);
    });
    stream.on('error', next);
    stream.on('end', () => {
      try {
        const source = normaliseArchivePath(header.name);
        if (source !== undefined) {
          const content = Buffer.concat(chunks);
          if (header.type === 'file' || header.type === 'contiguous-file') files.set(source, { content, mode: header.mode });
          const target = map(source);
          if (target !== undefined) addEntry(tree, target, header, content, files, origin);
        }
        next();
      } catch (error) {
        next(error as Error);
      }
    });
  });
  Readable.from([tar]).pipe(reader);
  await finished;
}

function addEntry(
  tree: FileTree,
  target: string,
  header: { name: string; type: string; mode: number; linkname: string },
  content: Buffer,
  files: ReadonlyMap<string, { content: Buffer; mode: number }>,
  origin: Origin,
): void {
  switch (header.type) {
    case 'file':
    case 'contiguous-file':
      tree.addFile(target, content, header.mode, origin);
      return;
    case 'directory':
      tree.addDirectory(target, header.mode, origin);
      return;
    case 'symlink':
      tree.addSymlink(target, header.linkname, origin);
      return;
    case 'link': {
      const linked = files.get(normaliseArchivePath(header.linkname) ?? '');
      if (linked === undefined) throw new Error(`hard link ${header.name} points at ${header.linkname}, which was not seen before it`);
      tree.addFile(target, linked.content, linked.mode, origin);
      return;
    }
    default:
      throw new Error(`archive entry ${header.name} is a ${header.type}, which an image layer built here does not carry`);
  }
}

function normaliseArchivePath(name: string): string | undefined {
  const path = name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  return path === '' || path === '.' ? undefined : path;
}
