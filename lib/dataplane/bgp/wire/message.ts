import { be16, concat, u16 } from './bytes';
import { decodeOpen, encodeOpenBody } from './open';
import { decodeUpdate, encodeUpdateBody } from './update';
import {
  BgpError, BgpMessage, DecodeResult, ErrorCode, HEADER_LENGTH, HeaderSubcode, MARKER_LENGTH, MAX_MESSAGE_LENGTH, MessageType,
  SessionCodecContext, bgpError, fail,
} from './types';

const MIN_LENGTH: Record<number, number> = {
  [MessageType.OPEN]: 29, [MessageType.UPDATE]: 23, [MessageType.NOTIFICATION]: 21, [MessageType.KEEPALIVE]: 19, [MessageType.ROUTE_REFRESH]: 23,
};

/**
 * Checks the header at the start of `buf` (RFC 4271 §6.1). `incomplete` when fewer than 19 bytes
 * are there; otherwise the full message length (which may be more than `buf` holds) or an error.
 */
export function readHeader(buf: Uint8Array): { readonly kind: 'incomplete' } | { readonly kind: 'message'; readonly length: number; readonly type: number } | { readonly kind: 'error'; readonly error: BgpError } {
  if (buf.length < HEADER_LENGTH) return { kind: 'incomplete' };
  for (let i = 0; i < MARKER_LENGTH; i++) {
    if (buf[i] !== 0xff) return { kind: 'error', error: bgpError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.NOT_SYNCHRONIZED, 'marker is not all ones') };
  }
  const length = u16(buf, 16);
  const type = buf[18];
  const badLength = () => ({ kind: 'error' as const, error: bgpError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_LENGTH, `message length ${length}`, Uint8Array.from(be16(length))) });
  if (length < HEADER_LENGTH || length > MAX_MESSAGE_LENGTH) return badLength();
  const min = MIN_LENGTH[type];
  if (min === undefined) return { kind: 'error', error: bgpError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_TYPE, `message type ${type}`, Uint8Array.of(type)) };
  if (length < min || (type === MessageType.KEEPALIVE && length !== 19) || (type === MessageType.ROUTE_REFRESH && length !== 23)) return badLength();
  return { kind: 'message', length, type };
}

/** Decodes exactly one whole message (header included). Never throws. */
export function decodeMessage(buf: Uint8Array, ctx: SessionCodecContext = {}): DecodeResult<BgpMessage> {
  try {
    const header = readHeader(buf);
    if (header.kind === 'incomplete') return fail(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_LENGTH, `message of ${buf.length} bytes is shorter than a header`, Uint8Array.from(be16(buf.length)));
    if (header.kind === 'error') return { ok: false, error: header.error };
    if (header.length !== buf.length) return fail(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_LENGTH, `header says ${header.length} bytes, ${buf.length} given`, Uint8Array.from(be16(header.length)));
    const body = buf.subarray(HEADER_LENGTH);
    switch (header.type) {
      case MessageType.OPEN: return decodeOpen(body);
      case MessageType.UPDATE: return decodeUpdate(body, ctx);
      case MessageType.NOTIFICATION: return { ok: true, value: { type: 'notification', code: body[0], subcode: body[1], data: body.slice(2) } };
      case MessageType.KEEPALIVE: return { ok: true, value: { type: 'keepalive' } };
      default: return { ok: true, value: { type: 'route-refresh', afi: u16(body, 0), safi: body[3] } };
    }
  } catch (e) {
    // Defence in depth: a decoder bug must still end as a defined error, not a crashed agent.
    return fail(ErrorCode.CEASE, 0, `decoder fault: ${(e as Error).message}`);
  }
}

export function encodeMessage(message: BgpMessage, ctx: SessionCodecContext = {}): Uint8Array {
  let type: number;
  let body: Uint8Array;
  switch (message.type) {
    case 'open': type = MessageType.OPEN; body = encodeOpenBody(message); break;
    case 'update': type = MessageType.UPDATE; body = encodeUpdateBody(message, ctx); break;
    case 'notification': type = MessageType.NOTIFICATION; body = concat([[message.code, message.subcode], message.data]); break;
    case 'keepalive': type = MessageType.KEEPALIVE; body = new Uint8Array(0); break;
    case 'route-refresh': type = MessageType.ROUTE_REFRESH; body = Uint8Array.from([...be16(message.afi), 0, message.safi]); break;
  }
  const length = HEADER_LENGTH + body.length;
  if (length > MAX_MESSAGE_LENGTH) throw new Error(`bgp: ${message.type} message of ${length} bytes exceeds ${MAX_MESSAGE_LENGTH}`);
  const out = new Uint8Array(length);
  out.fill(0xff, 0, MARKER_LENGTH);
  out.set(be16(length), 16);
  out[18] = type;
  out.set(body, HEADER_LENGTH);
  return out;
}

/** Cuts a TCP byte stream into whole messages. */
export class MessageFramer {
  private buffer: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    this.buffer = this.buffer.length ? concat([this.buffer, chunk]) : Uint8Array.from(chunk);
  }

  /** The next whole message's bytes, a header error (the stream is unusable after it), or undefined to wait for more. */
  next(): { readonly frame: Uint8Array } | { readonly error: BgpError } | undefined {
    const header = readHeader(this.buffer);
    if (header.kind === 'incomplete') return undefined;
    if (header.kind === 'error') return { error: header.error };
    if (this.buffer.length < header.length) return undefined;
    const frame = this.buffer.subarray(0, header.length);
    this.buffer = this.buffer.subarray(header.length);
    return { frame };
  }
}
