// Every component image whose executables exist: built twice to the same digest, read by skopeo,
// unpacked by umoci, and its own smoke command (`--version`, CNI `VERSION`) run in a chroot of it.
// A component whose entrypoint its engineer has not written yet is skipped, naming the missing file.
// (In a tree others are editing, a source change between the two builds shows here as a digest change.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildImage } from '../../lib/image/build';
import { COMPONENT_IMAGES } from '../../lib/image/components';
import { availableImage, DEFAULT_PATH } from '../../lib/image/image-spec';
import { CNI_HOST_PATHS, cniInstallerArgs } from '../../lib/constructs/common/cni-installer';
import { FLANNEL_AGENT, FLANNEL_CNI } from '../../lib/model/flannel/agent';
import { KitImage } from '../../lib/model/images';
import { buildOptions, REPO_ROOT, runInChroot, scratchDir, skopeoConfig, skopeoInspect, umociUnpack } from './support';

jest.setTimeout(600_000);

describe('component images', () => {
  it('cover every image the constructs reference', () => {
    expect(COMPONENT_IMAGES.map((s) => s.name).sort()).toEqual(Object.values(KitImage).sort());
  });

  for (const component of COMPONENT_IMAGES) {
    const available = availableImage(component, (entry) => existsSync(join(REPO_ROOT, entry)));
    const spec = available.spec ?? component;
    const missing = available.missingRequired;
    const smoke = [...Object.entries(spec.smokeTest.env ?? {}).map(([k, v]) => `${k}=${v}`), ...spec.smokeTest.argv].join(' ');
    const title = `${spec.name}: builds reproducibly, skopeo and umoci read it, "${smoke}" runs in a chroot`;
    if (missing.length > 0) {
      it.skip(`${title} (skipped: ${missing.join(', ')} not written yet)`, () => undefined);
      continue;
    }
    it(title, async () => {
      const scratch = scratchDir(spec.name);
      try {
        const first = await buildImage(spec, buildOptions(join(scratch.dir, 'one')));
        const second = await buildImage(spec, buildOptions(join(scratch.dir, 'two')));
        expect(second.manifestDigest).toBe(first.manifestDigest);
        expect(skopeoInspect(first.layoutDir, first.tag).Digest).toBe(first.manifestDigest);
        expect(skopeoConfig(first.layoutDir, first.tag).config).toMatchObject({ User: spec.user, Entrypoint: spec.entrypoint });
        const rootfs = umociUnpack(first.layoutDir, first.tag, join(scratch.dir, 'bundle'));
        // As the image's user: a non-root image must work without root.
        const smoke = runInChroot(rootfs, spec.smokeTest.argv, spec.smokeTest.env, spec.smokeTest.stdin, spec.user);
        expect({ status: smoke.status, stderr: smoke.stderr }).toEqual({ status: 0, stderr: '' });
        expect(smoke.stdout.trim()).not.toBe('');
        if (spec.name === KitImage.CNI_PLUGIN) expectInitContainerInstall(rootfs);
        if (spec.name === KitImage.FLANNEL_AGENT) {
          expectEtcdClientLoads(rootfs);
          expectCniServerStarts(rootfs);
        }
      } finally {
        scratch.cleanup();
      }
    });
  }
});

/**
 * The agent in etcd mode gets as far as connecting, so the etcd client's run-time files (its .proto
 * definitions, loaded from beside the bundle) are in the image. It runs in a new, empty network
 * namespace (`unshare --net`): nothing it tries can touch the machine's network.
 */
function expectEtcdClientLoads(rootfs: string): void {
  const run = spawnSync('timeout', ['20', 'unshare', '--net', 'chroot', rootfs, FLANNEL_AGENT.executable, '--etcd-endpoints=http://127.0.0.1:1', '--node-name=image-test', '--iface=lo'], {
    env: { PATH: DEFAULT_PATH }, encoding: 'utf8',
  });
  expect(run.stderr).not.toMatch(/ENOENT/);
  expect(run.stderr).toMatch(/UNAVAILABLE|ECONNREFUSED|ENETUNREACH/);
}

/** The resident CNI server shipped in the agent image starts (in an empty network namespace) and writes its token. */
function expectCniServerStarts(rootfs: string): void {
  spawnSync('timeout', ['5', 'unshare', '--net', 'sh', '-c', `ip link set lo up && exec chroot ${rootfs} cnikit-cni-server --port=7331 --token-file=/tmp/cni-server.token`], {
    env: { PATH: DEFAULT_PATH }, encoding: 'utf8',
  });
  expect(readFileSync(join(rootfs, 'tmp/cni-server.token'), 'utf8').trim()).toMatch(/^\S{16,}$/);
}

/**
 * The init container's exact arguments (lib/constructs/common/cni-installer.ts) against the real image,
 * with the host directories as empty directories in the unpacked root; then the installed plugin answers
 * VERSION when run from outside the image, as the container runtime on the host runs it.
 */
function expectInitContainerInstall(rootfs: string): void {
  const args = cniInstallerArgs({ plugins: [FLANNEL_CNI.pluginType], confSourcePath: FLANNEL_AGENT.cniConfSourcePath, confFileName: FLANNEL_CNI.confFileName });
  mkdirSync(join(rootfs, CNI_HOST_PATHS.binDirInContainer), { recursive: true });
  mkdirSync(join(rootfs, CNI_HOST_PATHS.confDirInContainer), { recursive: true });
  mkdirSync(join(rootfs, FLANNEL_AGENT.cniConfSourcePath, '..'), { recursive: true });
  writeFileSync(join(rootfs, FLANNEL_AGENT.cniConfSourcePath), '{"cniVersion":"1.0.0","name":"cbr0","plugins":[{"type":"cnikit-flannel"}]}\n');
  const install = runInChroot(rootfs, [...COMPONENT_IMAGES.find((c) => c.name === KitImage.CNI_PLUGIN)?.entrypoint ?? [], ...args]);
  expect({ status: install.status, stderr: install.stderr }).toEqual({ status: 0, stderr: '' });
  expect(readFileSync(join(rootfs, CNI_HOST_PATHS.confDirInContainer, FLANNEL_CNI.confFileName), 'utf8')).toContain('cnikit-flannel');
  const plugin = spawnSync(join(rootfs, CNI_HOST_PATHS.binDirInContainer, FLANNEL_CNI.pluginType), [], {
    env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}', encoding: 'utf8',
  });
  expect({ status: plugin.status, stderr: plugin.stderr }).toEqual({ status: 0, stderr: '' });
  expect(JSON.parse(plugin.stdout)).toMatchObject({ cniVersion: '1.0.0', supportedVersions: expect.arrayContaining(['1.0.0']) as unknown });
}
