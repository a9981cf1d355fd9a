// `npm run images`: builds the OCI layout of every component whose entrypoints exist, under dist/images/,
// and writes dist/images/digests.json (the file lib/model/images.ts reads to pin references by digest).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImages } from '../lib/image/build-all';
import { defaultCacheDir } from '../lib/image/cache';
import { COMPONENT_IMAGES } from '../lib/image/components';
import { ValidationError } from '../lib/model/errors';
import { IMAGE_DIGESTS_FILE } from '../lib/model/images';

function gitRevision(repoRoot: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { out: { type: 'string' } } });
  const repoRoot = resolve(__dirname, '..');
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string; license: string; repository?: string | { url?: string } };
  const source = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  const digestsFile = join(repoRoot, IMAGE_DIGESTS_FILE);
  const outDir = values.out === undefined ? join(digestsFile, '..') : resolve(values.out);
  const unknown = positionals.filter((name) => !COMPONENT_IMAGES.some((spec) => spec.name === name));
  if (unknown.length > 0) throw new Error(`unknown image ${unknown.join(', ')}: expected ${COMPONENT_IMAGES.map((s) => s.name).join(', ')}`);
  const specs = COMPONENT_IMAGES.filter((spec) => positionals.length === 0 || positionals.includes(spec.name));
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && !/^[0-9]{1,12}$/.test(epoch)) throw new ValidationError('SOURCE_DATE_EPOCH', epoch, 'seconds since 1970 as a non-negative integer, e.g. 1700000000');
  await buildImages(specs, {
    repoRoot,
    outDir,
    cacheDir: defaultCacheDir(),
    version: pkg.version,
    revision: gitRevision(repoRoot),
    source,
    licenses: pkg.license,
    epochSeconds: epoch === undefined ? 0 : Number.parseInt(epoch, 10),
    digestsFile: values.out === undefined ? digestsFile : join(outDir, 'digests.json'),
    log: (line) => process.stdout.write(`${line}\n`),
    exists: (entry) => existsSync(join(repoRoot, entry)),
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`images: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
