import { isIPv4 } from 'node:net';
import { AddressFamily, AFI_IPV4, AFI_IPV6, SAFI_UNICAST, afiOf, familyOfAfi } from '../wire/address';
import {
  BgpError, BgpMessage, CeaseSubcode, ErrorCode, NotificationMessage, OpenMessage, OpenSubcode, SessionCodecContext, UpdateMessage,
} from '../wire/types';
import { myAsField } from '../wire/open';
import { endOfRibFamily } from '../wire/update';

/** RFC 4271 §8.2.2 states. */
export type SessionState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export type TimerName = 'connect-retry' | 'hold' | 'keepalive' | 'idle-hold';

export interface SessionConfig {
  readonly localAs: number;
  /** Undefined accepts any AS (not used by the speaker; tests). */
  readonly peerAs?: number;
  readonly routerId: string;
  /** Wait for the peer to connect (Calico mesh: the side with the higher address). @default false */
  readonly passive?: boolean;
  /** @default 90 (RFC 4271) */
  readonly holdTime?: number;
  /** @default a third of the negotiated hold time */
  readonly keepaliveTime?: number;
  /** @default 120 (RFC 4271; Calico's BIRD uses 5) */
  readonly connectRetryTime?: number;
  /** Wait after an error before starting again. @default 5 */
  readonly idleHoldTime?: number;
  /**
   * The address families this session carries (Multiprotocol capabilities in our OPEN). Calico runs
   * one session per family: IPv4 unicast over IPv4, IPv6 unicast over IPv6. A peer offering none
   * of them is refused (2/7); what it sends for a family not negotiated is ignored. @default ['ipv4']
   */
  readonly families?: readonly AddressFamily[];
  /** Our graceful-restart time to advertise (RFC 4724); undefined advertises no capability. @default undefined */
  readonly gracefulRestartTime?: number;
  /** We kept forwarding state (kernel routes) across our own restart. @default true */
  readonly forwardingPreserved?: boolean;
}

/** What both OPENs agreed. */
export interface Negotiated {
  readonly peerAs: number;
  readonly peerRouterId: string;
  readonly holdTime: number;
  readonly keepaliveTime: number;
  readonly families: readonly AddressFamily[];
  readonly fourOctetAs: boolean;
  readonly routeRefresh: boolean;
  /** The peer's graceful-restart capability, when it sent one. */
  readonly peerGracefulRestart?: {
    readonly restartTime: number;
    /** Families listed in its capability: their routes are retained while it restarts (RFC 4724 §4.2). */
    readonly families: readonly AddressFamily[];
    /** Families with the F bit: it kept forwarding through its own restart, so our stale routes may stay until its End-of-RIB. */
    readonly preserved: readonly AddressFamily[];
    readonly restarting: boolean;
  };
  readonly codec: SessionCodecContext;
}

export type SessionEvent =
  | { readonly type: 'start' }
  | { readonly type: 'stop'; readonly reason?: string }
  /** The TCP connection (ours or the peer's, accepted) is up. */
  | { readonly type: 'tcp-connected' }
  | { readonly type: 'tcp-failed'; readonly reason?: string }
  | { readonly type: 'tcp-closed'; readonly reason?: string }
  | { readonly type: 'message'; readonly message: BgpMessage }
  /** The codec rejected a message: we owe the peer this NOTIFICATION. */
  | { readonly type: 'decode-error'; readonly error: BgpError }
  | { readonly type: 'timer'; readonly timer: TimerName };

export type SessionAction =
  | { readonly type: 'connect' }
  | { readonly type: 'disconnect' }
  | { readonly type: 'send'; readonly message: BgpMessage }
  | { readonly type: 'set-timer'; readonly timer: TimerName; readonly seconds: number }
  | { readonly type: 'clear-timer'; readonly timer: TimerName }
  | { readonly type: 'established'; readonly negotiated: Negotiated }
  /** Routes from the peer are to be handed to the RIB. */
  | { readonly type: 'update'; readonly message: Extract<BgpMessage, { type: 'update' }> }
  | { readonly type: 'route-refresh'; readonly family: AddressFamily }
  /** Part of a message was for a family this session did not negotiate and was dropped (RFC 4760 §7, as BIRD does). */
  | { readonly type: 'ignored'; readonly reason: string }
  /**
   * The session left Established. `graceful` when the peer advertised graceful restart and the
   * session ended without a NOTIFICATION (RFC 4724 §4.2): keep its routes as stale.
   */
  | { readonly type: 'down'; readonly reason: string; readonly graceful: boolean };

const OPEN_SENT_HOLD = 240; // RFC 4271 §8.2.2 "large value" while waiting for OPEN

/**
 * One BGP connection's finite state machine (RFC 4271 §8), pure: events in, actions out. Timers
 * are actions (`set-timer`/`clear-timer`) and come back as `timer` events, so tests drive time
 * and the transport edge owns the real clock.
 */
export class SessionFsm {
  private current: SessionState = 'Idle';
  private agreed?: Negotiated;

  constructor(readonly config: SessionConfig) {}

  get state(): SessionState {
    return this.current;
  }

  get negotiated(): Negotiated | undefined {
    return this.agreed;
  }

  /** Our OPEN for this session. */
  open(): OpenMessage {
    const c = this.config;
    const families = c.families ?? ['ipv4'];
    return {
      type: 'open', version: 4, myAs: myAsField(c.localAs), holdTime: c.holdTime ?? 90, routerId: c.routerId,
      capabilities: {
        multiprotocol: families.map((f) => ({ afi: afiOf(f), safi: SAFI_UNICAST })),
        fourOctetAs: c.localAs,
        routeRefresh: true,
        ...(c.gracefulRestartTime === undefined ? {} : {
          gracefulRestart: {
            restartTime: Math.min(4095, c.gracefulRestartTime), restarting: false,
            families: families.map((f) => ({ afi: afiOf(f), safi: SAFI_UNICAST, forwardingPreserved: c.forwardingPreserved ?? true })),
          },
        }),
        unknown: [],
      },
    };
  }

  handle(event: SessionEvent): SessionAction[] {
    const out: SessionAction[] = [];
    const state = this.current;
    if (event.type === 'stop') {
      if (state === 'OpenSent' || state === 'OpenConfirm' || state === 'Established') {
        out.push(send(notification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN)));
      }
      this.toIdle(out, event.reason ?? 'stopped', false, false);
      return out;
    }
    switch (state) {
      case 'Idle':
        if (event.type === 'start' || (event.type === 'timer' && event.timer === 'idle-hold')) this.begin(out);
        break;
      case 'Connect':
      case 'Active':
        this.connecting(event, out);
        break;
      case 'OpenSent':
        this.openSent(event, out);
        break;
      case 'OpenConfirm':
        this.openConfirm(event, out);
        break;
      case 'Established':
        this.established(event, out);
        break;
    }
    return out;
  }

  private begin(out: SessionAction[]): void {
    out.push({ type: 'set-timer', timer: 'connect-retry', seconds: this.config.connectRetryTime ?? 120 });
    if (this.config.passive) {
      this.current = 'Active';
    } else {
      this.current = 'Connect';
      out.push({ type: 'connect' });
    }
  }

  private connecting(event: SessionEvent, out: SessionAction[]): void {
    switch (event.type) {
      case 'tcp-connected':
        out.push({ type: 'clear-timer', timer: 'connect-retry' }, send(this.open()), { type: 'set-timer', timer: 'hold', seconds: OPEN_SENT_HOLD });
        this.current = 'OpenSent';
        return;
      case 'tcp-failed':
      case 'tcp-closed':
        out.push({ type: 'disconnect' });
        this.current = 'Active';
        return;
      case 'timer':
        if (event.timer === 'connect-retry') {
          out.push({ type: 'set-timer', timer: 'connect-retry', seconds: this.config.connectRetryTime ?? 120 });
          if (!this.config.passive) {
            out.push({ type: 'disconnect' }, { type: 'connect' });
            this.current = 'Connect';
          }
        }
        return;
      default:
        // A message or decode error without a session is noise on a half-open connection.
        return;
    }
  }

  private openSent(event: SessionEvent, out: SessionAction[]): void {
    switch (event.type) {
      case 'message':
        if (event.message.type === 'open') {
          const checked = this.checkOpen(event.message);
          if ('code' in checked) return this.fail(out, checked);
          this.agreed = checked;
          out.push(send({ type: 'keepalive' }));
          this.armTimers(out);
          this.current = 'OpenConfirm';
          return;
        }
        if (event.message.type === 'notification') return this.toIdle(out, describeNotification(event.message), false, true);
        return this.fail(out, { code: ErrorCode.FSM, subcode: 1, data: new Uint8Array(0), reason: `${event.message.type} in OpenSent` });
      case 'decode-error':
        return this.fail(out, event.error);
      case 'tcp-closed':
      case 'tcp-failed':
        out.push({ type: 'disconnect' }, { type: 'clear-timer', timer: 'hold' }, { type: 'set-timer', timer: 'connect-retry', seconds: this.config.connectRetryTime ?? 120 });
        this.current = 'Active';
        return;
      case 'timer':
        if (event.timer === 'hold') return this.fail(out, { code: ErrorCode.HOLD_TIMER_EXPIRED, subcode: 0, data: new Uint8Array(0), reason: 'hold timer expired in OpenSent' });
        return;
      default:
        return;
    }
  }

  private openConfirm(event: SessionEvent, out: SessionAction[]): void {
    switch (event.type) {
      case 'message':
        if (event.message.type === 'keepalive') {
          this.current = 'Established';
          this.restartHold(out);
          out.push({ type: 'established', negotiated: this.agreed as Negotiated });
          return;
        }
        if (event.message.type === 'notification') return this.toIdle(out, describeNotification(event.message), false, true);
        return this.fail(out, { code: ErrorCode.FSM, subcode: 2, data: new Uint8Array(0), reason: `${event.message.type} in OpenConfirm` });
      case 'decode-error':
        return this.fail(out, event.error);
      case 'tcp-closed':
      case 'tcp-failed':
        return this.toIdle(out, event.reason ?? 'connection closed in OpenConfirm', false, true);
      case 'timer':
        if (event.timer === 'keepalive') this.keepalive(out);
        else if (event.timer === 'hold') this.fail(out, { code: ErrorCode.HOLD_TIMER_EXPIRED, subcode: 0, data: new Uint8Array(0), reason: 'hold timer expired' });
        return;
      default:
        return;
    }
  }

  private established(event: SessionEvent, out: SessionAction[]): void {
    switch (event.type) {
      case 'message': {
        const m = event.message;
        if (m.type === 'notification') return this.toIdle(out, describeNotification(m), false, true);
        if (m.type === 'open') return this.fail(out, { code: ErrorCode.FSM, subcode: 3, data: new Uint8Array(0), reason: 'OPEN in Established' });
        this.restartHold(out);
        const families = this.agreed?.families ?? [];
        if (m.type === 'update') {
          const { update, ignored } = restrictToFamilies(m, families);
          if (ignored) out.push({ type: 'ignored', reason: ignored });
          if (update) out.push({ type: 'update', message: update });
        } else if (m.type === 'route-refresh') {
          // RFC 2918 §4: a refresh for a family we did not advertise is ignored.
          const family = familyOfAfi(m.afi);
          if (family && m.safi === SAFI_UNICAST && families.includes(family)) out.push({ type: 'route-refresh', family });
        }
        return;
      }
      case 'decode-error':
        return this.fail(out, event.error);
      case 'tcp-closed':
      case 'tcp-failed':
        return this.toIdle(out, event.reason ?? 'connection closed', this.agreed?.peerGracefulRestart !== undefined, true);
      case 'timer':
        if (event.timer === 'keepalive') this.keepalive(out);
        else if (event.timer === 'hold') this.fail(out, { code: ErrorCode.HOLD_TIMER_EXPIRED, subcode: 0, data: new Uint8Array(0), reason: 'hold timer expired' });
        return;
      default:
        return;
    }
  }

  private checkOpen(open: OpenMessage): Negotiated | BgpError {
    const c = this.config;
    const peerAs = open.capabilities.fourOctetAs ?? open.myAs;
    const bad = (subcode: number, reason: string, data = new Uint8Array(0)): BgpError => ({ code: ErrorCode.OPEN_MESSAGE, subcode, data, reason });
    if (c.peerAs !== undefined && peerAs !== c.peerAs) return bad(OpenSubcode.BAD_PEER_AS, `peer AS ${peerAs}, expected ${c.peerAs}`);
    if (open.routerId === c.routerId && peerAs === c.localAs) return bad(OpenSubcode.BAD_BGP_IDENTIFIER, `peer uses our router id ${c.routerId}`);
    const holdTime = Math.min(c.holdTime ?? 90, open.holdTime);
    const ours = c.families ?? ['ipv4'];
    const offered = open.capabilities.multiprotocol.length
      ? open.capabilities.multiprotocol.filter((m) => m.safi === SAFI_UNICAST).map((m) => familyOfAfi(m.afi))
      : ['ipv4' as const]; // RFC 4760 §8: no capability means IPv4 unicast only
    const families = ours.filter((f) => offered.includes(f));
    if (!families.length) {
      // RFC 5492 §5: the capability we need, in the data field (Multiprotocol, code 1, length 4).
      const afi = afiOf(ours[0]);
      return bad(OpenSubcode.UNSUPPORTED_CAPABILITY, `no address family in common (we carry ${ours.join(', ')}; the peer offers ${offered.filter((f) => f).join(', ') || 'none we know'})`,
        Uint8Array.from([1, 4, afi >> 8, afi & 0xff, 0, SAFI_UNICAST]));
    }
    const fourOctetAs = open.capabilities.fourOctetAs !== undefined;
    const gr = open.capabilities.gracefulRestart;
    return {
      peerAs,
      peerRouterId: open.routerId,
      holdTime,
      keepaliveTime: holdTime === 0 ? 0 : Math.max(1, Math.min(c.keepaliveTime ?? Math.floor(holdTime / 3), Math.floor(holdTime / 3))),
      families,
      fourOctetAs,
      routeRefresh: open.capabilities.routeRefresh,
      ...(gr ? {
        peerGracefulRestart: {
          restartTime: gr.restartTime,
          restarting: gr.restarting,
          families: gr.families.filter((f) => f.safi === SAFI_UNICAST && (f.afi === AFI_IPV4 || f.afi === AFI_IPV6))
            .map((f) => familyOfAfi(f.afi) as AddressFamily),
          preserved: gr.families.filter((f) => f.forwardingPreserved && f.safi === SAFI_UNICAST && (f.afi === AFI_IPV4 || f.afi === AFI_IPV6))
            .map((f) => familyOfAfi(f.afi) as AddressFamily),
        },
      } : {}),
      codec: { fourOctetAs, ebgp: peerAs !== c.localAs },
    };
  }

  private armTimers(out: SessionAction[]): void {
    const n = this.agreed as Negotiated;
    if (n.holdTime === 0) {
      out.push({ type: 'clear-timer', timer: 'hold' }, { type: 'clear-timer', timer: 'keepalive' });
      return;
    }
    out.push({ type: 'set-timer', timer: 'hold', seconds: n.holdTime }, { type: 'set-timer', timer: 'keepalive', seconds: n.keepaliveTime });
  }

  private restartHold(out: SessionAction[]): void {
    const n = this.agreed;
    if (n && n.holdTime > 0) out.push({ type: 'set-timer', timer: 'hold', seconds: n.holdTime });
  }

  private keepalive(out: SessionAction[]): void {
    const n = this.agreed as Negotiated;
    out.push(send({ type: 'keepalive' }), { type: 'set-timer', timer: 'keepalive', seconds: n.keepaliveTime });
  }

  /** Sends the NOTIFICATION an error demands and goes to Idle. */
  private fail(out: SessionAction[], error: BgpError): void {
    out.push(send(notification(error.code, error.subcode, error.data)));
    this.toIdle(out, `sent NOTIFICATION ${error.code}/${error.subcode}: ${error.reason}`, false, true);
  }

  private toIdle(out: SessionAction[], reason: string, graceful: boolean, restart: boolean): void {
    const wasEstablished = this.current === 'Established';
    out.push({ type: 'disconnect' });
    for (const timer of ['connect-retry', 'hold', 'keepalive', 'idle-hold'] as const) out.push({ type: 'clear-timer', timer });
    if (wasEstablished) out.push({ type: 'down', reason, graceful });
    if (restart) out.push({ type: 'set-timer', timer: 'idle-hold', seconds: this.config.idleHoldTime ?? 5 });
    this.current = 'Idle';
  }
}

/**
 * An UPDATE as this session may take it: only the parts of its negotiated families. IPv4 in the
 * plain fields or MP attributes of a family not negotiated are dropped (RFC 4760 §7; BIRD does the
 * same), and a message left with nothing — an End-of-RIB for such a family included — is dropped
 * whole, so it can never pass for an IPv4 End-of-RIB. Pure.
 */
export function restrictToFamilies(update: UpdateMessage, families: readonly AddressFamily[]): { update?: UpdateMessage; ignored?: string } {
  const dropped: string[] = [];
  const keepV4 = families.includes('ipv4');
  const mpFamily = (afi: number, safi: number) => (safi === SAFI_UNICAST ? familyOfAfi(afi) : undefined);
  const keepMp = (afi: number, safi: number) => {
    const family = mpFamily(afi, safi);
    return family !== undefined && families.includes(family);
  };
  const plainV4 = update.withdrawn.length > 0 || update.nlri.length > 0;
  const mpReach = update.mpReach && !keepMp(update.mpReach.afi, update.mpReach.safi) ? undefined : update.mpReach;
  const mpUnreach = update.mpUnreach && !keepMp(update.mpUnreach.afi, update.mpUnreach.safi) ? undefined : update.mpUnreach;
  if (plainV4 && !keepV4) dropped.push(`IPv4 NLRI (${update.nlri.length} announced, ${update.withdrawn.length} withdrawn)`);
  if (update.mpReach && !mpReach) dropped.push(`MP_REACH_NLRI AFI ${update.mpReach.afi}/SAFI ${update.mpReach.safi} (${update.mpReach.nlri.length} prefixes)`);
  if (update.mpUnreach && !mpUnreach && update.mpUnreach.withdrawn.length) dropped.push(`MP_UNREACH_NLRI AFI ${update.mpUnreach.afi}/SAFI ${update.mpUnreach.safi} (${update.mpUnreach.withdrawn.length} prefixes)`);
  const eor = endOfRibFamily(update);
  if (eor !== undefined && !families.includes(eor)) return {}; // a peer's End-of-RIB for a family we did not negotiate: nothing to do
  if (!dropped.length && mpReach === update.mpReach && mpUnreach === update.mpUnreach) return { update };
  const ignored = dropped.length ? `ignored ${dropped.join(' and ')}: not negotiated on this session (${families.join(', ') || 'no family'})` : undefined;
  const withdrawn = keepV4 ? update.withdrawn : [];
  const nlri = keepV4 ? update.nlri : [];
  if (!withdrawn.length && !nlri.length && !mpReach && !mpUnreach) return ignored ? { ignored } : {};
  const { mpReach: _r, mpUnreach: _u, ...rest } = update;
  return {
    update: { ...rest, withdrawn, nlri, ...(mpReach ? { mpReach } : {}), ...(mpUnreach ? { mpUnreach } : {}) },
    ...(ignored ? { ignored } : {}),
  };
}

function send(message: BgpMessage): SessionAction {
  return { type: 'send', message };
}

export function notification(code: number, subcode: number, data: Uint8Array = new Uint8Array(0)): NotificationMessage {
  return { type: 'notification', code, subcode, data };
}

export function describeNotification(n: NotificationMessage): string {
  return `received NOTIFICATION ${n.code}/${n.subcode}`;
}

/**
 * RFC 4271 §6.8: when both sides opened a connection, the one initiated by the speaker with the
 * higher BGP Identifier survives. An identifier not known yet (an IPv6 peer whose OPEN has not
 * arrived: its address says nothing about it) keeps our own connection; the peer, which knows
 * both identifiers once our OPEN arrives, resolves the collision the same way.
 */
export function collisionWinner(localRouterId: string, remoteRouterId: string | undefined): 'outbound' | 'inbound' {
  if (remoteRouterId === undefined || !isIPv4(remoteRouterId)) return 'outbound';
  const n = (id: string) => id.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n(localRouterId) > n(remoteRouterId) ? 'outbound' : 'inbound';
}

export const CONNECTION_COLLISION = notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_COLLISION);
