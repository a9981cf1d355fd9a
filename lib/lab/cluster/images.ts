import * as fs from 'fs';
import * as path from 'path';
import { buildDebianImage } from '../../image/debian-image';
import type { ImageIndex } from '../../image/oci';
import { run } from '../exec';

/** Where the cluster lab's own images live in every node's containerd (never pulled: imported). */
export const LAB_IMAGE_REGISTRY = 'cnikit.lab';
/** The sandbox ("pause") image: Debian's catatonit, a static init that only reaps children. */
export const PAUSE_IMAGE = `${LAB_IMAGE_REGISTRY}/pause:3.9`;
/**
 * The test workload: Debian's busybox-static (sh, httpd, wget, ping, nc) and netcat-openbsd
 * (`/bin/nc.openbsd`: UDP over IPv4 and IPv6, which busybox's nc lacks), 6 MB compressed.
 */
export const NETCHECK_IMAGE = `${LAB_IMAGE_REGISTRY}/netcheck:2`;
/** The UDP-capable netcat in NETCHECK_IMAGE (busybox's `nc` speaks TCP only). */
export const NETCHECK_UDP_NC = '/bin/nc.openbsd';

const BUSYBOX_APPLETS = ['sh', 'cat', 'echo', 'hostname', 'httpd', 'ip', 'mkdir', 'nc', 'ping', 'ping6', 'sleep', 'wget', 'ls', 'ps', 'nslookup', 'timeout', 'true'];

/**
 * The image the upstream e2e suite asks for (test/utils/image/manifest.go of the lab's release):
 * agnhost built from the same k8s.io/kubernetes module, statically, as `/agnhost`.
 */
export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.47';

/** An OCI layout to import: the reference pods use, and the repository name (without tag) it is imported under. */
export interface ImportableImage {
  readonly reference: string;
  readonly repository: string;
  readonly layoutDir: string;
}

/** Builds the pause and test-workload images from Debian packages into `outDir` (cached layers, quick when warm). */
export async function buildLabImages(outDir: string, cacheDir: string): Promise<ImportableImage[]> {
  const pause = await buildDebianImage({
    name: 'pause',
    tag: '3.9',
    description: 'cnikit cluster lab sandbox image: catatonit as the pod init',
    packages: ['catatonit'],
    entrypoint: ['/usr/bin/catatonit', '-P'],
    user: '65535:65535',
  }, outDir, cacheDir);
  const netcheck = await buildDebianImage({
    name: 'netcheck',
    tag: '2',
    description: 'cnikit cluster lab test workload: busybox (httpd, wget, ping, nc), OpenBSD netcat (UDP)',
    packages: ['busybox-static', 'netcat-openbsd'],
    symlinks: Object.fromEntries(BUSYBOX_APPLETS.map((applet) => [`bin/${applet}`, 'busybox'])),
    entrypoint: ['/bin/sh'],
  }, outDir, cacheDir);
  return [
    { reference: PAUSE_IMAGE, repository: `${LAB_IMAGE_REGISTRY}/pause`, layoutDir: pause.layoutDir },
    { reference: NETCHECK_IMAGE, repository: `${LAB_IMAGE_REGISTRY}/netcheck`, layoutDir: netcheck.layoutDir },
  ];
}

/** The manifest digest of the one image in an OCI layout. */
export function layoutDigest(layoutDir: string): string {
  const index = JSON.parse(fs.readFileSync(path.join(layoutDir, 'index.json'), 'utf8')) as ImageIndex;
  const digest = index.manifests[0]?.digest;
  if (!digest) throw new Error(`${layoutDir}/index.json lists no manifest`);
  return digest;
}

/** Packs an OCI layout into the tar archive `ctr images import` reads. */
export async function archiveLayout(layoutDir: string, archive: string): Promise<void> {
  await run(['tar', '-C', layoutDir, '-cf', archive, '.'], { timeoutMs: 120_000 });
}

/**
 * Imports an archive into a node's containerd (the CRI namespace `k8s.io`, unpacked for the
 * `native` snapshotter the CRI uses) as `<repository>:<tag in the layout>`. The CRI also finds it by
 * `<repository>@<manifest digest>`, the form the manifests pin.
 */
export async function importArchive(containerdSocket: string, archive: string, repository: string): Promise<void> {
  // --digests also names it `<repository>@<digest>`: the CRI resolves a digest reference only by that name.
  await run(['ctr', '--address', containerdSocket, '-n', 'k8s.io', 'images', 'import', '--base-name', repository, '--digests', '--snapshotter', 'native', archive], { timeoutMs: 180_000 });
}

/** AGNHOST_IMAGE from a built agnhost binary (static: the image holds nothing else). */
export async function buildAgnhostImage(agnhost: string, outDir: string, cacheDir: string): Promise<ImportableImage> {
  const [repository, tag] = AGNHOST_IMAGE.split(/:(?=[^:/]+$)/);
  const image = await buildDebianImage({
    name: 'agnhost',
    tag,
    description: 'agnhost, the Kubernetes e2e test image, built from k8s.io/kubernetes/test/images/agnhost',
    packages: [],
    files: { agnhost: { content: fs.readFileSync(agnhost), mode: 0o755 } },
    entrypoint: ['/agnhost'],
  }, outDir, cacheDir);
  return { reference: AGNHOST_IMAGE, repository, layoutDir: image.layoutDir };
}
