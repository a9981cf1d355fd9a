import { AFI_IPV4, AFI_IPV6, SAFI_UNICAST, familyOfAfi, formatAddress, parseAddress } from './address';
import { be16, be32, concat, u16, u32 } from './bytes';
import { decodePrefixes, encodePrefixes } from './nlri';
import {
  AS_TRANS, AsPathSegment, AttrFlag, AttrType, AttributeError, BgpError, ErrorCode, MpReach, MpUnreach, Origin,
  PathAttributes, RawAttribute, SessionCodecContext, UpdateSubcode, bgpError,
} from './types';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface DecodedAttributes {
  readonly attributes: PathAttributes;
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  readonly errors: AttributeError[];
}

const SEGMENT_SET = 1;
const SEGMENT_SEQUENCE = 2;

/** (optional, transitive) each known attribute must carry (RFC 7606 §3c). */
const EXPECTED_FLAGS: Record<number, number> = {
  [AttrType.ORIGIN]: AttrFlag.TRANSITIVE,
  [AttrType.AS_PATH]: AttrFlag.TRANSITIVE,
  [AttrType.NEXT_HOP]: AttrFlag.TRANSITIVE,
  [AttrType.MED]: AttrFlag.OPTIONAL,
  [AttrType.LOCAL_PREF]: AttrFlag.TRANSITIVE,
  [AttrType.ATOMIC_AGGREGATE]: AttrFlag.TRANSITIVE,
  [AttrType.AGGREGATOR]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
  [AttrType.COMMUNITIES]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
  [AttrType.ORIGINATOR_ID]: AttrFlag.OPTIONAL,
  [AttrType.CLUSTER_LIST]: AttrFlag.OPTIONAL,
  [AttrType.MP_REACH_NLRI]: AttrFlag.OPTIONAL,
  [AttrType.MP_UNREACH_NLRI]: AttrFlag.OPTIONAL,
  [AttrType.AS4_PATH]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
  [AttrType.AS4_AGGREGATOR]: AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE,
};

/** RFC 7606 §7 (and RFC 6793 §6 for AS4_*): the approach for a malformed instance of each attribute. */
const DISCARDABLE = new Set<number>([AttrType.ATOMIC_AGGREGATE, AttrType.AGGREGATOR, AttrType.AS4_PATH, AttrType.AS4_AGGREGATOR]);

/**
 * Decodes the Path Attributes field of an UPDATE. Returns a `BgpError` only where RFC 7606 still
 * demands a session reset (unrecognised well-known attribute, MP_REACH/MP_UNREACH malformed or
 * repeated); every other fault becomes an `AttributeError` (treat-as-withdraw or attribute discard).
 */
export function decodeAttributes(buf: Uint8Array, start: number, end: number, ctx: SessionCodecContext): DecodedAttributes | BgpError {
  const attrs: Mutable<PathAttributes> = {};
  const errors: AttributeError[] = [];
  const seen = new Set<number>();
  const unknown: RawAttribute[] = [];
  let mpReach: MpReach | undefined;
  let mpUnreach: MpUnreach | undefined;
  let as4Path: AsPathSegment[] | undefined;
  let as4Aggregator: { asn: number; address: string } | undefined;
  const fourOctet = ctx.fourOctetAs ?? false;
  const malformed = (code: number, reason: string) => {
    errors.push({ attribute: code, action: DISCARDABLE.has(code) ? 'attribute-discard' : 'treat-as-withdraw', reason });
  };

  let i = start;
  while (i < end) {
    // RFC 7606 §4: too few bytes left for an attribute header, or a length overrunning the field.
    const flags = buf[i];
    const headerLength = flags & AttrFlag.EXTENDED_LENGTH ? 4 : 3;
    if (i + headerLength > end) {
      errors.push({ attribute: 0, action: 'treat-as-withdraw', reason: 'path attributes end inside an attribute header' });
      break;
    }
    const code = buf[i + 1];
    const length = headerLength === 4 ? u16(buf, i + 2) : buf[i + 2];
    const v = i + headerLength;
    if (v + length > end) {
      errors.push({ attribute: code, action: 'treat-as-withdraw', reason: `attribute ${code} of length ${length} overruns the path attributes` });
      break;
    }
    const value = buf.subarray(v, v + length);
    const whole = buf.slice(i, v + length);
    i = v + length;

    if (code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI) {
      if (seen.has(code)) return bgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `attribute ${code} appears twice`);
    } else if (seen.has(code)) {
      continue; // RFC 7606 §3g: keep the first.
    }
    seen.add(code);

    const expected = EXPECTED_FLAGS[code];
    if (expected === undefined) {
      if (!(flags & AttrFlag.OPTIONAL)) {
        return bgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.UNRECOGNIZED_WELL_KNOWN, `unrecognized well-known attribute ${code}`, whole);
      }
      if (flags & AttrFlag.TRANSITIVE) unknown.push({ flags: flags & ~AttrFlag.EXTENDED_LENGTH, code, value: value.slice() });
      continue;
    }
    if ((flags & (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE)) !== expected) {
      if (code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI) {
        // Still parse it so the prefixes it names can be withdrawn.
        errors.push({ attribute: code, action: 'treat-as-withdraw', reason: `attribute ${code} with flags 0x${flags.toString(16)}` });
      } else {
        malformed(code, `attribute ${code} with flags 0x${flags.toString(16)}`);
        continue;
      }
    }

    switch (code) {
      case AttrType.ORIGIN:
        if (length !== 1 || value[0] > 2) malformed(code, `ORIGIN ${length === 1 ? `value ${value[0]}` : `of length ${length}`}`);
        else attrs.origin = value[0] as Origin;
        break;
      case AttrType.AS_PATH: {
        const path = decodeAsPath(value, fourOctet ? 4 : 2);
        if (!path) malformed(code, 'malformed AS_PATH');
        else attrs.asPath = path;
        break;
      }
      case AttrType.AS4_PATH: {
        const path = decodeAsPath(value, 4);
        if (!path) malformed(code, 'malformed AS4_PATH');
        else if (!fourOctet) as4Path = path; // RFC 6793: ignored between 4-octet speakers
        break;
      }
      case AttrType.NEXT_HOP:
        if (length !== 4) malformed(code, `NEXT_HOP of length ${length} (4)`);
        else attrs.nextHop = formatAddress(value);
        break;
      case AttrType.MED:
        if (length !== 4) malformed(code, `MULTI_EXIT_DISC of length ${length} (4)`);
        else attrs.med = u32(value, 0);
        break;
      case AttrType.LOCAL_PREF:
        if (ctx.ebgp) errors.push({ attribute: code, action: 'attribute-discard', reason: 'LOCAL_PREF from an external peer' });
        else if (length !== 4) malformed(code, `LOCAL_PREF of length ${length} (4)`);
        else attrs.localPref = u32(value, 0);
        break;
      case AttrType.ATOMIC_AGGREGATE:
        if (length !== 0) malformed(code, `ATOMIC_AGGREGATE of length ${length} (0)`);
        else attrs.atomicAggregate = true;
        break;
      case AttrType.AGGREGATOR: {
        const width = fourOctet ? 8 : 6;
        if (length !== width) malformed(code, `AGGREGATOR of length ${length} (${width})`);
        else attrs.aggregator = { asn: fourOctet ? u32(value, 0) : u16(value, 0), address: formatAddress(value.subarray(width - 4)) };
        break;
      }
      case AttrType.AS4_AGGREGATOR:
        if (length !== 8) malformed(code, `AS4_AGGREGATOR of length ${length} (8)`);
        else if (!fourOctet) as4Aggregator = { asn: u32(value, 0), address: formatAddress(value.subarray(4)) };
        break;
      case AttrType.COMMUNITIES:
        if (length === 0 || length % 4 !== 0) malformed(code, `COMMUNITIES of length ${length} (a non-zero multiple of 4)`);
        else attrs.communities = Array.from({ length: length / 4 }, (_, k) => u32(value, 4 * k));
        break;
      case AttrType.ORIGINATOR_ID:
        if (length !== 4) malformed(code, `ORIGINATOR_ID of length ${length} (4)`);
        else attrs.originatorId = formatAddress(value);
        break;
      case AttrType.CLUSTER_LIST:
        if (length === 0 || length % 4 !== 0) malformed(code, `CLUSTER_LIST of length ${length} (a non-zero multiple of 4)`);
        else attrs.clusterList = Array.from({ length: length / 4 }, (_, k) => formatAddress(value.subarray(4 * k, 4 * k + 4)));
        break;
      case AttrType.MP_REACH_NLRI: {
        const r = decodeMpReach(value);
        if (typeof r === 'string') return bgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE, r, whole);
        mpReach = r;
        break;
      }
      case AttrType.MP_UNREACH_NLRI: {
        const r = decodeMpUnreach(value);
        if (typeof r === 'string') return bgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE, r, whole);
        mpUnreach = r;
        break;
      }
    }
  }

  if (!fourOctet) {
    if (as4Path && attrs.asPath) attrs.asPath = mergeAs4Path(attrs.asPath, as4Path);
    if (as4Aggregator && attrs.aggregator?.asn === AS_TRANS) attrs.aggregator = as4Aggregator;
  }
  if (unknown.length) attrs.unknown = unknown;
  return { attributes: attrs, mpReach, mpUnreach, errors };
}

function decodeAsPath(value: Uint8Array, width: 2 | 4): AsPathSegment[] | undefined {
  const segments: AsPathSegment[] = [];
  let i = 0;
  while (i < value.length) {
    if (i + 2 > value.length) return undefined;
    const type = value[i];
    const count = value[i + 1];
    if ((type !== SEGMENT_SET && type !== SEGMENT_SEQUENCE) || count === 0) return undefined;
    if (i + 2 + count * width > value.length) return undefined;
    const asns: number[] = [];
    for (let k = 0; k < count; k++) asns.push(width === 4 ? u32(value, i + 2 + 4 * k) : u16(value, i + 2 + 2 * k));
    segments.push({ type: type === SEGMENT_SET ? 'set' : 'sequence', asns });
    i += 2 + count * width;
  }
  return segments;
}

/** Path length for best-path selection: a set counts as one (RFC 4271 §9.1.2.2). */
export function asPathLength(path: readonly AsPathSegment[] | undefined): number {
  return (path ?? []).reduce((n, s) => n + (s.type === 'set' ? 1 : s.asns.length), 0);
}

/** RFC 6793 §4.2.3: keep the leading ASes of AS_PATH that AS4_PATH does not cover, then AS4_PATH. */
function mergeAs4Path(asPath: readonly AsPathSegment[], as4Path: readonly AsPathSegment[]): readonly AsPathSegment[] {
  const extra = asPathLength(asPath) - asPathLength(as4Path);
  if (extra < 0) return asPath;
  const head: AsPathSegment[] = [];
  let left = extra;
  for (const s of asPath) {
    if (left <= 0) break;
    if (s.type === 'set') { head.push(s); left -= 1; continue; }
    const take = s.asns.slice(0, left);
    head.push({ type: 'sequence', asns: take });
    left -= take.length;
  }
  return [...head, ...as4Path];
}

function decodeMpReach(value: Uint8Array): MpReach | string {
  if (value.length < 5) return `MP_REACH_NLRI of length ${value.length} is too short`;
  const afi = u16(value, 0);
  const safi = value[2];
  const nhLength = value[3];
  if (4 + nhLength + 1 > value.length) return `MP_REACH_NLRI next hop length ${nhLength} overruns the attribute`;
  const nh = value.subarray(4, 4 + nhLength);
  const nlriStart = 4 + nhLength + 1; // one reserved byte
  const family = familyOfAfi(afi);
  if (safi !== SAFI_UNICAST || !family) return { afi, safi, nextHops: [], nlri: [] }; // not negotiated: ignored
  let nextHops: string[];
  if (afi === AFI_IPV4 && nhLength === 4) nextHops = [formatAddress(nh)];
  else if (afi === AFI_IPV6 && nhLength === 16) nextHops = [formatAddress(nh)];
  else if (afi === AFI_IPV6 && nhLength === 32) nextHops = [formatAddress(nh.subarray(0, 16)), formatAddress(nh.subarray(16))];
  else return `MP_REACH_NLRI next hop of length ${nhLength} for AFI ${afi}`;
  const nlri = decodePrefixes(value, nlriStart, value.length, family);
  if (!nlri) return `MP_REACH_NLRI prefixes for AFI ${afi} are malformed`;
  return { afi, safi, nextHops, nlri };
}

function decodeMpUnreach(value: Uint8Array): MpUnreach | string {
  if (value.length < 3) return `MP_UNREACH_NLRI of length ${value.length} is too short`;
  const afi = u16(value, 0);
  const safi = value[2];
  const family = familyOfAfi(afi);
  if (safi !== SAFI_UNICAST || !family) return { afi, safi, withdrawn: [] };
  const withdrawn = decodePrefixes(value, 3, value.length, family);
  if (!withdrawn) return `MP_UNREACH_NLRI prefixes for AFI ${afi} are malformed`;
  return { afi, safi, withdrawn };
}

// ---------- encoding ----------

function attribute(flags: number, code: number, value: Uint8Array | readonly number[]): Uint8Array {
  if (value.length > 255) return concat([[flags | AttrFlag.EXTENDED_LENGTH, code, ...be16(value.length)], value]);
  return concat([[flags & ~AttrFlag.EXTENDED_LENGTH, code, value.length], value]);
}

function encodeAsPath(path: readonly AsPathSegment[], width: 2 | 4): number[] {
  const out: number[] = [];
  for (const s of path) {
    // A segment holds at most 255 ASes.
    for (let k = 0; k < s.asns.length; k += 255) {
      const chunk = s.asns.slice(k, k + 255);
      out.push(s.type === 'set' ? SEGMENT_SET : SEGMENT_SEQUENCE, chunk.length);
      for (const asn of chunk) out.push(...(width === 4 ? be32(asn) : be16(asn > 0xffff ? AS_TRANS : asn)));
    }
  }
  return out;
}

function addressBytes(text: string, width: 4 | 16): Uint8Array {
  const b = parseAddress(text);
  if (!b || b.length !== width) throw new Error(`bgp: ${text} is not an IPv${width === 4 ? 4 : 6} address`);
  return b;
}

/** Encodes path attributes (MP attributes first, RFC 7606 §5.1; the rest by type code). */
export function encodeAttributes(
  attrs: PathAttributes, ctx: SessionCodecContext, mpReach?: MpReach, mpUnreach?: MpUnreach,
): Uint8Array {
  const fourOctet = ctx.fourOctetAs ?? false;
  const parts: Uint8Array[] = [];
  const T = AttrFlag.TRANSITIVE;
  const O = AttrFlag.OPTIONAL;
  if (mpReach) {
    const family = familyOfAfi(mpReach.afi) ?? 'ipv4';
    const width = family === 'ipv4' ? 4 : 16;
    const nh = concat(mpReach.nextHops.map((h) => addressBytes(h, width)));
    parts.push(attribute(O, AttrType.MP_REACH_NLRI, concat([[...be16(mpReach.afi), mpReach.safi, nh.length], nh, [0], encodePrefixes(mpReach.nlri, family)])));
  }
  if (mpUnreach) {
    const family = familyOfAfi(mpUnreach.afi) ?? 'ipv4';
    parts.push(attribute(O, AttrType.MP_UNREACH_NLRI, concat([[...be16(mpUnreach.afi), mpUnreach.safi], encodePrefixes(mpUnreach.withdrawn, family)])));
  }
  if (attrs.origin !== undefined) parts.push(attribute(T, AttrType.ORIGIN, [attrs.origin]));
  if (attrs.asPath !== undefined) {
    parts.push(attribute(T, AttrType.AS_PATH, encodeAsPath(attrs.asPath, fourOctet ? 4 : 2)));
  }
  if (attrs.nextHop !== undefined) parts.push(attribute(T, AttrType.NEXT_HOP, addressBytes(attrs.nextHop, 4)));
  if (attrs.med !== undefined) parts.push(attribute(O, AttrType.MED, be32(attrs.med)));
  if (attrs.localPref !== undefined) parts.push(attribute(T, AttrType.LOCAL_PREF, be32(attrs.localPref)));
  if (attrs.atomicAggregate) parts.push(attribute(T, AttrType.ATOMIC_AGGREGATE, []));
  if (attrs.aggregator) {
    const asn = attrs.aggregator.asn;
    parts.push(attribute(O | T, AttrType.AGGREGATOR, concat([fourOctet ? be32(asn) : be16(asn > 0xffff ? AS_TRANS : asn), addressBytes(attrs.aggregator.address, 4)])));
  }
  if (attrs.communities?.length) parts.push(attribute(O | T, AttrType.COMMUNITIES, attrs.communities.flatMap(be32)));
  if (attrs.originatorId !== undefined) parts.push(attribute(O, AttrType.ORIGINATOR_ID, addressBytes(attrs.originatorId, 4)));
  if (attrs.clusterList?.length) parts.push(attribute(O, AttrType.CLUSTER_LIST, concat(attrs.clusterList.map((c) => addressBytes(c, 4)))));
  if (!fourOctet && attrs.asPath?.some((s) => s.asns.some((a) => a > 0xffff))) {
    parts.push(attribute(O | T, AttrType.AS4_PATH, encodeAsPath(attrs.asPath, 4)));
  }
  if (!fourOctet && attrs.aggregator && attrs.aggregator.asn > 0xffff) {
    parts.push(attribute(O | T, AttrType.AS4_AGGREGATOR, concat([be32(attrs.aggregator.asn), addressBytes(attrs.aggregator.address, 4)])));
  }
  // Unknown optional transitive attributes travel on with the Partial bit (RFC 4271 §5).
  for (const u of attrs.unknown ?? []) parts.push(attribute(u.flags | AttrFlag.PARTIAL, u.code, u.value));
  return concat(parts);
}
