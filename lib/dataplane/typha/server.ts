import * as net from 'node:net';
import * as tls from 'node:tls';
import { Counter, Gauge, Registry } from 'prom-client';
import { WatchHandle } from '../datastore/types';
import { WatchCache } from '../datastore/watch-cache';
import { Logger } from '../flannel/agent-log';
import { LineReader, ServerMessage, decodeClient, encode } from './protocol';

export interface TyphaServerOptions {
  /** The one watch cache this Typha keeps against the datastore; started by the server. */
  readonly cache: WatchCache;
  /** @default 5473 (Calico's Typha port); 0 picks a free port */
  readonly port?: number;
  /** @default all addresses */
  readonly host?: string;
  /** PEM server certificate and key; with `ca`, agents must present a certificate it signed. @default plain TCP */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string };
  /** @default 10000 ms */
  readonly pingIntervalMs?: number;
  /** An agent that answers no ping for this long is disconnected. @default 60000 ms */
  readonly pongTimeoutMs?: number;
  /** An agent whose unsent output exceeds this is disconnected (it reconnects and resyncs). @default 64 MiB */
  readonly maxBufferedBytes?: number;
  readonly log: Logger;
}

export class TyphaMetrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'cnikit_typha_connections', help: 'Agents connected', registers: [this.registry] });
  readonly snapshots = new Counter({ name: 'cnikit_typha_snapshots_total', help: 'Prefix snapshots sent', registers: [this.registry] });
  readonly events = new Counter({ name: 'cnikit_typha_events_total', help: 'Events sent to agents', registers: [this.registry] });
  readonly dropped = new Counter({ name: 'cnikit_typha_dropped_connections_total', help: 'Agents disconnected by Typha, by reason', labelNames: ['reason'], registers: [this.registry] });
}

/**
 * Calico's Typha: one set of datastore watches (the cache) fanned out to every agent. Each agent
 * says which prefixes it follows, gets a snapshot of each, then every change in order.
 */
export class TyphaServer {
  readonly metrics = new TyphaMetrics();
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly options: TyphaServerOptions) {}

  get port(): number | undefined {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : undefined;
  }

  get connections(): number {
    return this.sockets.size;
  }

  /** Listens at once (agents wait for their snapshots until the cache has synced). */
  async start(): Promise<void> {
    void this.options.cache.start();
    const o = this.options;
    const server = o.tls
      ? tls.createServer({ cert: o.tls.cert, key: o.tls.key, ...(o.tls.ca ? { ca: o.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, (s) => this.accept(s))
      : net.createServer((s) => this.accept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port ?? 5473, o.host, () => resolve());
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.options.cache.stop();
  }

  private accept(socket: net.Socket): void {
    const o = this.options;
    const cache = o.cache;
    this.sockets.add(socket);
    this.metrics.connections.set(this.sockets.size);
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const watches: WatchHandle[] = [];
    const reader = new LineReader();
    let node = '';
    let lastPong = Date.now();
    let closed = false;

    const drop = (reason: string, message?: string) => {
      if (closed) return;
      this.metrics.dropped.inc({ reason });
      if (message) socket.end(encode({ type: 'error', message }));
      else socket.destroy();
      o.log.info('agent disconnected', { peer, node, reason });
    };
    const send = (message: ServerMessage) => {
      if (closed) return;
      socket.write(encode(message));
      if (socket.writableLength > (o.maxBufferedBytes ?? 64 * 1024 * 1024)) drop('slow', undefined);
    };
    const ping = setInterval(() => {
      if (Date.now() - lastPong > (o.pongTimeoutMs ?? 60_000)) drop('pong-timeout');
      else send({ type: 'ping' });
    }, o.pingIntervalMs ?? 10_000);

    const hello = async (prefixes: readonly string[]) => {
      const unknown = prefixes.find((p) => !cache.covers(p));
      if (unknown !== undefined) return drop('bad-hello', `typha: prefix ${JSON.stringify(unknown)} is not served; served: ${cache.prefixes.join(', ')}`);
      await cache.synced;
      for (const prefix of prefixes) {
        watches.push(cache.watch(prefix, (event) => {
          if (event.type === 'reset') {
            this.metrics.snapshots.inc();
            send({ type: 'snapshot', prefix, items: event.items, revision: event.revision });
          } else {
            this.metrics.events.inc();
            send({ type: 'event', prefix, event });
          }
        }));
      }
      send({ type: 'synced' });
      o.log.info('agent synced', { peer, node, prefixes: prefixes.length });
    };

    socket.on('data', (chunk: string) => {
      try {
        for (const line of reader.push(chunk)) {
          const message = decodeClient(line);
          if (message.type === 'pong') lastPong = Date.now();
          else if (node) drop('bad-hello', 'typha: hello sent twice');
          else {
            node = message.node;
            void hello(message.prefixes);
          }
        }
      } catch (error) {
        drop('bad-message', (error as Error).message);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      clearInterval(ping);
      for (const w of watches) void w.close();
      this.sockets.delete(socket);
      this.metrics.connections.set(this.sockets.size);
    });
  }
}
