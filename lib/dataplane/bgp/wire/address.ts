import { isIPv4, isIPv6 } from 'node:net';

/** Address families the speaker carries (RFC 4760 AFI values). */
export const AFI_IPV4 = 1;
export const AFI_IPV6 = 2;
export const SAFI_UNICAST = 1;

export type AddressFamily = 'ipv4' | 'ipv6';

export function afiOf(family: AddressFamily): number {
  return family === 'ipv4' ? AFI_IPV4 : AFI_IPV6;
}

export function familyOfAfi(afi: number): AddressFamily | undefined {
  return afi === AFI_IPV4 ? 'ipv4' : afi === AFI_IPV6 ? 'ipv6' : undefined;
}

export function familyOfAddress(address: string): AddressFamily | undefined {
  return isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
}

/** Canonical text (RFC 5952 for IPv6) of a 4- or 16-byte address. */
export function formatAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical text of an address (RFC 5952 for IPv6: `fd99:0:0:0::11` → `fd99::11`), as the kernel reports it; other text unchanged. */
export function canonicalAddress(text: string): string {
  const bytes = parseAddress(text);
  return bytes ? formatAddress(bytes) : text;
}

/** Bytes of an IPv4 or IPv6 address in text form; undefined when it is neither. */
export function parseAddress(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) return undefined;
  let head = text;
  const tailBytes: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tailBytes.push(...v4[1].split('.').map(Number));
    head = text.slice(0, -v4[1].length) + '0:0';
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const parse = (part: string | undefined) => (part ? part.split(':').filter((g) => g !== '').map((g) => parseInt(g, 16)) : []);
  const l = parse(left);
  const r = parse(right);
  const groups = right === undefined ? l : [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 0xff; });
  if (tailBytes.length) out.set(tailBytes, 12);
  return out;
}

/** A prefix as `address/length` with host bits cleared. */
export function formatPrefix(bytes: Uint8Array, length: number): string {
  return `${formatAddress(bytes)}/${length}`;
}

export interface ParsedPrefix {
  readonly family: AddressFamily;
  readonly bytes: Uint8Array;
  readonly length: number;
}

/** Parses `a.b.c.d/n` or `v6/n`; host bits are cleared. Undefined when not a prefix. */
export function parsePrefix(text: string): ParsedPrefix | undefined {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return undefined;
  const bytes = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (!bytes || !/^\d{1,3}$/.test(lenText)) return undefined;
  const length = Number(lenText);
  if (length > bytes.length * 8) return undefined;
  maskHostBits(bytes, length);
  return { family: bytes.length === 4 ? 'ipv4' : 'ipv6', bytes, length };
}

/** Canonical form of a prefix text (host bits cleared, RFC 5952), or undefined. */
export function canonicalPrefix(text: string): string | undefined {
  const p = parsePrefix(text);
  return p ? formatPrefix(p.bytes, p.length) : undefined;
}

export function maskHostBits(bytes: Uint8Array, length: number): void {
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, length - 8 * i));
    bytes[i] &= bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
}
