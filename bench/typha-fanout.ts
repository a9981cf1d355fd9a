/**
 * The processes of the Typha fan-out benchmark (`bench/typha-fanout.bench.ts` bundles this file and
 * runs it inside the lab's node namespace), and its pure pieces.
 *
 *   node typha-fanout.js typha   --kubeconfig=<file> --port=<p>
 *       one Typha: a watch cache of TYPHA_PREFIXES over KubeCrdStore, served on 127.0.0.1:<p>;
 *       prints {"event":"ready"} once its cache has synced.
 *   node typha-fanout.js clients --kubeconfig=<file> --mode=direct|typha --nodes=N --updates=K
 *                                [--typha=port,port,…] [--concurrency=C] [--sync-timeout-s=S]
 *       N simulated nodes, each one WatchCache of TYPHA_PREFIXES (what calico-node and the policy
 *       agent follow), fed by its own KubeClient + KubeCrdStore (direct) or its own TyphaClient;
 *       prints {"event":"synced",…}, waits for `measure` on stdin, writes K updates to one IPPool and
 *       times each until every cache has it, prints {"event":"measured",…}, and exits on `stop`.
 *
 * Progress goes to stderr; stdout carries only the JSON events.
 */
import { performance } from 'node:perf_hooks';
import * as readline from 'node:readline';
import { KubeClient, kubeconfigConnection } from '../lib/dataplane/datastore/kube/client';
import { calicoResourceApi } from '../lib/dataplane/datastore/kube/resource';
import { KubeCrdStore } from '../lib/dataplane/datastore/kube/store';
import { KeyValueStore } from '../lib/dataplane/datastore/types';
import { SnapshotFeed, WatchCache, storeFeed } from '../lib/dataplane/datastore/watch-cache';
import { Logger } from '../lib/dataplane/flannel/agent-log';
import { TyphaClient } from '../lib/dataplane/typha/client';
import { TYPHA_PREFIXES } from '../lib/dataplane/typha/prefixes';
import { TyphaServer } from '../lib/dataplane/typha/server';

/** The IPPool the benchmark rewrites, and its key in the caches. */
export const BENCH_POOL = 'bench-pool';
const POOL_KEY = `ippools/${BENCH_POOL}`;

export type FanoutMode = 'direct' | 'typha';

/** What the clients process reports once its caches have synced. */
export interface SyncedReport {
  readonly event: 'synced';
  readonly nodes: number;
  readonly synced: number;
  readonly syncMs: number;
  readonly errors: number;
  readonly firstErrors: readonly string[];
  readonly rssMiB: number;
}

/** What it reports after the updates. */
export interface MeasuredReport {
  readonly event: 'measured';
  /** Per update: ms from the write's response until the last cache had it (NaN: not every cache did in time). */
  readonly allNodesMs: readonly number[];
  /** Per update: caches that had it when the wait ended. */
  readonly reached: readonly number[];
  /** Every (update, cache) delivery, ms after the write's response: p50/p99/max. */
  readonly perCache: { readonly p50: number; readonly p99: number; readonly max: number };
  /** Per update: the write's own round trip (PATCH sent → response), ms. */
  readonly writeMs: readonly number[];
  /** CPU the whole clients process used during the updates, ms. */
  readonly cpuMs: number;
  readonly rssMiB: number;
  readonly errors: number;
}

/** Nearest-rank percentile (as bench/report.ts), NaN for no values. */
export function percentileOf(values: readonly number[], p: number): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

/**
 * The sum of a metric's samples in Prometheus text format whose labels include all of `labels`
 * (`apiserver_longrunning_requests{verb="WATCH"}` summed over resources); 0 when none match.
 */
export function sumMetric(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(l[1], l[2]);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

/** `--name=value` flags. */
export function parseFlags(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const m = /^--([a-z0-9-]+)=(.*)$/s.exec(arg);
    if (!m) throw new Error(`typha-fanout: ${JSON.stringify(arg)}: expected --name=value`);
    flags.set(m[1], m[2]);
  }
  return flags;
}

/**
 * `store` with its lists made one after another. An agent lists its prefixes at once, which leaves
 * one idle keep-alive connection per prefix; at 1,000 nodes in one process those would exceed the
 * open-file limit of this machine (20,000, and a container cannot raise it), so each simulated node
 * lists over one connection. Watches are untouched: one connection each, as an agent's.
 */
export function oneListAtATime(store: KeyValueStore): KeyValueStore {
  let queue: Promise<unknown> = Promise.resolve();
  return {
    kind: store.kind,
    get: (key) => store.get(key),
    list: (prefix) => {
      const result = queue.then(() => store.list(prefix));
      queue = result.catch(() => undefined);
      return result;
    },
    put: (key, value, options) => store.put(key, value, options),
    create: (key, value, options) => store.create(key, value, options),
    update: (key, value, revision, options) => store.update(key, value, revision, options),
    delete: (key, revision) => store.delete(key, revision),
    watch: (prefix, onEvent, options) => store.watch(prefix, onEvent, options),
    close: () => store.close(),
  };
}

const quiet = () => undefined;
const stderrLog = (level: string) => (msg: string, fields: object = {}) => console.error(`${level} ${msg} ${JSON.stringify(fields)}`);
const logger: Logger = { debug: quiet, info: quiet, warn: stderrLog('warn'), error: stderrLog('error') };

function emit(event: object): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const rssMiB = () => process.memoryUsage().rss / 1048576;

function required(flags: Map<string, string>, name: string): string {
  const value = flags.get(name);
  if (value === undefined) throw new Error(`typha-fanout: --${name} is required`);
  return value;
}

async function typha(flags: Map<string, string>): Promise<void> {
  const client = new KubeClient(kubeconfigConnection(required(flags, 'kubeconfig')));
  const cache = new WatchCache(storeFeed(new KubeCrdStore({ client })), TYPHA_PREFIXES, (e) => console.error(`typha cache: ${e.message}`));
  const server = new TyphaServer({ cache, port: Number(required(flags, 'port')), host: '127.0.0.1', log: logger });
  await server.start();
  await cache.synced;
  emit({ event: 'ready', port: server.port });
  const stop = () => void server.stop().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

interface SimulatedNode {
  readonly cache: WatchCache;
  readonly close: () => void;
}

async function clients(flags: Map<string, string>): Promise<void> {
  const connection = kubeconfigConnection(required(flags, 'kubeconfig'));
  const mode = required(flags, 'mode') as FanoutMode;
  const n = Number(flags.get('nodes') ?? 1000);
  const updates = Number(flags.get('updates') ?? 100);
  const concurrency = Number(flags.get('concurrency') ?? 20);
  const syncTimeoutMs = Number(flags.get('sync-timeout-s') ?? 900) * 1000;
  const typhaPorts = (flags.get('typha') ?? '').split(',').filter(Boolean).map(Number);
  if (mode !== 'direct' && mode !== 'typha') throw new Error(`typha-fanout: --mode=${String(mode)}: expected direct or typha`);
  if (mode === 'typha' && !typhaPorts.length) throw new Error('typha-fanout: --mode=typha needs --typha=<port,…>');

  let errors = 0;
  const firstErrors: string[] = [];
  const onError = (e: Error) => {
    errors++;
    if (firstErrors.length < 5 && !firstErrors.includes(e.message)) firstErrors.push(e.message);
  };
  const make = (i: number): SimulatedNode => {
    if (mode === 'direct') {
      // Each simulated node has its own client (its own connections), as each calico-node does.
      const client = new KubeClient(connection);
      const store = oneListAtATime(new KubeCrdStore({ client }));
      return { cache: new WatchCache(storeFeed(store), TYPHA_PREFIXES, onError), close: () => client.close() };
    }
    const port = typhaPorts[i % typhaPorts.length];
    const feed: SnapshotFeed & { close(): void } = new TyphaClient({ node: `sim-${i}`, discover: async () => ({ host: '127.0.0.1', port }) });
    return { cache: new WatchCache(feed, TYPHA_PREFIXES, onError), close: () => feed.close() };
  };

  // Which revision of the pool each cache holds, and when each revision reached each cache.
  const nodes: SimulatedNode[] = [];
  const synced: boolean[] = [];
  const seen: string[] = [];
  const arrivals = new Map<string, { times: Float64Array; count: number }>();
  let waiting: { revision: string; target: number; resolve: () => void } | undefined;
  const arrived = (i: number, revision: string) => {
    const now = performance.now();
    let entry = arrivals.get(revision);
    if (!entry) arrivals.set(revision, (entry = { times: new Float64Array(n).fill(NaN), count: 0 }));
    if (!Number.isNaN(entry.times[i])) return;
    entry.times[i] = now;
    entry.count++;
    if (waiting && waiting.revision === revision && entry.count >= waiting.target) waiting.resolve();
  };

  const started = performance.now();
  let next = 0;
  let syncedCount = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const node = make(i);
      nodes[i] = node;
      node.cache.onChange((prefix) => {
        if (prefix !== 'ippools/' || !synced[i]) return;
        const kv = node.cache.get(POOL_KEY);
        if (!kv || kv.revision === seen[i]) return;
        seen[i] = kv.revision;
        arrived(i, kv.revision);
      });
      await node.cache.start();
      synced[i] = true;
      seen[i] = node.cache.get(POOL_KEY)?.revision ?? '';
      if (++syncedCount % 100 === 0) console.error(`${mode}: ${syncedCount}/${n} nodes synced, ${((performance.now() - started) / 1000).toFixed(1)} s, ${errors} errors`);
    }
  };
  const allSynced = Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  await Promise.race([allSynced, new Promise((resolve) => setTimeout(resolve, syncTimeoutMs).unref())]);
  const syncMs = performance.now() - started;
  emit({ event: 'synced', nodes: n, synced: syncedCount, syncMs, errors, firstErrors, rssMiB: rssMiB() } satisfies SyncedReport);

  const input = readline.createInterface({ input: process.stdin });
  const commands = input[Symbol.asyncIterator]();
  const command = async () => ((await commands.next()).value as string | undefined)?.trim();
  if ((await command()) === 'measure') {
    const writer = calicoResourceApi(new KubeClient(connection), 'ippools');
    const target = synced.filter(Boolean).length;
    const allNodesMs: number[] = [];
    const reached: number[] = [];
    const writeMs: number[] = [];
    const perCache: number[] = [];
    const errorsBefore = errors;
    const cpu = process.cpuUsage();
    for (let k = 0; k < updates; k++) {
      const sent = performance.now();
      const object = await writer.patch(BENCH_POOL, { spec: { nodeSelector: `!has(bench-${k})` } }, { type: 'merge' });
      const answered = performance.now();
      const revision = object.metadata.resourceVersion ?? '';
      const entry = () => arrivals.get(revision);
      if ((entry()?.count ?? 0) < target) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 60_000);
          waiting = { revision, target, resolve: () => { clearTimeout(timer); resolve(); } };
        });
        waiting = undefined;
      }
      const times = entry()?.times ?? new Float64Array(0);
      const delivered = [...times].filter((t) => !Number.isNaN(t)).map((t) => t - answered);
      perCache.push(...delivered);
      reached.push(delivered.length);
      allNodesMs.push(delivered.length >= target ? Math.max(...delivered) : NaN);
      writeMs.push(answered - sent);
      arrivals.delete(revision);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const used = process.cpuUsage(cpu);
    emit({
      event: 'measured', allNodesMs, reached, writeMs,
      perCache: { p50: percentileOf(perCache, 50), p99: percentileOf(perCache, 99), max: percentileOf(perCache, 100) },
      cpuMs: (used.user + used.system) / 1000, rssMiB: rssMiB(), errors: errors - errorsBefore,
    } satisfies MeasuredReport);
    await command(); // `stop`, or the end of stdin
  }
  for (const node of nodes) if (node) {
    void node.cache.stop();
    node.close();
  }
  process.exit(0);
}

if (require.main === module) {
  const [role, ...rest] = process.argv.slice(2);
  const run = role === 'typha' ? typha : role === 'clients' ? clients : undefined;
  if (!run) {
    console.error('usage: typha-fanout.js typha|clients --name=value …');
    process.exit(2);
  }
  run(parseFlags(rest)).catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
