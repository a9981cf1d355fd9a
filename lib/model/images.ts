import { ValidationError } from './errors';

/** The images cnikit builds from its own dataplane (issue: agent images). */
export enum KitImage {
  /** The Flannel-style node agent. */
  FLANNEL_AGENT = 'flannel-agent',
  /** Installs the kit's CNI plugin binaries and conflist onto the host (an init container). */
  CNI_PLUGIN = 'cni-plugin',
  /** The Calico-style node agent. */
  CALICO_AGENT = 'calico-agent',
  /** The Calico-style cluster controllers. */
  CONTROLLERS = 'controllers',
}

/** The kit's release; image tags default to it. Kept equal to package.json's version by a test. */
export const KIT_VERSION = '0.1.0';

/** Where the kit publishes its images unless an environment says otherwise. */
export const DEFAULT_IMAGE_REGISTRY = 'ghcr.io/cnikit';

/**
 * The file `npm run images` writes: a JSON object from image name (`flannel-agent`, ...) to its
 * manifest digest (`sha256:<64 hex>`), relative to the repository root. A missing file, or an image
 * missing from it, means "reference the version tag".
 */
export const IMAGE_DIGESTS_FILE = 'dist/images/digests.json';

/** Where the images come from. */
export interface ImageSettings {
  /**
   * Registry and path prefix of every image, e.g. `registry.example.com/platform`.
   * @default 'ghcr.io/cnikit'
   */
  readonly registry?: string;
  /**
   * Tag of every image (used when no digest is known).
   * @default KIT_VERSION
   */
  readonly version?: string;
  /**
   * Digest of each image by name (the content of IMAGE_DIGESTS_FILE); a known digest pins the image.
   * @default none: every image is referenced by its version tag
   */
  readonly digests?: Readonly<Record<string, string>>;
}

const REGISTRY = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The names errors give the three settings, for props that are not nested as `ImageSettings`. */
export interface ImageFieldNames {
  readonly registry: string;
  readonly version: string;
  readonly digests: string;
}

/**
 * The reference of one of the kit's images: `<registry>/<name>@sha256:<digest>` when its digest is
 * known, else `<registry>/<name>:<version>`. `field` names the settings in errors: a prefix
 * (`images` → `images.registry`) or each name.
 */
export function imageReference(image: KitImage, settings: ImageSettings = {}, field: string | ImageFieldNames = 'images'): string {
  const fields: ImageFieldNames = typeof field === 'string'
    ? { registry: `${field}.registry`, version: `${field}.version`, digests: `${field}.digests` }
    : field;
  const registry = settings.registry ?? DEFAULT_IMAGE_REGISTRY;
  if (typeof registry !== 'string' || !REGISTRY.test(registry)) {
    throw new ValidationError(fields.registry, registry, 'a registry and optional path such as ghcr.io/cnikit or registry.example.com:5000/platform');
  }
  const digest = settings.digests?.[image];
  if (digest !== undefined) {
    if (typeof digest !== 'string' || !DIGEST.test(digest)) {
      throw new ValidationError(`${fields.digests}.${image}`, digest, 'a digest such as sha256:<64 lower-case hex digits>');
    }
    return `${registry}/${image}@${digest}`;
  }
  const version = settings.version ?? KIT_VERSION;
  if (typeof version !== 'string' || !TAG.test(version)) {
    throw new ValidationError(fields.version, version, 'an image tag such as 0.1.0 (letters, digits, ".", "_", "-")');
  }
  return `${registry}/${image}:${version}`;
}

/** Checks the parsed content of IMAGE_DIGESTS_FILE; `source` names it in errors. */
export function parseImageDigests(content: unknown, source = IMAGE_DIGESTS_FILE): Record<string, string> {
  if (typeof content !== 'object' || content === null || Array.isArray(content)) {
    throw new ValidationError(source, content, 'a JSON object from image name to sha256 digest');
  }
  const names = Object.values(KitImage) as string[];
  const digests: Record<string, string> = {};
  for (const [name, digest] of Object.entries(content)) {
    if (!names.includes(name)) throw new ValidationError(`${source}: ${name}`, name, `an image name: ${names.join(', ')}`);
    if (typeof digest !== 'string' || !DIGEST.test(digest)) {
      throw new ValidationError(`${source}: ${name}`, digest, 'a digest such as sha256:<64 lower-case hex digits>');
    }
    digests[name] = digest;
  }
  return digests;
}
