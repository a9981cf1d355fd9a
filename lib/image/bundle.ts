import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

/** The interpreter line of every bundle: the image's Node. */
export const SHEBANG = '#!/usr/bin/node';

/**
 * Bundled packages that read files of their own at run time, relative to the code that is now in the
 * bundle: etcd3 loads `${__dirname}/../proto/rpc.proto` (and the files it imports). Each directory is
 * shipped at the same place relative to the bundle's directory.
 */
export const RUNTIME_ASSETS: Readonly<Record<string, readonly string[]>> = {
  etcd3: ['proto'],
};

export interface Bundle {
  readonly code: Buffer;
  /** npm packages whose code is inside the bundle, with their versions, for the contents listing. */
  readonly packages: readonly { readonly name: string; readonly version: string }[];
  /** Files to ship beside the bundle (paths relative to the bundle directory's parent), see RUNTIME_ASSETS. */
  readonly assets: readonly { readonly path: string; readonly content: Buffer; readonly package: string }[];
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
  // Executable by itself (through a symlink on PATH too); esbuild keeps a shebang the entrypoint has.
  const code = output.text.startsWith('#!') ? output.text.replace(/^#![^\n]*/, SHEBANG) : `${SHEBANG}\n${output.text}`;
  const packages = bundledPackages(repoRoot, Object.keys(result.metafile.inputs));
  const assets = packages.flatMap(({ name, dir }) => (RUNTIME_ASSETS[name] ?? []).flatMap((assetDir) => {
    const from = join(repoRoot, dir, assetDir);
    return readdirSync(from).sort().map((file) => ({ path: `${assetDir}/${file}`, content: readFileSync(join(from, file)), package: name }));
  }));
  return { code: Buffer.from(code), packages: packages.map(({ name, version }) => ({ name, version })), assets };
}

function bundledPackages(repoRoot: string, inputs: readonly string[]): { name: string; version: string; dir: string }[] {
  const found = new Map<string, { version: string; dir: string }>();
  for (const input of inputs) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match?.[1] === undefined || found.has(match[1])) continue;
    const dir = input.slice(0, input.lastIndexOf(`node_modules/${match[1]}/`)) + `node_modules/${match[1]}`;
    const manifest = JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as { version?: string };
    found.set(match[1], { version: manifest.version ?? 'unknown', dir });
  }
  return [...found].sort(([a], [b]) => a.localeCompare(b)).map(([name, { version, dir }]) => ({ name, version, dir }));
}
