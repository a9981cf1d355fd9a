import * as net from 'node:net';
import { MessageFramer, decodeMessage, encodeMessage } from '../wire/message';
import { BgpMessage, CeaseSubcode, ErrorCode, UpdateMessage } from '../wire/types';
import { Clock, systemClock } from './clock';
import { CONNECTION_COLLISION, Negotiated, SessionAction, SessionConfig, SessionEvent, SessionFsm, SessionState, TimerName, collisionWinner, notification } from './fsm';

export interface PeerEndpoint {
  readonly address: string;
  /** @default 179 */
  readonly port?: number;
  /** Source address for our connection. @default the kernel's choice */
  readonly localAddress?: string;
}

export interface ConnectionEvents {
  established(negotiated: Negotiated, localAddress: string | undefined): void;
  update(message: UpdateMessage): void;
  routeRefresh(family: 'ipv4' | 'ipv6'): void;
  down(reason: string, graceful: boolean): void;
  log(line: string): void;
}

/**
 * The TCP edge of one BGP session: runs a `SessionFsm` over node:net sockets and a `Clock`,
 * decoding with the codec and turning every fault into a FSM event. Incoming connections are
 * handed in by the speaker's listener (`accept`), with RFC 4271 §6.8 collision handling.
 */
export class PeerConnection {
  readonly fsm: SessionFsm;
  private socket?: net.Socket;
  private framer = new MessageFramer();
  private readonly timers = new Map<TimerName, unknown>();
  private stopped = true;
  /** Restarting the FSM onto an accepted connection: its `connect` action is not ours to run. */
  private adopting = false;

  constructor(
    readonly endpoint: PeerEndpoint,
    config: SessionConfig,
    private readonly events: ConnectionEvents,
    private readonly clock: Clock = systemClock,
  ) {
    this.fsm = new SessionFsm(config);
  }

  get state(): SessionState {
    return this.fsm.state;
  }

  start(): void {
    this.stopped = false;
    this.dispatch({ type: 'start' });
  }

  /**
   * Ends the session. `restarting` closes TCP without a NOTIFICATION, so a graceful-restart peer
   * keeps our routes while we come back (what BIRD does on a graceful shutdown).
   */
  stop(reason = 'stopped', restarting = false): void {
    this.stopped = true;
    if (restarting) {
      const socket = this.socket;
      this.socket = undefined;
      socket?.destroy();
    }
    this.dispatch({ type: 'stop', reason });
    for (const t of [...this.timers.keys()]) this.clearTimer(t);
  }

  send(message: BgpMessage): void {
    if (this.fsm.state !== 'Established' || !this.socket) return;
    this.write(message);
  }

  /**
   * An incoming TCP connection from this peer's address. While our own connection is pending or
   * opening, both sides apply the same rule (RFC 4271 §6.8: the connection initiated by the higher
   * BGP Identifier survives), so they keep the same connection and drop the same one. Before the
   * peer's OPEN arrives its address stands in for its identifier (they are equal on Calico nodes).
   */
  accept(socket: net.Socket): void {
    const state = this.fsm.state;
    if (this.stopped || state === 'Established' || state === 'Idle') {
      this.reject(socket);
      return;
    }
    if (state === 'Connect' || state === 'OpenSent' || state === 'OpenConfirm') {
      // An IPv6 peer's address is no identifier: unknown until its OPEN (collisionWinner keeps ours).
      const remoteId = this.fsm.negotiated?.peerRouterId ?? this.endpoint.address;
      if (collisionWinner(this.fsm.config.routerId, remoteId) === 'outbound') {
        this.reject(socket);
        return;
      }
      if (state !== 'Connect') {
        // Our opening session loses: close it with Cease/collision and start over on the peer's connection.
        this.write(CONNECTION_COLLISION);
        this.adopting = true;
        this.dispatch({ type: 'stop', reason: 'connection collision' });
        this.dispatch({ type: 'start' });
        this.adopting = false;
      }
    }
    this.detach();
    this.attach(socket);
    this.dispatch({ type: 'tcp-connected' });
  }

  private reject(socket: net.Socket): void {
    socket.on('error', () => undefined);
    socket.end(Buffer.from(encodeMessage(notification(ErrorCode.CEASE, CeaseSubcode.CONNECTION_REJECTED))));
    socket.destroy();
  }

  private dispatch(event: SessionEvent): void {
    for (const action of this.fsm.handle(event)) this.perform(action);
  }

  private perform(action: SessionAction): void {
    switch (action.type) {
      case 'connect': return this.connect();
      case 'disconnect': return this.detach();
      case 'send': return this.write(action.message);
      case 'set-timer': return this.setTimer(action.timer, action.seconds);
      case 'clear-timer': return this.clearTimer(action.timer);
      case 'established': return this.events.established(action.negotiated, this.socket?.localAddress);
      case 'update': return this.events.update(action.message);
      case 'route-refresh': return this.events.routeRefresh(action.family);
      case 'ignored': return this.events.log(`bgp: ${this.endpoint.address}: ${action.reason}`);
      case 'down':
        this.events.log(`bgp: session with ${this.endpoint.address} down: ${action.reason}`);
        return this.events.down(action.reason, action.graceful);
    }
  }

  private connect(): void {
    if (this.stopped || this.adopting) return;
    const socket = net.connect({ host: this.endpoint.address, port: this.endpoint.port ?? 179, localAddress: this.endpoint.localAddress });
    this.attach(socket);
    socket.once('connect', () => {
      if (this.socket === socket) this.dispatch({ type: 'tcp-connected' });
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    this.framer = new MessageFramer();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.framer.push(chunk);
      for (let f = this.framer.next(); f && this.socket === socket; f = this.framer.next()) {
        if ('error' in f) {
          this.dispatch({ type: 'decode-error', error: f.error });
          return;
        }
        const decoded = decodeMessage(f.frame, this.fsm.negotiated?.codec ?? {});
        this.dispatch(decoded.ok ? { type: 'message', message: decoded.value } : { type: 'decode-error', error: decoded.error });
      }
    });
    const closed = (reason: string) => {
      if (this.socket !== socket) return;
      this.dispatch(this.fsm.state === 'Connect' ? { type: 'tcp-failed', reason } : { type: 'tcp-closed', reason });
    };
    socket.on('error', (e) => closed(`connection error: ${e.message}`));
    socket.on('close', () => closed('connection closed'));
  }

  private detach(): void {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) socket.end(() => socket.destroy());
  }

  private write(message: BgpMessage): void {
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    socket.write(encodeMessage(message, this.fsm.negotiated?.codec ?? {}));
  }

  private setTimer(timer: TimerName, seconds: number): void {
    this.clearTimer(timer);
    this.timers.set(timer, this.clock.setTimeout(() => {
      this.timers.delete(timer);
      this.dispatch({ type: 'timer', timer });
    }, seconds * 1000));
  }

  private clearTimer(timer: TimerName): void {
    const handle = this.timers.get(timer);
    if (handle !== undefined) this.clock.clearTimeout(handle);
    this.timers.delete(timer);
  }
}
