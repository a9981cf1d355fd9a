// The two CNI plugin bundles stay apart: the flannel plugin runs once per pod, so it must not carry (and
// load) the Calico mode's etcd3/gRPC client; the Calico-mode bundle does.
import * as path from 'node:path';
import { buildSync } from 'esbuild';

const root = path.resolve(__dirname, '../..');

function bundle(entry: string): { size: number; packages: string[] } {
  const result = buildSync({
    absWorkingDir: root, entryPoints: [entry], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    minify: true, write: false, metafile: true, logLevel: 'silent',
  });
  const packages = Object.keys(result.metafile.inputs)
    .map((input) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1])
    .filter((name): name is string => name !== undefined);
  return { size: result.outputFiles[0]?.contents.length ?? 0, packages: [...new Set(packages)].sort() };
}

test('the flannel plugin bundle carries no etcd or gRPC client', () => {
  const flannel = bundle('apps/cni-plugin.ts');
  expect(flannel.packages.filter((p) => /etcd|grpc|protobuf/.test(p))).toEqual([]);
  expect(flannel.size).toBeLessThan(150 * 1024);
});

test('the Calico-mode plugin bundle carries the etcd client', () => {
  expect(bundle('apps/cni-calico.ts').packages).toEqual(expect.arrayContaining(['etcd3', '@grpc/grpc-js']));
});
