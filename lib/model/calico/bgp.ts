import { isIpAddress } from '../cidr';
import { checkKnownKeys } from '../checks';
import { ValidationError } from '../errors';
import { checkObjectName, toSelector } from './pool';
import { Selector } from './selector';

/** 4-byte AS numbers (RFC 6793); 0 is reserved. */
export const AS_NUMBER_MIN = 1;
export const AS_NUMBER_MAX = 4294967295;
/** The default private AS of a Calico cluster. */
export const DEFAULT_AS_NUMBER = 64512;

/** How a peer's next hop is set on routes sent to it. */
export enum NextHopMode {
  /** eBGP: self; iBGP: keep (route reflector clients excepted). */
  AUTO = 'Auto',
  SELF = 'Self',
  KEEP = 'Keep',
}

/** One BGP peering, as a user writes it. Either `peerIp` (an external router) or `peerSelector` (cluster nodes). */
export interface BgpPeerSpec {
  /** Resource name. */
  readonly name: string;
  /** The peer's address: `ip`, `ip:port` or `[ipv6]:port`. Requires `asNumber`. @default - none; set peerIp or peerSelector */
  readonly peerIp?: string;
  /** Peer with every cluster node matching this selector (e.g. route reflectors). @default - none; set peerIp or peerSelector */
  readonly peerSelector?: Selector | string;
  /** The peer's AS. Required with `peerIp`. @default - the cluster AS when peerSelector is used */
  readonly asNumber?: number;
  /** Only this node peers. @default - every node (or those matching nodeSelector) */
  readonly node?: string;
  /** Only nodes matching this selector peer. @default - every node */
  readonly nodeSelector?: Selector | string;
  /** Secret (in the stack's namespace) holding the TCP-MD5 password. @default - no password */
  readonly passwordSecretName?: string;
  /** Key in that Secret. @default "password" */
  readonly passwordSecretKey?: string;
  /** @default NextHopMode.AUTO */
  readonly nextHopMode?: NextHopMode;
  /** Graceful-restart time. @default 120 */
  readonly maxRestartTimeSeconds?: number;
  /** Names of BGPFilter resources applied to this peer. @default - none */
  readonly filters?: readonly string[];
}

export interface ResolvedBgpPeer {
  readonly name: string;
  readonly peerIp?: string;
  readonly peerSelector?: Selector;
  readonly asNumber?: number;
  readonly node?: string;
  readonly nodeSelector?: Selector;
  readonly password?: { readonly secretName: string; readonly key: string };
  readonly nextHopMode: NextHopMode;
  readonly maxRestartTimeSeconds?: number;
  readonly filters: readonly string[];
}

export function checkAsNumber(field: string, value: number): number {
  if (!Number.isInteger(value) || value < AS_NUMBER_MIN || value > AS_NUMBER_MAX) {
    throw new ValidationError(field, value, `an AS number from ${AS_NUMBER_MIN} to ${AS_NUMBER_MAX}`);
  }
  return value;
}

/** `ip`, `ip:port` or `[v6]:port` (Calico's `peerIP` forms). */
export function isPeerAddress(text: string): boolean {
  if (typeof text !== 'string') return false;
  if (isIpAddress(text)) return true;
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  if (v6) return isIpAddress(v6[1], 6) && Number(v6[2]) >= 1 && Number(v6[2]) <= 65535;
  const v4 = /^([^:]+):(\d{1,5})$/.exec(text);
  return v4 !== null && isIpAddress(v4[1], 4) && Number(v4[2]) >= 1 && Number(v4[2]) <= 65535;
}

const PEER_KEYS: Record<keyof BgpPeerSpec, true> = {
  name: true, peerIp: true, peerSelector: true, asNumber: true, node: true, nodeSelector: true, passwordSecretName: true,
  passwordSecretKey: true, nextHopMode: true, maxRestartTimeSeconds: true, filters: true,
};

export function resolvePeer(spec: BgpPeerSpec, field: string): ResolvedBgpPeer {
  checkKnownKeys(field, spec, Object.keys(PEER_KEYS), 'a BGP peer');
  const name = checkObjectName(`${field}.name`, spec.name);
  if ((spec.peerIp === undefined) === (spec.peerSelector === undefined)) {
    throw new ValidationError(`${field}.peerIp`, spec.peerIp,
      'exactly one of peerIp (an external router) or peerSelector (cluster nodes)');
  }
  if (spec.peerIp !== undefined) {
    if (!isPeerAddress(spec.peerIp)) {
      throw new ValidationError(`${field}.peerIp`, spec.peerIp, 'an address as ip, ip:port or [ipv6]:port');
    }
    if (spec.asNumber === undefined) {
      throw new ValidationError(`${field}.asNumber`, spec.asNumber, `the AS number of peer ${spec.peerIp} (from ${AS_NUMBER_MIN} to ${AS_NUMBER_MAX})`);
    }
  }
  if (spec.asNumber !== undefined) checkAsNumber(`${field}.asNumber`, spec.asNumber);
  if (spec.node !== undefined && spec.nodeSelector !== undefined) {
    throw new ValidationError(`${field}.nodeSelector`, String(spec.nodeSelector), 'unset when node is set (one node or a selector, not both)');
  }
  if (spec.node !== undefined) checkObjectName(`${field}.node`, spec.node);
  if (spec.passwordSecretKey !== undefined && spec.passwordSecretName === undefined) {
    throw new ValidationError(`${field}.passwordSecretName`, undefined, 'the name of the Secret holding passwordSecretKey');
  }
  if (spec.passwordSecretName !== undefined) checkObjectName(`${field}.passwordSecretName`, spec.passwordSecretName);
  if (spec.maxRestartTimeSeconds !== undefined && (!Number.isInteger(spec.maxRestartTimeSeconds) || spec.maxRestartTimeSeconds < 1)) {
    throw new ValidationError(`${field}.maxRestartTimeSeconds`, spec.maxRestartTimeSeconds, 'a positive whole number of seconds');
  }
  if (spec.nextHopMode !== undefined && !Object.values(NextHopMode).includes(spec.nextHopMode)) {
    throw new ValidationError(`${field}.nextHopMode`, spec.nextHopMode, `one of ${Object.values(NextHopMode).join(', ')}`);
  }
  (spec.filters ?? []).forEach((f, i) => checkObjectName(`${field}.filters[${i}]`, f));
  return {
    name,
    peerIp: spec.peerIp,
    peerSelector: spec.peerSelector === undefined ? undefined : toSelector(`${field}.peerSelector`, spec.peerSelector, Selector.all()),
    asNumber: spec.asNumber,
    node: spec.node,
    nodeSelector: spec.nodeSelector === undefined ? undefined : toSelector(`${field}.nodeSelector`, spec.nodeSelector, Selector.all()),
    password: spec.passwordSecretName === undefined ? undefined
      : { secretName: spec.passwordSecretName, key: spec.passwordSecretKey ?? 'password' },
    nextHopMode: spec.nextHopMode ?? NextHopMode.AUTO,
    maxRestartTimeSeconds: spec.maxRestartTimeSeconds,
    filters: [...(spec.filters ?? [])],
  };
}
