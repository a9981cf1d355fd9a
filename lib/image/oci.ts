/** The OCI image-spec shapes cnikit writes (image-spec v1.1): descriptors, config, manifest, index. */

export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_TYPE_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Standard annotation keys (image-spec annotations.md). */
export const ANNOTATION = {
  source: 'org.opencontainers.image.source',
  revision: 'org.opencontainers.image.revision',
  version: 'org.opencontainers.image.version',
  licenses: 'org.opencontainers.image.licenses',
  created: 'org.opencontainers.image.created',
  title: 'org.opencontainers.image.title',
  description: 'org.opencontainers.image.description',
  refName: 'org.opencontainers.image.ref.name',
} as const;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: { readonly architecture: string; readonly os: string };
}

/** The runtime part of an image config: what a container engine runs. */
export interface ContainerConfig {
  readonly User?: string;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[];
  readonly Cmd?: readonly string[];
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>>;
}

export interface ImageConfig {
  readonly created: string;
  readonly architecture: 'amd64';
  readonly os: 'linux';
  readonly config: ContainerConfig;
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly string[] };
  readonly history: readonly { readonly created: string; readonly created_by: string; readonly comment?: string }[];
}

export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MEDIA_TYPE_MANIFEST;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly annotations: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType: typeof MEDIA_TYPE_INDEX;
  readonly manifests: readonly Descriptor[];
}
