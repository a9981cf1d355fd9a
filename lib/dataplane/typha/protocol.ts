import { KeyValue, WatchEvent } from '../datastore/types';

/**
 * The Typha protocol: newline-delimited JSON messages over one TCP (or TLS) connection per agent.
 *
 *   agent → typha   hello {node, prefixes}      which prefixes of the datastore it follows
 *   typha → agent   snapshot {prefix, items}    everything under a prefix (once per prefix per connection)
 *   typha → agent   synced                      every snapshot has been sent
 *   typha → agent   event {prefix, event}       a put or delete, in datastore order
 *   typha → agent   ping / agent → typha pong   liveness both ways (Calico Typha's ping/pong)
 *   typha → agent   error {message}             then the connection closes
 *
 * A reconnect starts over with hello and fresh snapshots; the agent's watch cache turns them into
 * the puts and deletes it missed (Calico's Typha resyncs the same way). Pure: no I/O here.
 */
export const TYPHA_PROTOCOL_VERSION = 1;
/** One message may not exceed this (a snapshot of 100,000 blocks is far below it). */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

export type ClientMessage =
  | { readonly type: 'hello'; readonly version: number; readonly node: string; readonly prefixes: readonly string[] }
  | { readonly type: 'pong' };

export type ServerMessage =
  | { readonly type: 'snapshot'; readonly prefix: string; readonly items: readonly KeyValue[]; readonly revision: string }
  | { readonly type: 'synced' }
  | { readonly type: 'event'; readonly prefix: string; readonly event: Exclude<WatchEvent, { type: 'reset' }> }
  | { readonly type: 'ping' }
  | { readonly type: 'error'; readonly message: string };

export function encode(message: ClientMessage | ServerMessage): string {
  return `${JSON.stringify(message)}\n`;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

function isKeyValue(v: unknown): v is KeyValue {
  return isObj(v) && isStr(v.key) && isStr(v.value) && isStr(v.revision) && typeof v.expires === 'boolean';
}

function parse(line: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`typha protocol: not JSON: ${line.slice(0, 80)}`);
  }
  if (!isObj(value) || !isStr(value.type)) throw new Error(`typha protocol: expected an object with a "type", got ${line.slice(0, 80)}`);
  return value;
}

export function decodeClient(line: string): ClientMessage {
  const m = parse(line);
  if (m.type === 'pong') return { type: 'pong' };
  if (m.type === 'hello') {
    if (m.version !== TYPHA_PROTOCOL_VERSION) throw new Error(`typha protocol: hello.version ${JSON.stringify(m.version)}: expected ${TYPHA_PROTOCOL_VERSION}`);
    if (!isStr(m.node) || !m.node) throw new Error(`typha protocol: hello.node ${JSON.stringify(m.node)}: expected the agent's node name`);
    if (!Array.isArray(m.prefixes) || !m.prefixes.every(isStr)) throw new Error('typha protocol: hello.prefixes: expected a list of key prefixes');
    return { type: 'hello', version: m.version, node: m.node, prefixes: m.prefixes };
  }
  throw new Error(`typha protocol: unknown client message ${JSON.stringify(m.type)}`);
}

export function decodeServer(line: string): ServerMessage {
  const m = parse(line);
  switch (m.type) {
    case 'synced':
    case 'ping':
      return { type: m.type };
    case 'error':
      return { type: 'error', message: isStr(m.message) ? m.message : 'unknown error' };
    case 'snapshot':
      if (!isStr(m.prefix) || !isStr(m.revision) || !Array.isArray(m.items) || !m.items.every(isKeyValue)) throw new Error('typha protocol: malformed snapshot');
      return { type: 'snapshot', prefix: m.prefix, revision: m.revision, items: m.items };
    case 'event': {
      const e = m.event;
      if (!isStr(m.prefix) || !isObj(e)) throw new Error('typha protocol: malformed event');
      if (e.type === 'put' && isKeyValue(e.kv)) return { type: 'event', prefix: m.prefix, event: { type: 'put', kv: e.kv } };
      if (e.type === 'delete' && isStr(e.key) && isStr(e.revision)) {
        return { type: 'event', prefix: m.prefix, event: { type: 'delete', key: e.key, revision: e.revision, ...(isKeyValue(e.previous) ? { previous: e.previous } : {}) } };
      }
      throw new Error('typha protocol: malformed event');
    }
    default:
      throw new Error(`typha protocol: unknown server message ${JSON.stringify(m.type)}`);
  }
}

/** Splits a byte stream into lines; keeps the unfinished tail. Refuses a line longer than MAX_MESSAGE_BYTES. */
export class LineReader {
  private parts: string[] = [];
  private size = 0;

  push(chunk: string): string[] {
    const lastNewline = chunk.lastIndexOf('\n');
    if (lastNewline < 0) {
      this.parts.push(chunk);
      this.size += chunk.length;
      if (this.size > MAX_MESSAGE_BYTES) throw new Error(`typha protocol: a message exceeds ${MAX_MESSAGE_BYTES} bytes`);
      return [];
    }
    const text = this.parts.join('') + chunk.slice(0, lastNewline);
    const rest = chunk.slice(lastNewline + 1);
    this.parts = rest ? [rest] : [];
    this.size = rest.length;
    return text.split('\n').filter((l) => l.length > 0);
  }
}
