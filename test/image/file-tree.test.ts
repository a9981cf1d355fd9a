import { FileTree, type Origin } from '../../lib/image/file-tree';
import { parseDependencyGroups } from '../../lib/image/debian';
import { buildLayer } from '../../lib/image/layer';
import { extract } from 'tar-stream';
import { gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';

const origin: Origin = { kind: 'builder', name: 'test', version: '1' };

async function tarHeaders(blob: Buffer): Promise<{ name: string; mtime: number; uid: number; gid: number; uname: string }[]> {
  const headers: { name: string; mtime: number; uid: number; gid: number; uname: string }[] = [];
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    headers.push({ name: header.name, mtime: header.mtime.getTime(), uid: header.uid, gid: header.gid, uname: header.uname });
    stream.on('end', () => next());
    stream.resume();
  });
  const done = new Promise<void>((resolve, reject) => {
    reader.on('finish', () => resolve());
    reader.on('error', reject);
  });
  Readable.from([gunzipSync(blob)]).pipe(reader);
  await done;
  return headers;
}

describe('FileTree', () => {
  it('creates parents, normalises paths and lists entries in byte order whatever the insertion order', () => {
    const tree = new FileTree();
    tree.addFile('/usr/bin/node', Buffer.from('x'), 0o100755, origin);
    tree.addSymlink('./lib64/ld.so', '../lib/ld.so', origin);
    tree.addFile('etc/passwd', Buffer.from('root'), 0o644, origin);
    expect(tree.entries().map((e) => e.path)).toEqual(['etc', 'etc/passwd', 'lib64', 'lib64/ld.so', 'usr', 'usr/bin', 'usr/bin/node']);
    expect(tree.get('usr/bin/node')).toMatchObject({ kind: 'file', mode: 0o755 });
  });

  it('refuses paths that leave the root and a file where a directory is needed', () => {
    const tree = new FileTree();
    expect(() => tree.addFile('../etc/passwd', Buffer.from(''), 0o644, origin)).toThrow(/not a path below the root/);
    tree.addFile('opt', Buffer.from(''), 0o644, origin);
    expect(() => tree.addFile('opt/cnikit/a.js', Buffer.from(''), 0o644, origin)).toThrow(/needs opt to be a directory but it is a file/);
  });
});

describe('buildLayer', () => {
  it('gives the same bytes for the same files added in any order, with every owner 0 and every mtime the epoch', async () => {
    const a = new FileTree();
    a.addFile('b/two', Buffer.from('2'), 0o644, origin);
    a.addFile('a/one', Buffer.from('1'), 0o644, origin);
    const b = new FileTree();
    b.addFile('a/one', Buffer.from('1'), 0o644, origin);
    b.addFile('b/two', Buffer.from('2'), 0o644, origin);
    const [layerA, layerB] = [await buildLayer(a, 1700000000), await buildLayer(b, 1700000000)];
    expect(layerA.digest).toBe(layerB.digest);
    expect(layerA.digest).not.toBe((await buildLayer(a, 0)).digest);
    const headers = await tarHeaders(layerA.blob);
    expect(headers.map((h) => h.name)).toEqual(['a/', 'a/one', 'b/', 'b/two']);
    expect(new Set(headers.map((h) => `${h.mtime}:${h.uid}:${h.gid}:${h.uname}`))).toEqual(new Set(['1700000000000:0:0:']));
  });
});

describe('parseDependencyGroups', () => {
  it('reads alternatives and the providers of virtual packages from apt-cache depends output', () => {
    const output = [
      'iproute2',
      ' |Depends: debconf',
      '  Depends: <debconf-2.0>',
      '    cdebconf',
      '    debconf',
      '  Depends: libbpf1',
      '  PreDepends: libc6',
      'libbpf1',
      '  Depends: libelf1',
      '',
    ].join('\n');
    expect(parseDependencyGroups(output)).toEqual([['debconf', 'cdebconf', 'debconf'], ['libbpf1'], ['libc6'], ['libelf1']]);
  });
});
