import { AFI_IPV4, AFI_IPV6, AddressFamily, SAFI_UNICAST, familyOfAfi } from './address';
import { be16, concat, u16 } from './bytes';
import { decodeAttributes, encodeAttributes } from './attributes';
import { decodePrefixes, encodePrefixes } from './nlri';
import { AttrType, AttributeError, DecodeResult, ErrorCode, SessionCodecContext, UpdateMessage, UpdateSubcode, fail } from './types';

/** UPDATE body (after the header), RFC 4271 §4.3 with RFC 7606 error handling. */
export function decodeUpdate(body: Uint8Array, ctx: SessionCodecContext): DecodeResult<UpdateMessage> {
  const list = (reason: string) => fail<UpdateMessage>(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, reason);
  if (body.length < 4) return list('UPDATE shorter than 23 bytes');
  const withdrawnLength = u16(body, 0);
  if (2 + withdrawnLength + 2 > body.length) return list(`withdrawn routes length ${withdrawnLength} overruns the UPDATE`);
  const attrStart = 2 + withdrawnLength + 2;
  const attrLength = u16(body, 2 + withdrawnLength);
  if (attrStart + attrLength > body.length) return list(`total path attribute length ${attrLength} overruns the UPDATE`);
  const withdrawn = decodePrefixes(body, 2, 2 + withdrawnLength, 'ipv4');
  if (!withdrawn) return fail(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.INVALID_NETWORK_FIELD, 'malformed withdrawn routes');
  const nlri = decodePrefixes(body, attrStart + attrLength, body.length, 'ipv4');
  if (!nlri) return fail(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.INVALID_NETWORK_FIELD, 'malformed NLRI');
  const decoded = decodeAttributes(body, attrStart, attrStart + attrLength, ctx);
  if ('code' in decoded) return { ok: false, error: decoded };
  const { attributes, mpReach, mpUnreach } = decoded;
  const errors: AttributeError[] = decoded.errors;
  const announces = nlri.length > 0 || (mpReach?.nlri.length ?? 0) > 0;
  if (announces) {
    // RFC 7606 §3d: a missing well-known mandatory attribute means treat-as-withdraw.
    const malformed = new Set(errors.map((e) => e.attribute));
    const missing = (code: number, name: string) => {
      if (!malformed.has(code)) errors.push({ attribute: code, action: 'treat-as-withdraw', reason: `missing ${name}` });
    };
    if (attributes.origin === undefined) missing(AttrType.ORIGIN, 'ORIGIN');
    if (attributes.asPath === undefined) missing(AttrType.AS_PATH, 'AS_PATH');
    if (nlri.length > 0 && attributes.nextHop === undefined) missing(AttrType.NEXT_HOP, 'NEXT_HOP');
  }
  const value: UpdateMessage = {
    type: 'update', withdrawn, attributes, nlri,
    ...(mpReach ? { mpReach } : {}),
    ...(mpUnreach ? { mpUnreach } : {}),
    ...(errors.length ? { errors } : {}),
  };
  return { ok: true, value };
}

export function encodeUpdateBody(update: Omit<UpdateMessage, 'type' | 'errors'>, ctx: SessionCodecContext): Uint8Array {
  const withdrawn = encodePrefixes(update.withdrawn, 'ipv4');
  const attrs = encodeAttributes(update.attributes, ctx, update.mpReach, update.mpUnreach);
  return concat([be16(withdrawn.length), withdrawn, be16(attrs.length), attrs, encodePrefixes(update.nlri, 'ipv4')]);
}

/** True when RFC 7606 handling says every prefix this UPDATE announces is to be withdrawn. */
export function isTreatAsWithdraw(update: UpdateMessage): boolean {
  return (update.errors ?? []).some((e) => e.action === 'treat-as-withdraw');
}

/** The family an End-of-RIB marker (RFC 4724 §2) closes, or undefined when the UPDATE is not one. */
export function endOfRibFamily(update: UpdateMessage): AddressFamily | undefined {
  const a = update.attributes;
  const bare = update.withdrawn.length === 0 && update.nlri.length === 0 && !update.mpReach
    && a.origin === undefined && a.asPath === undefined && a.nextHop === undefined && !update.errors;
  if (!bare) return undefined;
  if (!update.mpUnreach) return Object.keys(a).length === 0 ? 'ipv4' : undefined;
  return update.mpUnreach.withdrawn.length === 0 && update.mpUnreach.safi === SAFI_UNICAST ? familyOfAfi(update.mpUnreach.afi) : undefined;
}

export function endOfRib(family: AddressFamily): UpdateMessage {
  if (family === 'ipv4') return { type: 'update', withdrawn: [], attributes: {}, nlri: [] };
  return { type: 'update', withdrawn: [], attributes: {}, nlri: [], mpUnreach: { afi: family === 'ipv6' ? AFI_IPV6 : AFI_IPV4, safi: SAFI_UNICAST, withdrawn: [] } };
}
