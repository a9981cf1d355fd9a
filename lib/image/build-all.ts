import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { forgetAptAnswers } from './base-layers';
import { buildImage, type BuildOptions, type BuiltImage } from './build';
import { AptListsError, updateAptLists } from './debian';
import { availableImage, type ImageSpec } from './image-spec';
import type { ImageIndex } from './oci';

export interface BuildAllOptions extends BuildOptions {
  /** Where the `{ name: digest }` file goes (lib/model/images.ts IMAGE_DIGESTS_FILE). */
  readonly digestsFile: string;
  readonly log: (line: string) => void;
  /** Whether an entrypoint (relative to the repository root) exists yet. */
  readonly exists: (entry: string) => boolean;
}

export interface BuildAllResult {
  readonly built: readonly BuiltImage[];
  readonly skipped: readonly { readonly name: string; readonly missing: readonly string[] }[];
  readonly digests: Readonly<Record<string, string>>;
}

/**
 * Builds each image whose required entrypoints exist (leaving out optional executables not written yet)
 * and skips, saying so, the others; then records the digest of every layout under `outDir`.
 */
export async function buildImages(specs: readonly ImageSpec[], options: BuildAllOptions): Promise<BuildAllResult> {
  const built: BuiltImage[] = [];
  const skipped: { name: string; missing: string[] }[] = [];
  for (const spec of specs) {
    const available = availableImage(spec, options.exists);
    if (available.spec === undefined) {
      skipped.push({ name: spec.name, missing: [...available.missingRequired, ...available.missingOptional] });
      options.log(`skip  ${spec.name}: ${available.missingRequired.join(', ')} not written yet`);
      continue;
    }
    const buildable = available.spec;
    if (available.missingOptional.length > 0) options.log(`note  ${spec.name} is built without ${available.missingOptional.join(', ')} (not written yet)`);
    const image = await buildImage(buildable, options).catch(async (error: unknown) => {
      if (!(error instanceof AptListsError) || process.getuid?.() !== 0) throw error;
      options.log(`apt's package lists are missing or stale (${error.message}); running apt-get update`);
      await updateAptLists();
      forgetAptAnswers();
      return buildImage(buildable, options);
    });
    built.push(image);
    options.log(`built ${image.name}:${image.tag} ${image.manifestDigest} ${(image.compressedSize / 1e6).toFixed(1)} MB compressed, ${(image.uncompressedSize / 1e6).toFixed(1)} MB unpacked -> ${image.layoutDir}`);
  }
  const digests = await layoutDigests(options.outDir, specs.map((s) => s.name));
  await writeFile(options.digestsFile, `${JSON.stringify(digests, null, 2)}\n`);
  options.log(`wrote ${options.digestsFile} (${Object.keys(digests).length} images)`);
  return { built, skipped, digests };
}

/** The manifest digest in each named layout present under `outDir` (built now or by an earlier run). */
export async function layoutDigests(outDir: string, names: readonly string[]): Promise<Record<string, string>> {
  const digests: Record<string, string> = {};
  const present = existsSync(outDir) ? new Set(await readdir(outDir)) : new Set<string>();
  for (const name of [...names].sort()) {
    if (!present.has(name) || !existsSync(join(outDir, name, 'index.json'))) continue;
    const index = JSON.parse(await readFile(join(outDir, name, 'index.json'), 'utf8')) as ImageIndex;
    const manifest = index.manifests[0];
    if (manifest !== undefined) digests[name] = manifest.digest;
  }
  return digests;
}
