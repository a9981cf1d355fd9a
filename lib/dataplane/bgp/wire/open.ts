import { formatAddress, parseAddress } from './address';
import { be16, be32, concat, u16, u32 } from './bytes';
import {
  AS_TRANS, Capabilities, CapabilityCode, DecodeResult, ErrorCode, OpenMessage, OpenSubcode, fail,
} from './types';

const OPTIONAL_PARAMETER_CAPABILITIES = 2;

/** OPEN body (after the 19-byte header), RFC 4271 §4.2 with capabilities (RFC 5492). */
export function decodeOpen(body: Uint8Array): DecodeResult<OpenMessage> {
  if (body.length < 10) return fail(ErrorCode.MESSAGE_HEADER, 2, `OPEN of ${body.length + 19} bytes is shorter than 29`, Uint8Array.from(be16(body.length + 19)));
  const version = body[0];
  if (version !== 4) return fail(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_VERSION, `BGP version ${version} (only 4)`, Uint8Array.from(be16(4)));
  const myAs = u16(body, 1);
  const holdTime = u16(body, 3);
  if (holdTime === 1 || holdTime === 2) return fail(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime} (0 or at least 3)`);
  const idBytes = body.subarray(5, 9);
  if (u32(idBytes, 0) === 0) return fail(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER, 'BGP identifier 0.0.0.0');
  const optLength = body[9];
  if (10 + optLength !== body.length) {
    return fail(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, `optional parameters length ${optLength} does not match the ${body.length - 10} bytes present`);
  }
  const caps: MutableCapabilities = { multiprotocol: [], routeRefresh: false, unknown: [] };
  let i = 10;
  while (i < body.length) {
    if (i + 2 > body.length) return fail(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, 'optional parameter header overruns the OPEN');
    const type = body[i];
    const length = body[i + 1];
    const end = i + 2 + length;
    if (end > body.length) return fail(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, `optional parameter ${type} overruns the OPEN`);
    if (type !== OPTIONAL_PARAMETER_CAPABILITIES) {
      return fail(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `optional parameter type ${type} (only capabilities, 2)`);
    }
    const error = decodeCapabilities(body, i + 2, end, caps);
    if (error) return fail(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSPECIFIC, error);
    i = end;
  }
  return { ok: true, value: { type: 'open', version, myAs, holdTime, routerId: formatAddress(idBytes), capabilities: caps } };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type MutableCapabilities = Mutable<Capabilities>;

function decodeCapabilities(buf: Uint8Array, start: number, end: number, caps: MutableCapabilities): string | undefined {
  let i = start;
  while (i < end) {
    if (i + 2 > end) return 'capability header overruns its parameter';
    const code = buf[i];
    const length = buf[i + 1];
    const v = i + 2;
    if (v + length > end) return `capability ${code} overruns its parameter`;
    const value = buf.subarray(v, v + length);
    switch (code) {
      case CapabilityCode.MULTIPROTOCOL:
        if (length !== 4) return `multiprotocol capability of length ${length} (4)`;
        caps.multiprotocol = [...caps.multiprotocol, { afi: u16(value, 0), safi: value[3] }];
        break;
      case CapabilityCode.ROUTE_REFRESH:
        caps.routeRefresh = true;
        break;
      case CapabilityCode.FOUR_OCTET_AS:
        if (length !== 4) return `4-octet AS capability of length ${length} (4)`;
        caps.fourOctetAs = u32(value, 0);
        break;
      case CapabilityCode.GRACEFUL_RESTART: {
        if (length < 2 || (length - 2) % 4 !== 0) return `graceful restart capability of length ${length} (2 + 4n)`;
        const families = [];
        for (let f = 2; f < length; f += 4) families.push({ afi: u16(value, f), safi: value[f + 2], forwardingPreserved: (value[f + 3] & 0x80) !== 0 });
        caps.gracefulRestart = { restartTime: u16(value, 0) & 0x0fff, restarting: (value[0] & 0x80) !== 0, families };
        break;
      }
      case CapabilityCode.ADD_PATH: {
        if (length % 4 !== 0) return `ADD-PATH capability of length ${length} (4n)`;
        const entries = [];
        for (let f = 0; f < length; f += 4) entries.push({ afi: u16(value, f), safi: value[f + 2], sendReceive: value[f + 3] });
        caps.addPath = entries;
        break;
      }
      default:
        caps.unknown = [...caps.unknown, { code, value: value.slice() }];
    }
    i = v + length;
  }
  return undefined;
}

/** The AS to put in My AS: the real one when it fits in 2 octets, else AS_TRANS (RFC 6793). */
export function myAsField(asn: number): number {
  return asn > 0xffff ? AS_TRANS : asn;
}

export function encodeOpenBody(open: Omit<OpenMessage, 'type'>): Uint8Array {
  const id = parseAddress(open.routerId);
  if (!id || id.length !== 4) throw new Error(`bgp: router id ${open.routerId} is not an IPv4 address`);
  const caps: number[][] = [];
  const c = open.capabilities;
  for (const mp of c.multiprotocol) caps.push([CapabilityCode.MULTIPROTOCOL, 4, ...be16(mp.afi), 0, mp.safi]);
  if (c.routeRefresh) caps.push([CapabilityCode.ROUTE_REFRESH, 0]);
  if (c.gracefulRestart) {
    const gr = c.gracefulRestart;
    const value = [...be16((gr.restarting ? 0x8000 : 0) | (gr.restartTime & 0x0fff))];
    for (const f of gr.families) value.push(...be16(f.afi), f.safi, f.forwardingPreserved ? 0x80 : 0);
    caps.push([CapabilityCode.GRACEFUL_RESTART, value.length, ...value]);
  }
  if (c.fourOctetAs !== undefined) caps.push([CapabilityCode.FOUR_OCTET_AS, 4, ...be32(c.fourOctetAs)]);
  if (c.addPath) {
    const value = c.addPath.flatMap((a) => [...be16(a.afi), a.safi, a.sendReceive]);
    caps.push([CapabilityCode.ADD_PATH, value.length, ...value]);
  }
  for (const u of c.unknown) caps.push([u.code, u.value.length, ...u.value]);
  // One capability per optional parameter, as BIRD and most speakers send them.
  const params = caps.flatMap((cap) => [OPTIONAL_PARAMETER_CAPABILITIES, cap.length, ...cap]);
  if (params.length > 255) throw new Error('bgp: OPEN optional parameters exceed 255 bytes');
  return concat([[open.version, ...be16(open.myAs), ...be16(open.holdTime)], id, [params.length], params]);
}
