import { BgpMessage, DecodeResult, SessionCodecContext, decodeMessage, encodeMessage } from '../../../lib/dataplane/bgp/wire';
import { prng, samples } from './fixtures';

/**
 * Fuzz-style robustness: thousands of random and mutated messages. Whatever the input, the
 * decoder returns a message (possibly with RFC 7606 actions) or a defined NOTIFICATION error;
 * nothing throws, and the decoder's own catch-all (Cease, "decoder fault") never fires.
 */
const SEED = Number(process.env.BGP_FUZZ_SEED ?? 0x5eed);
const ROUNDS = 6000;
const TYPES = new Set(['open', 'update', 'notification', 'keepalive', 'route-refresh']);
const DEFINED: Record<number, readonly number[]> = {
  1: [1, 2, 3], 2: [0, 1, 2, 3, 4, 6, 7], 3: [1, 2, 3, 4, 5, 6, 8, 9, 10, 11],
};

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);

function fixHeaderLength(m: Uint8Array): Uint8Array {
  if (m.length >= 19) { m[16] = (m.length >> 8) & 0xff; m[17] = m.length & 0xff; }
  return m;
}

/** Byte offsets of each attribute inside a valid UPDATE (to duplicate or corrupt their lengths). */
function attributeSpans(m: Uint8Array): { start: number; end: number; lengthAt: number; ext: boolean }[] {
  if (m[18] !== 2) return [];
  const wl = (m[19] << 8) | m[20];
  const at = 21 + wl;
  const tal = (m[at] << 8) | m[at + 1];
  const spans = [];
  for (let i = at + 2; i < at + 2 + tal;) {
    const ext = (m[i] & 0x10) !== 0;
    const len = ext ? (m[i + 2] << 8) | m[i + 3] : m[i + 2];
    const end = i + (ext ? 4 : 3) + len;
    spans.push({ start: i, end, lengthAt: i + 2, ext });
    i = end;
  }
  return spans;
}

function duplicateAttribute(m: Uint8Array, r: Rand): Uint8Array {
  const spans = attributeSpans(m);
  if (!spans.length) return m;
  const s = spans[int(r, spans.length)];
  const wl = (m[19] << 8) | m[20];
  const talAt = 21 + wl;
  const out = Uint8Array.from([...m.subarray(0, s.end), ...m.subarray(s.start, s.end), ...m.subarray(s.end)]);
  const tal = ((out[talAt] << 8) | out[talAt + 1]) + (s.end - s.start);
  out[talAt] = tal >> 8; out[talAt + 1] = tal & 0xff;
  return fixHeaderLength(out);
}

function mutate(base: Uint8Array, r: Rand): Uint8Array {
  let m: Uint8Array = Uint8Array.from(base);
  const steps = 1 + int(r, 3);
  for (let s = 0; s < steps; s++) {
    switch (int(r, 7)) {
      case 0: { // bit flips past the marker (marker flips are covered too, less often)
        const n = 1 + int(r, 4);
        for (let k = 0; k < n; k++) { const at = r() < 0.1 ? int(r, m.length) : 16 + int(r, Math.max(1, m.length - 16)); if (at < m.length) m[at] ^= 1 << int(r, 8); }
        break;
      }
      case 1: // truncation with the header length kept consistent, so the body parser sees it
        m = fixHeaderLength(m.slice(0, 19 + int(r, Math.max(1, m.length - 18))));
        break;
      case 2: // raw truncation (header now disagrees)
        m = m.slice(0, int(r, m.length + 1));
        break;
      case 3: { // length-field corruption: header, withdrawn, total attribute, or one attribute length
        const spans = attributeSpans(m);
        const targets = [16, 17, 19, 20, ...spans.map((sp) => sp.lengthAt)];
        const at = targets[int(r, targets.length)];
        if (at < m.length) m[at] = r() < 0.5 ? int(r, 256) : (m[at] + (r() < 0.5 ? 1 : 255)) & 0xff;
        break;
      }
      case 4:
        m = duplicateAttribute(m, r);
        break;
      case 5: { // random bytes appended to the body
        const extra = Array.from({ length: 1 + int(r, 12) }, () => int(r, 256));
        m = fixHeaderLength(Uint8Array.from([...m, ...extra]));
        break;
      }
      default: { // a random byte overwritten anywhere in the body
        if (m.length > 19) m[19 + int(r, m.length - 19)] = int(r, 256);
      }
    }
  }
  return m;
}

function randomMessage(r: Rand): Uint8Array {
  const length = 19 + int(r, 120);
  const m = Uint8Array.from({ length }, () => int(r, 256));
  m.fill(0xff, 0, 16);
  m[18] = 1 + int(r, 5);
  return fixHeaderLength(m);
}

function checkResult(result: DecodeResult<BgpMessage>, input: Uint8Array): void {
  if (result.ok) {
    if (!TYPES.has(result.value.type)) throw new Error(`unknown message type for ${Buffer.from(input).toString('hex')}`);
    return;
  }
  const allowed = DEFINED[result.error.code];
  if (!allowed || !allowed.includes(result.error.subcode)) {
    throw new Error(`undefined error ${result.error.code}/${result.error.subcode} (${result.error.reason}) for ${Buffer.from(input).toString('hex')}`);
  }
}

describe(`BGP codec fuzz (seed ${SEED}, BGP_FUZZ_SEED to change)`, () => {
  it(`${ROUNDS} random and mutated messages: every result is a message or a defined error, nothing throws`, () => {
    const r = prng(SEED);
    const contexts: SessionCodecContext[] = [{}, { fourOctetAs: true }, { ebgp: true }, { fourOctetAs: true, ebgp: true }];
    const bases = samples.flatMap((s) => [encodeMessage(s, {}), encodeMessage(s, { fourOctetAs: true })]);
    const tally = { messages: 0, errors: 0, withdrawn: 0, discarded: 0, reencoded: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const input = r() < 0.15 ? randomMessage(r) : mutate(bases[int(r, bases.length)], r);
      const ctx = contexts[int(r, contexts.length)];
      let result: DecodeResult<BgpMessage>;
      try {
        result = decodeMessage(input, ctx);
      } catch (e) {
        throw new Error(`round ${i}: decoder threw ${(e as Error).message} on ${Buffer.from(input).toString('hex')}`);
      }
      checkResult(result, input);
      if (!result.ok) { tally.errors++; continue; }
      tally.messages++;
      const msg = result.value;
      if (msg.type === 'update') {
        for (const e of msg.errors ?? []) tally[e.action === 'treat-as-withdraw' ? 'withdrawn' : 'discarded']++;
        // Whatever was accepted can be sent on and reads back the same (the speaker re-advertises it).
        if (!msg.errors && msg.attributes.asPath !== undefined) {
          let bytes: Uint8Array | undefined;
          try { bytes = encodeMessage(msg, ctx); } catch { bytes = undefined; } // e.g. grew past 4096 bytes
          if (bytes) {
            // Unknown transitive attributes go out with the Partial bit set (RFC 4271 §5).
            const unknown = msg.attributes.unknown?.map((u) => ({ ...u, flags: u.flags | 0x20 }));
            const expected = unknown ? { ...msg, attributes: { ...msg.attributes, unknown } } : msg;
            expect(decodeMessage(bytes, ctx)).toEqual({ ok: true, value: expected });
            tally.reencoded++;
          }
        }
      }
    }
    // The fuzzer must reach deep: both outcomes and both RFC 7606 actions happen many times.
    expect(tally.messages).toBeGreaterThan(ROUNDS / 10);
    expect(tally.errors).toBeGreaterThan(ROUNDS / 10);
    expect(tally.withdrawn).toBeGreaterThan(50);
    expect(tally.discarded).toBeGreaterThan(20);
    expect(tally.reencoded).toBeGreaterThan(50);
  });
});
