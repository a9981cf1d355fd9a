/**
 * BGP-4 messages as plain data (RFC 4271, 4760, 6793, 4724, 4456, 2918, 7606). The codec turns
 * bytes into these and back; it never throws on bad input: decoders return `DecodeResult`.
 */

export const MARKER_LENGTH = 16;
export const HEADER_LENGTH = 19;
export const MAX_MESSAGE_LENGTH = 4096;

export const MessageType = { OPEN: 1, UPDATE: 2, NOTIFICATION: 3, KEEPALIVE: 4, ROUTE_REFRESH: 5 } as const;

/** NOTIFICATION error codes and subcodes (RFC 4271 §4.5, RFC 5492, RFC 4486). */
export const ErrorCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
} as const;

export const HeaderSubcode = { NOT_SYNCHRONIZED: 1, BAD_LENGTH: 2, BAD_TYPE: 3 } as const;

export const OpenSubcode = {
  UNSPECIFIC: 0,
  UNSUPPORTED_VERSION: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
} as const;

export const UpdateSubcode = {
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN: 2,
  MISSING_WELL_KNOWN: 3,
  ATTRIBUTE_FLAGS: 4,
  ATTRIBUTE_LENGTH: 5,
  INVALID_ORIGIN: 6,
  INVALID_NEXT_HOP: 8,
  OPTIONAL_ATTRIBUTE: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** Cease subcodes (RFC 4486). */
export const CeaseSubcode = {
  MAX_PREFIXES: 1,
  ADMINISTRATIVE_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMINISTRATIVE_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIGURATION_CHANGE: 6,
  CONNECTION_COLLISION: 7,
  OUT_OF_RESOURCES: 8,
} as const;

/** Path attribute type codes. */
export const AttrType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MED: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  ORIGINATOR_ID: 9,
  CLUSTER_LIST: 10,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
} as const;

export const AttrFlag = { OPTIONAL: 0x80, TRANSITIVE: 0x40, PARTIAL: 0x20, EXTENDED_LENGTH: 0x10 } as const;

/** Capability codes (IANA). */
export const CapabilityCode = {
  MULTIPROTOCOL: 1,
  ROUTE_REFRESH: 2,
  GRACEFUL_RESTART: 64,
  FOUR_OCTET_AS: 65,
  ADD_PATH: 69,
  ENHANCED_ROUTE_REFRESH: 70,
} as const;

/** RFC 6793: the 2-octet stand-in for a 4-octet AS. */
export const AS_TRANS = 23456;

/** A NOTIFICATION we must send: the decoder's answer to input it cannot accept. */
export interface BgpError {
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
  /** One line for logs: what was wrong. */
  readonly reason: string;
}

export type DecodeResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: BgpError };

export interface AfiSafi {
  readonly afi: number;
  readonly safi: number;
}

export interface GracefulRestartCapability {
  /** Seconds, 12 bits. */
  readonly restartTime: number;
  /** R bit: the sender has restarted. */
  readonly restarting: boolean;
  readonly families: readonly (AfiSafi & { readonly forwardingPreserved: boolean })[];
}

export interface Capabilities {
  readonly multiprotocol: readonly AfiSafi[];
  /** RFC 6793: the sender's real AS; undefined when it is a 2-octet-only speaker. */
  readonly fourOctetAs?: number;
  readonly routeRefresh: boolean;
  readonly gracefulRestart?: GracefulRestartCapability;
  /** RFC 7911, parsed and ignored by the speaker (it never sends path identifiers). */
  readonly addPath?: readonly (AfiSafi & { readonly sendReceive: number })[];
  readonly unknown: readonly { readonly code: number; readonly value: Uint8Array }[];
}

export interface OpenMessage {
  readonly type: 'open';
  readonly version: number;
  /** The 2-octet My AS field (AS_TRANS when the real AS is in the capability). */
  readonly myAs: number;
  readonly holdTime: number;
  readonly routerId: string;
  readonly capabilities: Capabilities;
}

export enum Origin {
  IGP = 0,
  EGP = 1,
  INCOMPLETE = 2,
}

export interface AsPathSegment {
  readonly type: 'set' | 'sequence';
  readonly asns: readonly number[];
}

/** An attribute the speaker does not interpret, passed on when optional transitive. */
export interface RawAttribute {
  readonly flags: number;
  readonly code: number;
  readonly value: Uint8Array;
}

export interface PathAttributes {
  readonly origin?: Origin;
  /** With AS4_PATH already merged in when the session is 2-octet. */
  readonly asPath?: readonly AsPathSegment[];
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: boolean;
  readonly aggregator?: { readonly asn: number; readonly address: string };
  readonly communities?: readonly number[];
  readonly originatorId?: string;
  readonly clusterList?: readonly string[];
  readonly unknown?: readonly RawAttribute[];
}

export interface MpReach {
  readonly afi: number;
  readonly safi: number;
  /** One next hop, or for IPv6 a global and a link-local one. */
  readonly nextHops: readonly string[];
  readonly nlri: readonly string[];
}

export interface MpUnreach {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly string[];
}

/** A RFC 7606 action the decoder took instead of resetting the session. */
export interface AttributeError {
  readonly attribute: number;
  readonly action: 'treat-as-withdraw' | 'attribute-discard';
  readonly reason: string;
}

export interface UpdateMessage {
  readonly type: 'update';
  /** IPv4 prefixes withdrawn. */
  readonly withdrawn: readonly string[];
  readonly attributes: PathAttributes;
  /** IPv4 prefixes announced. */
  readonly nlri: readonly string[];
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  /** Set by the decoder when RFC 7606 handling applied; `treat-as-withdraw` means every announced prefix is to be withdrawn. */
  readonly errors?: readonly AttributeError[];
}

export interface NotificationMessage {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

export interface KeepaliveMessage {
  readonly type: 'keepalive';
}

export interface RouteRefreshMessage {
  readonly type: 'route-refresh';
  readonly afi: number;
  readonly safi: number;
}

export type BgpMessage = OpenMessage | UpdateMessage | NotificationMessage | KeepaliveMessage | RouteRefreshMessage;

/** What the decoder needs to know about the session. */
export interface SessionCodecContext {
  /** Both sides sent the 4-octet AS capability: AS_PATH carries 4-octet ASNs. @default false */
  readonly fourOctetAs?: boolean;
  /** The peer is in another AS (LOCAL_PREF from it is discarded). @default false */
  readonly ebgp?: boolean;
}

export function bgpError(code: number, subcode: number, reason: string, data: Uint8Array = new Uint8Array(0)): BgpError {
  return { code, subcode, data, reason };
}

export function fail<T>(code: number, subcode: number, reason: string, data?: Uint8Array): DecodeResult<T> {
  return { ok: false, error: bgpError(code, subcode, reason, data) };
}
