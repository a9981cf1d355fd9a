import { AddressFamily, formatPrefix, maskHostBits, parsePrefix } from './address';

/**
 * Decodes a run of <length, prefix> NLRI entries (RFC 4271 §4.3, RFC 4760 §5). Returns undefined
 * when an entry's length exceeds the family's width or overruns the field: the caller decides
 * which NOTIFICATION that is.
 */
export function decodePrefixes(buf: Uint8Array, start: number, end: number, family: AddressFamily): string[] | undefined {
  const width = family === 'ipv4' ? 4 : 16;
  const out: string[] = [];
  let i = start;
  while (i < end) {
    const length = buf[i++];
    if (length > width * 8) return undefined;
    const bytes = Math.ceil(length / 8);
    if (i + bytes > end) return undefined;
    const address = new Uint8Array(width);
    address.set(buf.subarray(i, i + bytes));
    maskHostBits(address, length);
    out.push(formatPrefix(address, length));
    i += bytes;
  }
  return out;
}

/** Encodes prefixes of one family; throws on a prefix that is not of that family (a caller bug, never input). */
export function encodePrefixes(prefixes: readonly string[], family: AddressFamily): Uint8Array {
  const parts: number[] = [];
  for (const text of prefixes) {
    const p = parsePrefix(text);
    if (!p || p.family !== family) throw new Error(`bgp: ${text} is not an ${family} prefix`);
    parts.push(p.length, ...p.bytes.subarray(0, Math.ceil(p.length / 8)));
  }
  return Uint8Array.from(parts);
}

/** Encoded size of one prefix, for packing UPDATEs under the 4096-byte limit. */
export function encodedPrefixSize(text: string): number {
  const p = parsePrefix(text);
  return p ? 1 + Math.ceil(p.length / 8) : 0;
}
