import * as kplus from 'cdk8s-plus-28';
import { hostPathVolume, nodeAgentResources } from './node-agent';

/** The host directories every CNI stack installs into, and where the installer sees them. */
export const CNI_HOST_PATHS = {
  binDir: '/opt/cni/bin',
  confDir: '/etc/cni/net.d',
  /** Mount points of the two host directories inside the installer container. */
  binDirInContainer: '/host/opt/cni/bin',
  confDirInContainer: '/host/etc/cni/net.d',
} as const;

export interface CniPluginInstall {
  readonly name: string;
  /** A bundle's file name in the cni-plugin image (lib/image/components.ts). */
  readonly bundle: string;
}

export interface CniInstallerOptions {
  /** The installer image (`imageReference(KitImage.CNI_PLUGIN, ...)`). */
  readonly image: string;
  /**
   * The plugins to install: each name in /opt/cni/bin (the conflist's `type`) with the bundle of the
   * installer image it runs, e.g. `[{ name: 'cnikit-flannel', bundle: 'cni-plugin.js' }]`.
   */
  readonly plugins: readonly CniPluginInstall[];
  /** Volume holding the conflist, and the conflist's path where that volume is mounted. */
  readonly configVolume: kplus.Volume;
  readonly configMountPath: string;
  readonly confSourcePath: string;
  /** File name of the conflist in /etc/cni/net.d, e.g. `10-cnikit-flannel.conflist`. */
  readonly confFileName: string;
  /**
   * Thick-plugin mode: install the shim that forwards to the resident CNI server on this loopback port,
   * with its token file (a host path), instead of the plain launcher.
   * @default the plain launcher
   */
  readonly shim?: { readonly port: number; readonly tokenFile: string };
}

/**
 * The installer's command-line contract (the `cni-plugin` image's entrypoint): copy each plugin
 * binary into `--bin-dir` and the conflist into `--conf-dir` as `--conf-name`, each through a
 * temporary file in the same directory and a rename, so the runtime never sees a half-written file;
 * binaries first, so the conflist never names a plugin that is not there yet.
 */
export function cniInstallerArgs(options: Pick<CniInstallerOptions, 'plugins' | 'confSourcePath' | 'confFileName' | 'shim'>): string[] {
  return [
    'install',
    `--bin-dir=${CNI_HOST_PATHS.binDirInContainer}`,
    `--conf-dir=${CNI_HOST_PATHS.confDirInContainer}`,
    ...options.plugins.map((plugin) => `--plugin=${plugin.name}=${plugin.bundle}`),
    `--conf-source=${options.confSourcePath}`,
    `--conf-name=${options.confFileName}`,
    ...(options.shim === undefined ? [] : [`--shim-port=${options.shim.port}`, `--shim-token-file=${options.shim.tokenFile}`]),
  ];
}

/** Adds the init container that installs the CNI plugin(s) and conflist onto the node. */
export function addCniInstaller(daemonSet: kplus.DaemonSet, options: CniInstallerOptions): void {
  const binDir = hostPathVolume(daemonSet, 'cni-bin', CNI_HOST_PATHS.binDir, kplus.HostPathVolumeType.DIRECTORY_OR_CREATE);
  const confDir = hostPathVolume(daemonSet, 'cni-conf', CNI_HOST_PATHS.confDir, kplus.HostPathVolumeType.DIRECTORY_OR_CREATE);
  daemonSet.addInitContainer({
    name: 'install-cni',
    image: options.image,
    imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
    args: cniInstallerArgs(options),
    // Root without extra capabilities: it only writes two root-owned host directories.
    securityContext: {
      ensureNonRoot: false, user: 0, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
    },
    resources: nodeAgentResources(10, 16),
    volumeMounts: [
      { path: CNI_HOST_PATHS.binDirInContainer, volume: binDir },
      { path: CNI_HOST_PATHS.confDirInContainer, volume: confDir },
      { path: options.configMountPath, volume: options.configVolume, readOnly: true },
    ],
  });
}
