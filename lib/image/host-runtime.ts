import { posix } from 'node:path';
import type { ContentFile } from './contents';
import { IMAGE_ROOT } from './image-spec';

export const NODE_PATH = '/usr/bin/node';

/** The sonames `ldd node` lists for the pinned Node build, besides the loader. */
export const NODE_SHARED_LIBRARIES: readonly string[] = ['libc.so.6', 'libdl.so.2', 'libgcc_s.so.1', 'libm.so.6', 'libpthread.so.0', 'libstdc++.so.6'];

/**
 * Where the installer finds the runtime to copy to the host with the CNI plugin, so the plugin runs with
 * the loader and libraries it was built against instead of whatever the host has.
 */
export const HOST_RUNTIME_MANIFEST = `${IMAGE_ROOT}/host-runtime.json`;

export interface HostRuntimeManifest {
  readonly loader: string;
  readonly node: string;
  readonly libraries: readonly string[];
  /**
   * For each bundle (its path in the image), the files of bundled packages it reads at run time (etcd3's
   * `.proto` files), by their paths in the image; the installer copies them to the same place relative to
   * the bundle's directory. Bundles without any are left out.
   */
  readonly bundleAssets: Readonly<Record<string, readonly string[]>>;
}

/**
 * The real files (symlinks followed inside the runtime) of the loader and each library Node links, and
 * the run-time files each bundle needs.
 */
export function hostRuntimeManifest(runtimeFiles: readonly ContentFile[], bundleAssets: Readonly<Record<string, readonly string[]>> = {}): HostRuntimeManifest {
  const byPath = new Map(runtimeFiles.map((f) => [f.path, f]));
  const resolve = (path: string): string => {
    let current = path;
    for (let hops = 0; hops < 16; hops++) {
      const entry = byPath.get(current);
      if (entry === undefined) throw new Error(`the runtime layer has no ${current} (wanted for ${path})`);
      if (entry.type !== 'symlink' || entry.target === undefined) return current;
      current = posix.resolve(posix.dirname(current), entry.target);
    }
    throw new Error(`${path} is a symlink loop in the runtime layer`);
  };
  const find = (soname: string): string => {
    const candidates = runtimeFiles.filter((f) => posix.basename(f.path) === soname && /\/(usr\/)?lib(64)?\//.test(f.path));
    const first = candidates[0];
    if (first === undefined) throw new Error(`the runtime layer has no ${soname}, which ${NODE_PATH} links`);
    return first.path;
  };
  return {
    loader: resolve('/lib64/ld-linux-x86-64.so.2'),
    node: resolve(NODE_PATH),
    libraries: NODE_SHARED_LIBRARIES.map((soname) => resolve(find(soname))),
    bundleAssets,
  };
}
