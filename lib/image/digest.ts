import { createHash } from 'node:crypto';

/** `sha256:<hex>` of the bytes, the form OCI descriptors and Kubernetes image references use. */
export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The canonical JSON bytes cnikit stores for OCI documents: key order as written, no whitespace. */
export function canonicalJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}
