import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

export interface Bundle {
  readonly code: Buffer;
  /** npm packages whose code is inside the bundle, with their versions, for the contents listing. */
  readonly packages: readonly { readonly name: string; readonly version: string }[];
}

/**
 * One executable as a single minified CommonJS file for Node 20: everything it imports is inlined, so
 * the image needs no node_modules. esbuild's output depends only on the sources and its own version.
 */
export async function bundleExecutable(repoRoot: string, entry: string): Promise<Bundle> {
  const result = await build({
    absWorkingDir: repoRoot,
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    sourcemap: false,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error(`esbuild produced no output for ${entry}`);
  return { code: Buffer.from(output.contents), packages: bundledPackages(repoRoot, Object.keys(result.metafile.inputs)) };
}

function bundledPackages(repoRoot: string, inputs: readonly string[]): { name: string; version: string }[] {
  const found = new Map<string, string>();
  for (const input of inputs) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match?.[1] === undefined || found.has(match[1])) continue;
    const dir = input.slice(0, input.lastIndexOf(`node_modules/${match[1]}/`)) + `node_modules/${match[1]}`;
    const manifest = JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as { version?: string };
    found.set(match[1], manifest.version ?? 'unknown');
  }
  return [...found].sort(([a], [b]) => a.localeCompare(b)).map(([name, version]) => ({ name, version }));
}
