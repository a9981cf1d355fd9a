import { EtcdStore } from '../../../lib/dataplane/datastore/etcd';
import { KeyValueStore, WatchEvent } from '../../../lib/dataplane/datastore/types';
import { WatchCache, cachedStore, storeFeed } from '../../../lib/dataplane/datastore/watch-cache';
import { Logger } from '../../../lib/dataplane/flannel/agent-log';
import { prefixedStore } from '../../../lib/dataplane/ipam/calico-store';
import { TyphaClient } from '../../../lib/dataplane/typha/client';
import { TyphaServer } from '../../../lib/dataplane/typha/server';
import { OutageLog } from '../../../lib/dataplane/datastore/outage';
import { EtcdServer, startEtcd } from '../../support/etcd';

const quiet = () => undefined;
const log: Logger = { debug: quiet, info: quiet, warn: quiet, error: quiet };
const PREFIXES = ['ippools/', 'nodes/'];

/** Resolves when `check` holds after a cache change (no sleeps: the cache says when it changed). */
function until(cache: WatchCache, check: () => boolean): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve) => {
    const off = cache.onChange(() => {
      if (check()) {
        off();
        resolve();
      }
    });
  });
}

const keys = (cache: WatchCache, prefix: string) => cache.list(prefix).items.map((kv) => `${kv.key}=${kv.value}`);

describe('watch cache and Typha (real etcd)', () => {
  let etcd: EtcdServer;
  let raw: EtcdStore;
  let store: KeyValueStore;
  beforeAll(async () => {
    etcd = await startEtcd();
    raw = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    store = prefixedStore(raw, `/typha-test-${process.pid}/`);
  });
  afterAll(async () => {
    await raw?.close();
    await etcd?.stop();
  });

  test('the cache lists from memory, follows puts and deletes, and answers reads of cached prefixes without the datastore', async () => {
    await store.put('ippools/a', '{"cidr":"10.0.0.0/16"}');
    const cache = new WatchCache(storeFeed(store), PREFIXES);
    await cache.start();
    expect(keys(cache, 'ippools/')).toEqual(['ippools/a={"cidr":"10.0.0.0/16"}']);
    const events: WatchEvent[] = [];
    const view = cachedStore(store, cache);
    const handle = view.watch('ippools/', (e) => events.push(e));
    expect(events).toEqual([expect.objectContaining({ type: 'reset' })]);
    await store.put('ippools/b', '{}');
    await until(cache, () => keys(cache, 'ippools/').length === 2);
    await store.delete('ippools/a');
    await until(cache, () => keys(cache, 'ippools/').length === 1);
    expect(events.map((e) => e.type)).toEqual(['reset', 'put', 'delete']);
    // A rewrite with the same value is kept (new revision) but not announced; a changed value is.
    const revision = cache.get('ippools/b')?.revision;
    await store.put('ippools/b', '{}');
    await store.put('ippools/b', '{"changed":true}');
    await until(cache, () => keys(cache, 'ippools/').includes('ippools/b={"changed":true}'));
    expect(events.map((e) => e.type)).toEqual(['reset', 'put', 'delete', 'put']);
    expect(cache.get('ippools/b')?.revision).not.toBe(revision);
    expect((await view.list('ippools/')).items.map((kv) => kv.key)).toEqual(['ippools/b']);
    await expect(view.get('ipamblocks/x')).resolves.toBeUndefined(); // not cached: read through
    expect(() => cache.list('ipamblocks/')).toThrow('not under a cached prefix');
    await handle.close();
    await cache.stop();
  });

  test('agents follow the datastore through Typha: snapshot, ordered deltas, resync after Typha restarts, one datastore watch per prefix', async () => {
    await store.put('nodes/n1', '{"bgp":{"ipv4Address":"10.0.0.1/24"}}');
    let watchesOpened = 0;
    const counting: KeyValueStore = { ...store, watch: (p, on, o) => { watchesOpened++; return store.watch(p, on, o); } };
    const serve = async (port = 0) => {
      const server = new TyphaServer({ cache: new WatchCache(storeFeed(counting), PREFIXES), port, host: '127.0.0.1', log, pingIntervalMs: 200 });
      await server.start();
      return server;
    };
    let server = await serve();
    const port = server.port as number;
    const agents = Array.from({ length: 5 }, (_, i) => {
      const feed = new TyphaClient({ node: `n${i}`, discover: async () => ({ host: '127.0.0.1', port }), reconnectDelayMs: 50 });
      return { feed, cache: new WatchCache(feed, PREFIXES) };
    });
    await Promise.all(agents.map((a) => a.cache.start()));
    for (const a of agents) expect(keys(a.cache, 'nodes/')).toEqual(['nodes/n1={"bgp":{"ipv4Address":"10.0.0.1/24"}}']);
    expect(server.connections).toBe(5);
    expect(watchesOpened).toBe(PREFIXES.length); // five agents, still one watch per prefix

    // Deltas in datastore order.
    for (let i = 0; i < 20; i++) await store.put('ippools/p', `{"n":${i}}`);
    await Promise.all(agents.map((a) => until(a.cache, () => keys(a.cache, 'ippools/').includes('ippools/p={"n":19}'))));

    // Typha goes away; changes meanwhile; a new Typha on the same port: agents resync from its snapshot.
    await server.stop();
    await store.delete('nodes/n1');
    await store.put('nodes/n2', '{}');
    server = await serve(port);
    await Promise.all(agents.map((a) => until(a.cache, () => keys(a.cache, 'nodes/').join() === 'nodes/n2={}')));
    expect(server.connections).toBe(5);

    for (const a of agents) {
      await a.cache.stop();
      a.feed.close();
    }
    await server.stop();
  });

  test('Typha refuses a prefix it does not serve, in one line, and the agent keeps retrying', async () => {
    const server = new TyphaServer({ cache: new WatchCache(storeFeed(store), PREFIXES), port: 0, host: '127.0.0.1', log });
    await server.start();
    const errors: string[] = [];
    const feed = new TyphaClient({ node: 'n', discover: async () => ({ host: '127.0.0.1', port: server.port as number }), reconnectDelayMs: 50 });
    const got = new Promise<void>((resolve) => feed.subscribe('secrets/', () => undefined, (e) => {
      errors.push(e.message);
      if (errors.length >= 2) resolve();
    }));
    await got;
    feed.close();
    expect(errors[0]).toBe('typha: prefix "secrets/" is not served; served: ippools/, nodes/');
    expect((await server.metrics.dropped.get()).values).toContainEqual(expect.objectContaining({ labels: { reason: 'bad-hello' } }));
    await server.stop();
  });

  test('an agent whose Typha goes away logs it lost once, however many reconnects fail, and regained once', async () => {
    const serve = async (port = 0) => {
      const server = new TyphaServer({ cache: new WatchCache(storeFeed(store), PREFIXES), port, host: '127.0.0.1', log, pingIntervalMs: 200 });
      await server.start();
      return server;
    };
    let server = await serve();
    const port = server.port as number;
    const lines: string[] = [];
    let regained!: () => void;
    const back = new Promise<void>((resolve) => (regained = resolve));
    const outage = new OutageLog({ warn: (msg) => lines.push(`warn ${msg}`), info: (msg) => {
      lines.push(`info ${msg}`);
      regained();
    } });
    let failures = 0;
    let failedEnough!: () => void;
    const down = new Promise<void>((resolve) => (failedEnough = resolve));
    const feed = new TyphaClient({ node: 'n', discover: async () => ({ host: '127.0.0.1', port }), reconnectDelayMs: 20, outage });
    const cache = new WatchCache(feed, PREFIXES, () => {
      if (++failures === 3 * PREFIXES.length) failedEnough();
    });
    await cache.start();
    await server.stop();
    await down; // three reconnects refused
    server = await serve(port);
    await back;
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^warn datastore lost: /);
    expect(lines[1]).toMatch(/^info datastore regained after \d/);
    await cache.stop();
    feed.close();
    await server.stop();
  });
});
