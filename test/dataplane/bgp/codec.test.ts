import {
  AFI_IPV6, AttrType, BgpMessage, DecodeResult, MessageFramer, SAFI_UNICAST, UpdateMessage, decodeMessage, encodeMessage, endOfRib,
  endOfRibFamily, isTreatAsWithdraw,
} from '../../../lib/dataplane/bgp/wire';
import { sampleOpen, sampleUpdateMpV4, sampleUpdateV4, sampleUpdateV6, samples } from './fixtures';

const ctx4 = { fourOctetAs: true };

function ok<T>(r: DecodeResult<T>): T {
  if (!r.ok) throw new Error(`expected a message, got ${r.error.code}/${r.error.subcode}: ${r.error.reason}`);
  return r.value;
}

function errorOf<T>(r: DecodeResult<T>): [number, number] {
  if (r.ok) throw new Error('expected an error');
  return [r.error.code, r.error.subcode];
}

/** Builds an UPDATE from raw attribute bytes and IPv4 NLRI bytes. */
function rawUpdate(attrs: number[], nlri: number[] = [24, 10, 0, 1], withdrawn: number[] = []): Uint8Array {
  const body = [withdrawn.length >> 8, withdrawn.length & 0xff, ...withdrawn, attrs.length >> 8, attrs.length & 0xff, ...attrs, ...nlri];
  const length = 19 + body.length;
  return Uint8Array.from([...new Array<number>(16).fill(0xff), length >> 8, length & 0xff, 2, ...body]);
}

const ORIGIN = [0x40, 1, 1, 0];
const AS_PATH_2 = [0x40, 2, 4, 2, 1, 0xfd, 0xe8]; // sequence [65000], 2-octet
const NEXT_HOP = [0x40, 3, 4, 10, 0, 0, 1];

describe('BGP codec round trip', () => {
  it.each(samples.map((m, i) => [i, m.type, m] as const))('sample %i (%s) decodes to what was encoded with 4-octet ASNs', (_i, _t, message) => {
    expect(ok(decodeMessage(encodeMessage(message, ctx4), ctx4))).toEqual(message);
  });

  it('a 2-octet session carries 4-octet ASNs as AS_TRANS plus AS4_PATH and rebuilds the path (RFC 6793)', () => {
    const bytes = encodeMessage(sampleUpdateV4, {});
    const decoded = ok(decodeMessage(bytes, {})) as UpdateMessage;
    expect(decoded.attributes.asPath).toEqual((sampleUpdateV4 as UpdateMessage).attributes.asPath);
    // Without AS4_PATH merge (a 4-octet context reads the same bytes as 2-octet ASNs) AS_TRANS shows.
    const raw = ok(decodeMessage(bytes, { fourOctetAs: false }));
    expect(raw).toEqual(decoded);
  });

  it('End-of-RIB markers are recognised for both families', () => {
    const v4 = ok(decodeMessage(encodeMessage(endOfRib('ipv4')))) as UpdateMessage;
    const v6 = ok(decodeMessage(encodeMessage(endOfRib('ipv6')))) as UpdateMessage;
    expect(endOfRibFamily(v4)).toBe('ipv4');
    expect(endOfRibFamily(v6)).toBe('ipv6');
    expect(endOfRibFamily(sampleUpdateV6 as UpdateMessage)).toBeUndefined();
    expect(endOfRibFamily(sampleUpdateMpV4 as UpdateMessage)).toBeUndefined();
  });

  it('the framer splits a stream cut at arbitrary points', () => {
    const stream = Buffer.concat(samples.map((m) => encodeMessage(m, ctx4)));
    const framer = new MessageFramer();
    const out: BgpMessage[] = [];
    for (let i = 0; i < stream.length; i += 7) {
      framer.push(stream.subarray(i, i + 7));
      for (let f = framer.next(); f; f = framer.next()) {
        if ('error' in f) throw new Error(f.error.reason);
        out.push(ok(decodeMessage(f.frame, ctx4)));
      }
    }
    expect(out).toEqual(samples);
  });

  it('host bits in NLRI are cleared and IPv6 text is canonical', () => {
    const u = ok(decodeMessage(rawUpdate([...ORIGIN, ...AS_PATH_2, ...NEXT_HOP], [20, 10, 1, 0xff]))) as UpdateMessage;
    expect(u.nlri).toEqual(['10.1.240.0/20']);
    const v6 = ok(decodeMessage(encodeMessage({ ...sampleUpdateV6, mpReach: { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops: ['2001:0db8:0:0:0:0:0:1'], nlri: ['2001:db8:0:0:1::/80'] } } as BgpMessage)));
    expect((v6 as UpdateMessage).mpReach?.nextHops).toEqual(['2001:db8::1']);
    expect((v6 as UpdateMessage).mpReach?.nlri).toEqual(['2001:db8:0:0:1::/80']);
  });
});

describe('BGP codec errors (RFC 4271 §6, RFC 7606)', () => {
  const keepalive = () => Uint8Array.from(encodeMessage({ type: 'keepalive' }));

  it('header: marker, length and type', () => {
    const m = keepalive(); m[3] = 0;
    expect(errorOf(decodeMessage(m))).toEqual([1, 1]);
    const long = Uint8Array.from([...keepalive(), 0]); long[17] = 20;
    expect(errorOf(decodeMessage(long))).toEqual([1, 2]);
    const t = keepalive(); t[18] = 9;
    expect(errorOf(decodeMessage(t))).toEqual([1, 3]);
    const huge = keepalive(); huge[16] = 0x10; huge[17] = 1;
    const r = decodeMessage(huge);
    expect(errorOf(r)).toEqual([1, 2]);
    expect(!r.ok && Array.from(r.error.data)).toEqual([0x10, 1]);
  });

  it('OPEN: version, hold time, identifier, parameters', () => {
    const open = () => Uint8Array.from(encodeMessage(sampleOpen));
    const v = open(); v[19] = 3;
    const r = decodeMessage(v);
    expect(errorOf(r)).toEqual([2, 1]);
    expect(!r.ok && Array.from(r.error.data)).toEqual([0, 4]);
    const h = open(); h[22] = 0; h[23] = 2;
    expect(errorOf(decodeMessage(h))).toEqual([2, 6]);
    const id = open(); id.fill(0, 24, 28);
    expect(errorOf(decodeMessage(id))).toEqual([2, 3]);
    const p = open(); p[29] = 1;
    expect(errorOf(decodeMessage(p))).toEqual([2, 4]);
  });

  it('UPDATE: inconsistent lengths reset the session with Malformed Attribute List', () => {
    const u = rawUpdate([...ORIGIN, ...AS_PATH_2, ...NEXT_HOP]);
    u[22] = 0xff; // total path attribute length
    expect(errorOf(decodeMessage(u))).toEqual([3, 1]);
  });

  it('UPDATE: malformed NLRI is an Invalid Network Field', () => {
    expect(errorOf(decodeMessage(rawUpdate([...ORIGIN, ...AS_PATH_2, ...NEXT_HOP], [33, 10, 0, 0, 0, 0])))).toEqual([3, 10]);
    expect(errorOf(decodeMessage(rawUpdate([...ORIGIN, ...AS_PATH_2, ...NEXT_HOP], [24, 10, 0])))).toEqual([3, 10]);
  });

  it('UPDATE: unrecognised well-known attribute resets with its bytes as data', () => {
    const r = decodeMessage(rawUpdate([...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0x40, 77, 1, 9]));
    expect(errorOf(r)).toEqual([3, 2]);
    expect(!r.ok && Array.from(r.error.data)).toEqual([0x40, 77, 1, 9]);
  });

  it('UPDATE: a repeated MP_REACH_NLRI resets; other repeats keep the first', () => {
    const mp = [0x80, 14, 9, 0, 1, 1, 4, 10, 0, 0, 1, 0];
    expect(errorOf(decodeMessage(rawUpdate([...ORIGIN, ...AS_PATH_2, ...mp, ...mp], [])))).toEqual([3, 1]);
    const u = ok(decodeMessage(rawUpdate([...ORIGIN, 0x40, 1, 1, 2, ...AS_PATH_2, ...NEXT_HOP]))) as UpdateMessage;
    expect(u.attributes.origin).toBe(0);
    expect(u.errors).toBeUndefined();
  });

  it('UPDATE: malformed MP_REACH next hop resets with Optional Attribute Error', () => {
    expect(errorOf(decodeMessage(rawUpdate([...ORIGIN, ...AS_PATH_2, 0x80, 14, 8, 0, 1, 1, 3, 10, 0, 0, 0], [])))).toEqual([3, 9]);
  });

  it.each([
    ['bad ORIGIN value', [0x40, 1, 1, 7, ...AS_PATH_2, ...NEXT_HOP], AttrType.ORIGIN],
    ['AS_PATH segment overrun', [...ORIGIN, 0x40, 2, 4, 2, 3, 0, 1, ...NEXT_HOP], AttrType.AS_PATH],
    ['AS_PATH segment type 9', [...ORIGIN, 0x40, 2, 4, 9, 1, 0, 1, ...NEXT_HOP], AttrType.AS_PATH],
    ['NEXT_HOP of 3 bytes', [...ORIGIN, ...AS_PATH_2, 0x40, 3, 3, 10, 0, 0], AttrType.NEXT_HOP],
    ['MED of 2 bytes', [...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0x80, 4, 2, 0, 1], AttrType.MED],
    ['COMMUNITIES of 6 bytes', [...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0xc0, 8, 6, 0, 0, 0, 1, 0, 0], AttrType.COMMUNITIES],
    ['ORIGINATOR_ID of 2 bytes', [...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0x80, 9, 2, 0, 1], AttrType.ORIGINATOR_ID],
    ['CLUSTER_LIST of 5 bytes', [...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0x80, 10, 5, 0, 1, 0, 0, 0], AttrType.CLUSTER_LIST],
    ['MED flagged transitive', [...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0xc0, 4, 4, 0, 0, 0, 1], AttrType.MED],
    ['missing NEXT_HOP', [...ORIGIN, ...AS_PATH_2], AttrType.NEXT_HOP],
    ['missing ORIGIN', [...AS_PATH_2, ...NEXT_HOP], AttrType.ORIGIN],
    ['attribute overrunning the attribute field', [...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0x80, 4, 9, 0], AttrType.MED],
  ])('%s → treat-as-withdraw', (_name, attrs, code) => {
    const u = ok(decodeMessage(rawUpdate(attrs as number[]))) as UpdateMessage;
    expect(isTreatAsWithdraw(u)).toBe(true);
    expect(u.errors?.map((e) => e.attribute)).toContain(code);
    expect(u.nlri).toEqual(['10.0.1.0/24']);
  });

  it.each([
    ['ATOMIC_AGGREGATE of 1 byte', [0x40, 6, 1, 0], AttrType.ATOMIC_AGGREGATE],
    ['AGGREGATOR of 5 bytes', [0xc0, 7, 5, 0, 1, 10, 0, 0], AttrType.AGGREGATOR],
    ['AS4_PATH malformed', [0xc0, 17, 3, 2, 1, 0], AttrType.AS4_PATH],
  ])('%s → attribute discard, route kept', (_name, extra, code) => {
    const u = ok(decodeMessage(rawUpdate([...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, ...(extra as number[])]))) as UpdateMessage;
    expect(isTreatAsWithdraw(u)).toBe(false);
    expect(u.errors).toEqual([expect.objectContaining({ attribute: code, action: 'attribute-discard' })]);
    expect(u.attributes.nextHop).toBe('10.0.0.1');
  });

  it('LOCAL_PREF from an external peer is discarded, from an internal one kept', () => {
    const bytes = rawUpdate([...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0x40, 5, 4, 0, 0, 0, 200]);
    const ext = ok(decodeMessage(bytes, { ebgp: true })) as UpdateMessage;
    expect(ext.attributes.localPref).toBeUndefined();
    expect(ext.errors?.[0].action).toBe('attribute-discard');
    expect((ok(decodeMessage(bytes, { ebgp: false })) as UpdateMessage).attributes.localPref).toBe(200);
  });

  it('an unknown optional transitive attribute is kept and re-sent with the Partial bit; non-transitive dropped', () => {
    const u = ok(decodeMessage(rawUpdate([...ORIGIN, ...AS_PATH_2, ...NEXT_HOP, 0xc0, 99, 1, 5, 0x80, 98, 1, 6]))) as UpdateMessage;
    expect(u.attributes.unknown).toEqual([{ flags: 0xc0, code: 99, value: Uint8Array.of(5) }]);
    const again = ok(decodeMessage(encodeMessage(u))) as UpdateMessage;
    expect(again.attributes.unknown).toEqual([{ flags: 0xe0, code: 99, value: Uint8Array.of(5) }]);
  });
});
