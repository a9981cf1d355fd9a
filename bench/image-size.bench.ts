// Image sizes (issue 6): builds every component image whose entrypoint exists (layers come from the
// cache when warm) and writes the image-size section of BENCHMARKS.md.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImages } from '../lib/image/build-all';
import { defaultCacheDir } from '../lib/image/cache';
import { COMPONENT_IMAGES } from '../lib/image/components';
import type { ImageContents } from '../lib/image/contents';
import { NODE } from '../lib/image/node-runtime';
import { machine, writeBenchmarkSection } from './report';

const MB = (bytes: number): string => (bytes / 1e6).toFixed(bytes < 1e6 ? 2 : 1);

/** Orders of magnitude of the upstream images (compressed, linux/amd64), as the issue states them. */
const UPSTREAM: Readonly<Record<string, string>> = {
  'flannel-agent': 'flannel/flannel: tens of MB',
  'cni-plugin': 'flannel-cni-plugin: a few MB; calico/cni: ~hundred MB',
  'calico-agent': 'calico/node: hundreds of MB',
  controllers: 'calico/kube-controllers + calico/typha: tens of MB each',
};

async function main(): Promise<void> {
  const repoRoot = join(__dirname, '..');
  const outDir = mkdtempSync(join(tmpdir(), `cnikit-image-size-${process.pid}-`));
  try {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string; license: string };
    const result = await buildImages(COMPONENT_IMAGES, {
      repoRoot, outDir, cacheDir: defaultCacheDir(), version: pkg.version, licenses: pkg.license, epochSeconds: 0,
      digestsFile: join(outDir, 'digests.json'), log: (line) => console.log(line), exists: (entry) => existsSync(join(repoRoot, entry)),
    });
    const rows: string[] = [];
    const distinct = new Map<string, number>();
    let nodeBytes = 0;
    for (const image of result.built) {
      const contents = JSON.parse(readFileSync(image.contentsFile, 'utf8')) as ImageContents;
      const [runtime, ...rest] = contents.layers;
      const app = rest[rest.length - 1];
      const tools = rest.length > 1 ? rest[0] : undefined;
      contents.layers.forEach((l) => distinct.set(l.digest, l.compressedSize));
      nodeBytes = runtime?.files.find((f) => f.path === '/usr/bin/node')?.size ?? nodeBytes;
      rows.push(`| ${image.name} | ${MB(runtime?.compressedSize ?? 0)} | ${tools === undefined ? '—' : MB(tools.compressedSize)} | ${MB(app?.compressedSize ?? 0)} | **${MB(image.compressedSize)}** | ${MB(image.uncompressedSize)} | ${UPSTREAM[image.name] ?? ''} |`);
    }
    const skipped = result.skipped.map((s) => `${s.name} (${s.missing.join(', ')} not written yet)`).join('; ');
    writeBenchmarkSection('image-size', 'Image sizes (`bench/image-size.bench.ts`, `npm run images`)', `
${machine()}

Compressed = bytes a registry stores and a node pulls (gzip -9 layers + manifest + config); unpacked = bytes of the root
filesystem. The runtime layer (glibc, libstdc++, libgcc from Debian; Node.js ${NODE.version} from the npm registry) is
byte-identical in every image, so a node that pulls all images fetches it once: the distinct layers of the images below add
up to **${MB([...distinct.values()].reduce((a, b) => a + b, 0))} MB**. Node's own binary is ${MB(nodeBytes)} MB of the unpacked
runtime (V8 and full ICU); the system-tools layer is iproute2's \`ip\`/\`bridge\` and \`nft\` with their libraries only.
Upstream figures are orders of magnitude (no registry is reachable here to measure them in the same run).

| image | runtime MB | tools MB | dataplane MB | compressed MB | unpacked MB | upstream (compressed) |
|---|---|---|---|---|---|---|
${rows.join('\n')}
${skipped === '' ? '' : `\nNot built yet: ${skipped}.`}
`);
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
