import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson, sha256Digest } from './digest';
import type { Layer } from './layer';
import {
  ANNOTATION,
  MEDIA_TYPE_CONFIG,
  MEDIA_TYPE_INDEX,
  MEDIA_TYPE_LAYER_GZIP,
  MEDIA_TYPE_MANIFEST,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
} from './oci';

export interface OciImage {
  readonly layers: readonly Layer[];
  readonly config: ImageConfig;
  readonly annotations: Readonly<Record<string, string>>;
}

export interface WrittenImage {
  /** Digest of the image manifest: what `<registry>/<name>@sha256:…` pins. */
  readonly manifestDigest: string;
  readonly configDigest: string;
  /** Bytes a registry stores for this image: manifest, config and compressed layers. */
  readonly compressedSize: number;
}

/** The manifest and config documents of an image, with their descriptors; pure. */
export function imageDocuments(image: OciImage): { manifest: Buffer; config: Buffer; manifestDescriptor: Descriptor; configDescriptor: Descriptor } {
  const config = canonicalJson(image.config);
  const configDescriptor: Descriptor = { mediaType: MEDIA_TYPE_CONFIG, digest: sha256Digest(config), size: config.length };
  const manifestDoc: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: configDescriptor,
    layers: image.layers.map((l) => ({ mediaType: MEDIA_TYPE_LAYER_GZIP, digest: l.digest, size: l.size })),
    annotations: image.annotations,
  };
  const manifest = canonicalJson(manifestDoc);
  const manifestDescriptor: Descriptor = {
    mediaType: MEDIA_TYPE_MANIFEST,
    digest: sha256Digest(manifest),
    size: manifest.length,
    platform: { architecture: image.config.architecture, os: image.config.os },
  };
  return { manifest, config, manifestDescriptor, configDescriptor };
}

/**
 * Writes an OCI image layout (image-spec layout.md) holding one image tagged `tag`. The directory is
 * written beside the target and renamed into place, so a reader never sees half a layout.
 */
export async function writeOciLayout(dir: string, image: OciImage, tag: string): Promise<WrittenImage> {
  const { manifest, config, manifestDescriptor, configDescriptor } = imageDocuments(image);
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_INDEX,
    manifests: [{ ...manifestDescriptor, annotations: { [ANNOTATION.refName]: tag } }],
  };
  const staging = `${dir}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  const blobs = join(staging, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const writeBlob = (digest: string, data: Buffer): Promise<void> => writeFile(join(blobs, digest.slice('sha256:'.length)), data);
  for (const layer of image.layers) await writeBlob(layer.digest, layer.blob);
  await writeBlob(configDescriptor.digest, config);
  await writeBlob(manifestDescriptor.digest, manifest);
  await writeFile(join(staging, 'oci-layout'), canonicalJson({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(staging, 'index.json'), canonicalJson(index));
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  const compressedSize = manifest.length + config.length + image.layers.reduce((sum, l) => sum + l.size, 0);
  return { manifestDigest: manifestDescriptor.digest, configDigest: configDescriptor.digest, compressedSize };
}
