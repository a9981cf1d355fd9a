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
import { CALICO_AGENT, CALICO_CNI } from '../../lib/model/calico/agent';
import { FLANNEL_AGENT, FLANNEL_CNI } from '../../lib/model/flannel/agent';
import { KitImage } from '../../lib/model/images';
import { POLICY_AGENT, PolicyAgentMode, policyAgentArgs } from '../../lib/model/policy-agent';
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
        if (spec.name === KitImage.CNI_PLUGIN) {
          expectInitContainerInstall(rootfs);
          expectCalicoInstall(rootfs);
        }
        if (spec.name === KitImage.CALICO_AGENT) {
          expectCniServerStarts(rootfs);
          expectPolicyAgentLoads(rootfs, 'interface');
        }
        if (spec.name === KitImage.FLANNEL_AGENT) {
          expectEtcdClientLoads(rootfs);
          expectCniServerStarts(rootfs);
          expectPolicyAgentLoads(rootfs, 'address');
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
  // every ADD/DEL it serves takes a FileLock, which runs util-linux flock
  const flock = runInChroot(rootfs, ['flock', '--version']);
  expect({ status: flock.status, stdout: flock.stdout }).toEqual({ status: 0, stdout: expect.stringMatching(/util-linux/) });
}

/**
 * The policy agent shipped in the agent image loads and accepts the DaemonSet's exact flags
 * (lib/constructs/common/policy-agent.ts); outside a pod it stops at the missing API server, by name.
 */
function expectPolicyAgentLoads(rootfs: string, mode: PolicyAgentMode): void {
  const run = spawnSync('timeout', ['20', 'unshare', '--net', 'chroot', rootfs, POLICY_AGENT.executable, ...policyAgentArgs(mode)], {
    env: { PATH: DEFAULT_PATH }, encoding: 'utf8',
  });
  expect({ status: run.status, stderr: run.stderr.trim() }).toEqual({
    status: 1, stderr: 'policy-agent: kubernetes: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set; run in a pod or pass a kubeconfig',
  });
}

/**
 * The init container's exact arguments (lib/constructs/common/cni-installer.ts) against the real image,
 * with the host directories as empty directories in the unpacked root; then the installed plugin answers
 * VERSION when run from outside the image, as the container runtime on the host runs it.
 */
function expectInitContainerInstall(rootfs: string): void {
  const args = cniInstallerArgs({ plugins: [{ name: FLANNEL_CNI.pluginType, bundle: FLANNEL_CNI.bundle }], confSourcePath: FLANNEL_AGENT.cniConfSourcePath, confFileName: FLANNEL_CNI.confFileName });
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

  // Thick-plugin mode, as FlannelNetwork installs it by default: the shim, whose fallback (no server, no
  // token here) runs the shipped plugin. --host-bin-dir only because this "host" is a test directory.
  const shimArgs = cniInstallerArgs({
    plugins: [{ name: FLANNEL_CNI.pluginType, bundle: FLANNEL_CNI.bundle }], confSourcePath: FLANNEL_AGENT.cniConfSourcePath,
    confFileName: FLANNEL_CNI.confFileName, shim: { port: 7331, tokenFile: '/nonexistent/cni-server.token' },
  });
  const hostBinDir = join(rootfs, CNI_HOST_PATHS.binDirInContainer);
  const shimInstall = runInChroot(rootfs, [...COMPONENT_IMAGES.find((c) => c.name === KitImage.CNI_PLUGIN)?.entrypoint ?? [], ...shimArgs, `--host-bin-dir=${hostBinDir}`]);
  expect({ status: shimInstall.status, stderr: shimInstall.stderr }).toEqual({ status: 0, stderr: '' });
  expect(readFileSync(join(hostBinDir, FLANNEL_CNI.pluginType), 'utf8')).toMatch(/^#!\/bin\/bash\n[\s\S]*\/dev\/tcp\/127\.0\.0\.1\/7331/);
  const status = spawnSync(join(hostBinDir, FLANNEL_CNI.pluginType), [], {
    env: { CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' }, input: '{"cniVersion":"1.1.0","name":"n","type":"cnikit-flannel","subnetFile":"/nonexistent/subnet.env"}', encoding: 'utf8',
  });
  expect(JSON.parse(status.stdout)).toMatchObject({ code: 50 });
}

/**
 * The Calico-mode plugin as the Calico stack's init container installs it (both names, one bundle, with
 * etcd3's .proto files in the payload): VERSION under both names, and in etcd mode the installed plugin
 * loads its etcd client and gets as far as connecting (in an empty network namespace). The flannel bundle
 * beside it carries no etcd client.
 */
function expectCalicoInstall(rootfs: string): void {
  const plugins = [CALICO_CNI.pluginType, CALICO_CNI.ipamType].map((name) => ({ name, bundle: CALICO_CNI.bundle }));
  const args = cniInstallerArgs({ plugins, confSourcePath: CALICO_AGENT.cniConfSourcePath, confFileName: CALICO_CNI.confFileName });
  mkdirSync(join(rootfs, CALICO_AGENT.cniConfSourcePath, '..'), { recursive: true });
  writeFileSync(join(rootfs, CALICO_AGENT.cniConfSourcePath), '{"cniVersion":"1.0.0","name":"k8s-pod-network","plugins":[{"type":"cnikit-calico"}]}\n');
  const install = runInChroot(rootfs, [...COMPONENT_IMAGES.find((c) => c.name === KitImage.CNI_PLUGIN)?.entrypoint ?? [], ...args]);
  expect({ status: install.status, stderr: install.stderr }).toEqual({ status: 0, stderr: '' });
  const binDir = join(rootfs, CNI_HOST_PATHS.binDirInContainer);
  for (const name of [CALICO_CNI.pluginType, CALICO_CNI.ipamType]) {
    const version = spawnSync(join(binDir, name), [], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}', encoding: 'utf8' });
    expect({ status: version.status, stderr: version.stderr }).toEqual({ status: 0, stderr: '' });
  }
  const conf = JSON.stringify({
    cniVersion: '1.1.0', name: 'k8s-pod-network', type: CALICO_CNI.pluginType, nodename: 'image-test',
    datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:1', ipam: { type: CALICO_CNI.ipamType },
  });
  const status = spawnSync('timeout', ['20', 'unshare', '--net', join(binDir, CALICO_CNI.pluginType)], {
    env: { CNI_COMMAND: 'STATUS', CNI_PATH: '/opt/cni/bin' }, input: conf, encoding: 'utf8',
  });
  expect(`${status.stdout}${status.stderr}`).not.toMatch(/ENOENT|\.proto/);
  expect(JSON.parse(status.stdout)).toMatchObject({ code: 50, msg: expect.stringMatching(/UNAVAILABLE|ECONNREFUSED|ENETUNREACH|unreachable/) as unknown });
  const flannel = readFileSync(join(rootfs, 'opt/cnikit/bin', FLANNEL_CNI.bundle), 'utf8');
  expect(flannel).not.toMatch(/etcd3|@grpc/);
  expect(flannel.length).toBeLessThan(200 * 1024);
}
