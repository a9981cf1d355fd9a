import * as net from 'node:net';
import * as tls from 'node:tls';
import { WatchEvent, WatchHandle } from '../datastore/types';
import { SnapshotFeed } from '../datastore/watch-cache';
import type { OutageLog } from '../datastore/outage';
import { ClientMessage, LineReader, TYPHA_PROTOCOL_VERSION, decodeServer, encode } from './protocol';

export interface TyphaAddress {
  readonly host: string;
  readonly port: number;
}

export interface TyphaClientOptions {
  readonly node: string;
  /** Where Typha is, asked again before every (re)connect (Service endpoints rotate). */
  readonly discover: () => Promise<TyphaAddress>;
  /** PEM CA that signed Typha's certificate, and this agent's certificate and key. @default plain TCP */
  readonly tls?: { readonly ca: string; readonly cert?: string; readonly key?: string; readonly serverName?: string };
  /** Reconnect backoff: doubles from this up to 30 s. @default 500 ms */
  readonly reconnectDelayMs?: number;
  /** Typha pings every 10 s; silence this long means the connection is dead. @default 60000 ms */
  readonly silenceTimeoutMs?: number;
  readonly onConnect?: (address: TyphaAddress) => void;
  /**
   * Typha is this agent's datastore: every failed (re)connect is reported to it, every sync after
   * one as success, so the agent logs the outage once each way. @default none
   */
  readonly outage?: OutageLog;
}

interface Subscriber {
  readonly prefix: string;
  readonly onEvent: (event: WatchEvent) => void;
  readonly onError?: (error: Error) => void;
}

/**
 * An agent's connection to Typha as a feed for its watch cache: one connection carries every
 * prefix; each (re)connect brings fresh snapshots (`reset`), which the cache diffs against what it
 * held, so nothing is missed across a Typha restart or a switch to another replica.
 */
export class TyphaClient implements SnapshotFeed {
  private readonly subscribers: Subscriber[] = [];
  private socket?: net.Socket;
  private timer?: NodeJS.Timeout;
  private silence?: NodeJS.Timeout;
  private delay: number;
  private closed = false;
  private scheduled = false;
  private connecting = false;

  constructor(private readonly options: TyphaClientOptions) {
    this.delay = options.reconnectDelayMs ?? 500;
  }

  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  subscribe(prefix: string, onEvent: (event: WatchEvent) => void, onError?: (error: Error) => void): WatchHandle {
    const subscriber = { prefix, onEvent, onError };
    this.subscribers.push(subscriber);
    // Subscriptions made in one tick share one hello; a later one reconnects with the larger set.
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        if (this.socket) this.socket.destroy(); // its close reconnects
        else if (!this.connecting && !this.timer) void this.connect();
      });
    }
    return {
      close: async () => {
        const i = this.subscribers.indexOf(subscriber);
        if (i >= 0) this.subscribers.splice(i, 1);
        if (!this.subscribers.length) this.close();
      },
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.silence) clearTimeout(this.silence);
    this.socket?.destroy();
  }

  private async connect(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    let address: TyphaAddress;
    this.connecting = true;
    try {
      address = await this.options.discover();
    } catch (error) {
      this.connecting = false;
      return this.failed(error as Error);
    }
    this.connecting = false;
    if (this.closed) return;
    const t = this.options.tls;
    const socket = t
      ? tls.connect({ host: address.host, port: address.port, ca: t.ca, cert: t.cert, key: t.key, servername: t.serverName })
      : net.connect({ host: address.host, port: address.port });
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    const reader = new LineReader();
    const send = (m: ClientMessage) => socket.write(encode(m));
    let error: Error | undefined;
    const heard = () => {
      if (this.silence) clearTimeout(this.silence);
      this.silence = setTimeout(() => socket.destroy(new Error('typha: no message for too long')), this.options.silenceTimeoutMs ?? 60_000);
    };
    socket.once(t ? 'secureConnect' : 'connect', () => {
      heard();
      send({ type: 'hello', version: TYPHA_PROTOCOL_VERSION, node: this.options.node, prefixes: [...new Set(this.subscribers.map((s) => s.prefix))] });
    });
    socket.on('data', (chunk: string) => {
      heard();
      try {
        for (const line of reader.push(chunk)) {
          const m = decodeServer(line);
          if (m.type === 'ping') send({ type: 'pong' });
          else if (m.type === 'error') error = new Error(m.message);
          else if (m.type === 'synced') {
            this.delay = this.options.reconnectDelayMs ?? 500;
            this.options.outage?.succeeded();
            this.options.onConnect?.(address);
          } else {
            const event: WatchEvent = m.type === 'snapshot' ? { type: 'reset', items: m.items, revision: m.revision } : m.event;
            for (const s of this.subscribers) if (s.prefix === m.prefix) s.onEvent(event);
          }
        }
      } catch (e) {
        socket.destroy(e as Error);
      }
    });
    socket.on('error', (e) => {
      error ??= e;
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      if (this.silence) clearTimeout(this.silence);
      this.failed(error ?? new Error(`typha ${address.host}:${address.port}: connection closed`));
    });
  }

  private failed(error: Error): void {
    if (this.closed) return;
    this.options.outage?.failed(error);
    for (const s of this.subscribers) s.onError?.(error);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), this.delay);
    this.delay = Math.min(this.delay * 2, 30_000);
  }
}
