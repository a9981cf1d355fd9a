import type { NativeAddon } from './native-addon';
/** One executable of the dataplane, bundled into `/opt/cnikit/<output>`. */
export interface ExecutableSpec {
  /** The TypeScript entrypoint, relative to the repository root (e.g. `apps/flannel-agent.ts`). */
  readonly entry: string;
  /** File name of the bundle under `/opt/cnikit/bin/`. */
  readonly output: string;
  /**
   * The name the manifests run it by (`command: [name]`): a symlink in /usr/local/bin to the bundle,
   * which starts with `#!/usr/bin/node`, so no shell is needed.
   * @default none: run as `node /opt/cnikit/bin/<output>`
   */
  readonly command?: string;
  /**
   * Whether the image is built without this executable while its entrypoint is not written yet.
   * @default false
   */
  readonly optional?: boolean;
}

/** What one image is made of and how it runs. */
export interface ImageSpec {
  /** Image name, as in `<registry>/<name>:<tag>`. */
  readonly name: string;
  readonly description: string;
  readonly executables: readonly ExecutableSpec[];
  /**
   * Debian packages whose programs the component runs, beside the runtime (glibc, libstdc++, Node).
   * @default none
   */
  readonly debianPackages?: readonly string[];
  /**
   * The programs kept from `debianPackages` (file names under bin/ and sbin/); every other program of
   * those packages is left out.
   * @default none
   */
  readonly systemTools?: readonly string[];
  /**
   * Packages the dependency walk stops at, because the kept programs never load them (each entry says why
   * in the catalogue).
   * @default none
   */
  readonly excludePackages?: readonly string[];
  readonly entrypoint: readonly string[];
  /**
   * Native addons (native/<name>) compiled for the image and placed beside the bundles as
   * `<name>.node`, where the dataplane looks for them. @default none
   */
  readonly nativeAddons?: readonly NativeAddon[];
  /** `uid:gid`; why each component needs its user is written next to it in the catalogue. */
  readonly user: string;
  /** @default PATH only */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * A command proving the image is complete, run in a chroot of the unpacked root filesystem, with the
   * stdin and environment given; it must exit 0.
   */
  /**
   * Whether the image carries the runtime manifest the CNI installer reads to copy Node and its
   * libraries to the host beside the plugin.
   * @default false
   */
  readonly installsRuntimeOnHost?: boolean;
  readonly smokeTest: { readonly argv: readonly string[]; readonly env?: Readonly<Record<string, string>>; readonly stdin?: string };
}

export const IMAGE_ROOT = '/opt/cnikit';
/** Where bundles go; packages' run-time files go beside this directory (see RUNTIME_ASSETS). */
export const BUNDLE_DIR = `${IMAGE_ROOT}/bin`;
export const COMMAND_DIR = '/usr/local/bin';
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What of an image can be built now: its spec without the optional executables that do not exist yet. */
export interface AvailableImage {
  /** Undefined while a required entrypoint is missing. */
  readonly spec?: ImageSpec;
  readonly missingRequired: readonly string[];
  readonly missingOptional: readonly string[];
}

export function availableImage(spec: ImageSpec, exists: (entry: string) => boolean): AvailableImage {
  const missing = spec.executables.filter((e) => !exists(e.entry));
  const missingRequired = missing.filter((e) => e.optional !== true).map((e) => e.entry);
  const missingOptional = missing.filter((e) => e.optional === true).map((e) => e.entry);
  if (missingRequired.length > 0) return { missingRequired, missingOptional };
  return { spec: { ...spec, executables: spec.executables.filter((e) => exists(e.entry)) }, missingRequired, missingOptional };
}
