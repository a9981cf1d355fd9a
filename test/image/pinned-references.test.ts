// `npm run images && npm run synth`, in temporary directories: every image that was built is referenced
// by digest (in the environment's registry) in the synthesized manifests, every other one by its tag.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ENVIRONMENTS } from '../../apps/environments';
import { synthEnvironments } from '../../apps/synth';
import { buildImages } from '../../lib/image/build-all';
import { COMPONENT_IMAGES } from '../../lib/image/components';
import { DEFAULT_IMAGE_REGISTRY, KIT_VERSION, KitImage, parseImageDigests } from '../../lib/model/images';
import { buildOptions, REPO_ROOT, scratchDir } from './support';

jest.setTimeout(600_000);

function imagesIn(value: unknown, found: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => imagesIn(v, found));
  else if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'image' && typeof v === 'string') found.push(v);
      else imagesIn(v, found);
    }
  }
  return found;
}

describe('pinned image references', () => {
  const scratch = scratchDir('pinned');
  afterAll(() => scratch.cleanup());

  it('synthesized manifests reference each built image as <registry>/<name>@<digest>, the others by tag', async () => {
    const outDir = join(scratch.dir, 'images');
    const digestsFile = join(outDir, 'digests.json');
    const result = await buildImages(COMPONENT_IMAGES, {
      ...buildOptions(outDir), digestsFile, log: () => undefined, exists: (entry) => existsSync(join(REPO_ROOT, entry)),
    });
    const digests = parseImageDigests(JSON.parse(readFileSync(digestsFile, 'utf8')));
    expect(digests).toEqual(Object.fromEntries(result.built.map((b) => [b.name, b.manifestDigest])));
    expect(digests[KitImage.CNI_PLUGIN]).toMatch(/^sha256:[0-9a-f]{64}$/);

    const dist = join(scratch.dir, 'dist');
    synthEnvironments(ENVIRONMENTS, dist, digests);
    const kitImages = Object.values(KitImage) as string[];
    for (const environment of ENVIRONMENTS) {
      const registry = environment.imageRegistry ?? DEFAULT_IMAGE_REGISTRY;
      const dir = join(dist, environment.name);
      const references = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
        .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).flatMap((d) => imagesIn(d.toJS())));
      const kitReferences = references.filter((r) => r.startsWith(`${registry}/`));
      expect(kitReferences.length).toBeGreaterThan(0);
      for (const reference of kitReferences) {
        const [, name, pin] = /^[^@]*\/([^/@:]+)([@:].*)$/.exec(reference) ?? [];
        expect(kitImages).toContain(name);
        const digest = digests[name ?? ''];
        if (digest === undefined) expect(pin).toBe(`:${KIT_VERSION}`);
        else expect(pin).toBe(`@${digest}`);
      }
    }
    const prod = readdirSync(join(dist, 'prod')).map((f) => readFileSync(join(dist, 'prod', f), 'utf8')).join('\n');
    expect(prod).toContain(`registry.example.com/cnikit/cni-plugin@${digests[KitImage.CNI_PLUGIN] ?? ''}`);
  });
});
