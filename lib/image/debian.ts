import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { run } from './exec';
import type { FileTree } from './file-tree';
import { readTarInto, type PathMapper } from './tar-reader';

/**
 * apt's package lists are missing or older than the archive (a candidate without a download, a file the
 * mirror no longer has): `apt-get update` fixes it.
 */
export class AptListsError extends Error {}

/** A Debian binary package pinned to the version and checksum apt offered when the image was built. */
export interface DebianPackage {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
  readonly filename: string;
}

/**
 * The packages `roots` need, following Depends and Pre-Depends (never Recommends) and stopping at
 * `exclude`: the packages that only matter to a system with dpkg and a shell (debconf, the installers' helpers).
 * For an alternative (`a | b`) the first real package not excluded is taken.
 */
export async function resolveDependencies(roots: readonly string[], exclude: ReadonlySet<string>): Promise<string[]> {
  const seen = new Set<string>();
  let frontier = roots.filter((r) => !exclude.has(r));
  while (frontier.length > 0) {
    frontier.forEach((p) => seen.add(p));
    const args = ['depends', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...frontier];
    const output = (await run('apt-cache', args).catch((error: unknown) => {
      throw new AptListsError(`${error instanceof Error ? error.message : String(error)} (apt's lists may be missing: run apt-get update)`);
    })).toString();
    const next = new Set<string>();
    for (const group of parseDependencyGroups(output)) {
      if (group.some((p) => exclude.has(p))) continue;
      const choice = group[0];
      if (choice !== undefined && !seen.has(choice)) next.add(choice);
    }
    frontier = [...next].sort();
  }
  return [...seen].sort();
}

/**
 * Each Depends/PreDepends group of `apt-cache depends` output as its alternatives, in apt's order; a
 * virtual package stands for the providers apt lists under it.
 */
export function parseDependencyGroups(output: string): string[][] {
  const groups: string[][] = [];
  let current: string[] | undefined;
  let open = false;
  for (const line of output.split('\n')) {
    const dependency = /^ ([ |])(?:Pre)?Depends: (<)?([^>\s]+)>?$/.exec(line);
    if (dependency !== null) {
      const [, bar, virtual, name] = dependency;
      if (!open || current === undefined) {
        current = [];
        groups.push(current);
      }
      if (virtual === undefined && name !== undefined) current.push(name);
      open = bar === '|';
      continue;
    }
    const provider = /^ {4}(\S+)$/.exec(line);
    if (provider?.[1] !== undefined && current !== undefined) {
      current.push(provider[1]);
      continue;
    }
    if (!line.startsWith(' ')) open = false;
  }
  return groups.filter((g) => g.length > 0);
}

/** The candidate versions apt would install, with the checksums of their .deb files (one apt-cache call). */
export async function describePackages(names: readonly string[]): Promise<DebianPackage[]> {
  if (names.length === 0) return [];
  const text = (await run('apt-cache', ['show', '--no-all-versions', ...names])).toString();
  const stanzas = new Map<string, DebianPackage>();
  for (const stanza of text.split(/\n\n+/)) {
    const field = (key: string): string | undefined => new RegExp(`^${key}: (.+)$`, 'm').exec(stanza)?.[1]?.trim();
    const name = field('Package');
    const version = field('Version');
    const sha256 = field('SHA256');
    const filename = field('Filename');
    if (name === undefined || version === undefined || sha256 === undefined || filename === undefined) continue;
    if (!stanzas.has(name)) stanzas.set(name, { name, version, sha256, filename: basename(filename) });
  }
  return names.map((name) => {
    const pkg = stanzas.get(name);
    if (pkg === undefined) throw new AptListsError(`apt-cache show has no downloadable candidate for ${name}: run apt-get update first`);
    return pkg;
  });
}

/** Refreshes apt's package lists (as root, which `npm run images` is on the project's machines). */
export async function updateAptLists(): Promise<void> {
  await run('apt-get', ['update', '-qq']);
}

/** The .deb file in the cache, downloaded with `apt-get download` when missing; its SHA-256 is checked. */
export async function fetchPackage(pkg: DebianPackage, cacheDir: string): Promise<string> {
  const dir = join(cacheDir, 'debs');
  const file = join(dir, pkg.filename);
  if (!existsSync(file)) {
    await mkdir(dir, { recursive: true });
    const staging = join(dir, `download-${process.pid}`);
    await mkdir(staging, { recursive: true });
    await run('apt-get', ['download', '-q', `${pkg.name}=${pkg.version}`], { cwd: staging }).catch((error: unknown) => {
      throw new AptListsError(`${error instanceof Error ? error.message : String(error)} (apt's lists may be out of date: run apt-get update)`);
    });
    // apt-get names the file with the epoch (`1%3a…`) where the archive's Filename has none.
    const [downloaded] = (await readdir(staging)).filter((f) => f.endsWith('.deb'));
    if (downloaded === undefined) throw new Error(`apt-get download ${pkg.name}=${pkg.version} wrote no .deb file`);
    await rename(join(staging, downloaded), file);
    await rm(staging, { recursive: true, force: true });
  }
  const actual = createHash('sha256').update(await readFile(file)).digest('hex');
  if (actual !== pkg.sha256) throw new Error(`${file} has sha256 ${actual}, apt expects ${pkg.sha256}: delete it and build again`);
  return file;
}

/**
 * Paths of a package that a container never reads: documentation other than the copyright file, manual
 * pages, translations, lintian and bug-reporting metadata.
 */
export const dropDocumentation: PathMapper = (path) => {
  if (/^usr\/share\/doc\/[^/]+\/copyright$/.test(path)) return path;
  if (/^usr\/share\/(doc|man|info|locale|lintian|bug|doc-base|bash-completion|zsh)(\/|$)/.test(path)) return undefined;
  return path;
};

/** Unpacks the package's data archive into `tree` (as `dpkg-deb -x` would, without touching the disk). */
export async function unpackPackage(pkg: DebianPackage, debFile: string, tree: FileTree, map: PathMapper = dropDocumentation): Promise<void> {
  const tar = await run('dpkg-deb', ['--fsys-tarfile', debFile]);
  await readTarInto(tar, tree, { kind: 'debian', name: pkg.name, version: pkg.version }, map);
}
