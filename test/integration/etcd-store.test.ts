import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../lib/dataplane/datastore/etcd';
import { RevisionConflictError } from '../../lib/dataplane/datastore/errors';
import { WatchEvent } from '../../lib/dataplane/datastore/types';
import { waitFor } from '../dataplane/datastore/helpers';
import { EtcdServer, startEtcd } from '../support/etcd';

describe('EtcdStore on a real etcd', () => {
  let etcd: EtcdServer;
  let store: EtcdStore;

  beforeAll(async () => {
    etcd = await startEtcd();
    store = EtcdStore.connect({ endpoints: [etcd.endpoint], watchRetryMs: 100 });
  });

  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
  });

  test('put, get and list by prefix in key order', async () => {
    await store.put('/t1/b', 'B');
    await store.put('/t1/a', 'A');
    await store.put('/t1x', 'not under the prefix');
    const a = await store.get('/t1/a');
    expect(a).toMatchObject({ key: '/t1/a', value: 'A', expires: false });
    expect(await store.get('/t1/none')).toBeUndefined();
    const list = await store.list('/t1/');
    expect(list.items.map((kv) => kv.key)).toEqual(['/t1/a', '/t1/b']);
    expect(BigInt(list.revision)).toBeGreaterThanOrEqual(BigInt(list.items[1].revision));
  });

  test('create refuses an existing key; update is compare-and-swap on the revision', async () => {
    const created = await store.create('/t2/k', 'v1');
    await expect(store.create('/t2/k', 'other')).rejects.toMatchObject({ name: 'RevisionConflictError', reason: 'exists' });
    const updated = await store.update('/t2/k', 'v2', created.revision);
    expect(updated.revision).not.toEqual(created.revision);
    expect((await store.get('/t2/k'))?.revision).toEqual(updated.revision);
    // A stale revision loses, and nothing is written.
    await expect(store.update('/t2/k', 'v3', created.revision)).rejects.toMatchObject({ reason: 'changed' });
    expect((await store.get('/t2/k'))?.value).toBe('v2');
    await expect(store.update('/t2/missing', 'x', created.revision)).rejects.toMatchObject({ reason: 'missing' });
  });

  test('racing creates: exactly one of twenty wins', async () => {
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.create('/t3/race', `writer-${i}`)));
    const winners = results.filter((r) => r.status === 'fulfilled');
    expect(winners).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RevisionConflictError);
    }
  });

  test('delete, unconditional and compare-and-swap', async () => {
    const kv = await store.put('/t4/k', 'v');
    await store.put('/t4/k', 'v2');
    await expect(store.delete('/t4/k', kv.revision)).rejects.toMatchObject({ reason: 'changed' });
    const current = await store.get('/t4/k');
    expect(await store.delete('/t4/k', current!.revision)).toBe(true);
    expect(await store.delete('/t4/k')).toBe(false);
    await expect(store.delete('/t4/k', current!.revision)).rejects.toMatchObject({ reason: 'missing' });
  });

  test('a key written with a TTL is marked as expiring and disappears when the lease runs out', async () => {
    const kv = await store.put('/t5/ttl', 'v', { ttlSeconds: 1 });
    expect(kv.expires).toBe(true);
    expect((await store.get('/t5/ttl'))?.expires).toBe(true);
    await waitFor(async () => (await store.get('/t5/ttl')) === undefined, 'the TTL key to expire');
  });

  test('watch from a revision sees puts and deletes after it, with previous values', async () => {
    const events: WatchEvent[] = [];
    const start = await store.list('/t6/');
    await store.put('/t6/a', '1'); // after the list revision: must be delivered
    const watch = store.watch('/t6/', (e) => events.push(e), { fromRevision: start.revision });
    await store.put('/t6/b', '2');
    await store.delete('/t6/a');
    await store.put('/t6x', 'outside');
    await waitFor(() => events.length >= 3, 'three watch events');
    await watch.close();
    expect(events.map((e) => (e.type === 'put' ? `put ${e.kv.key}=${e.kv.value}` : e.type === 'delete' ? `delete ${e.key} (was ${e.previous?.value})` : e.type)))
      .toEqual(['put /t6/a=1', 'put /t6/b=2', 'delete /t6/a (was 1)']);
  });

  test('a watch whose start revision was compacted relists and reports a reset', async () => {
    await store.put('/t7/a', '1');
    const old = await store.list('/t7/');
    await store.put('/t7/a', '2');
    await store.put('/t7/b', '3');
    const raw = new Etcd3({ hosts: etcd.endpoint });
    const now = await store.list('/t7/');
    await raw.kv.compact({ revision: now.revision, physical: true });
    raw.close();
    const events: WatchEvent[] = [];
    const watch = store.watch('/t7/', (e) => events.push(e), { fromRevision: old.revision });
    const reset = await waitFor(() => events.find((e) => e.type === 'reset'), 'a reset after compaction');
    expect(reset.type === 'reset' && reset.items.map((kv) => `${kv.key}=${kv.value}`)).toEqual(['/t7/a=2', '/t7/b=3']);
    await store.put('/t7/c', '4');
    await waitFor(() => events.find((e) => e.type === 'put' && e.kv.key === '/t7/c'), 'a put after the reset');
    await watch.close();
  });

  test('a watch survives an etcd restart and resumes without losing the writes made meanwhile', async () => {
    const seen = new Map<string, string>();
    const start = await store.list('/t8/');
    const watch = store.watch('/t8/', (e) => {
      if (e.type === 'put') seen.set(e.kv.key, e.kv.value);
    }, { fromRevision: start.revision });
    await store.put('/t8/before', 'x');
    await waitFor(() => seen.has('/t8/before'), 'the first event');
    await etcd.restart();
    await waitFor(async () => {
      try {
        await store.put('/t8/after', 'y');
        return true;
      } catch {
        return false;
      }
    }, 'etcd to accept writes again', { intervalMs: 200 });
    await waitFor(() => seen.get('/t8/after') === 'y', 'the event written after the restart');
    await watch.close();
  });

  test('a frozen etcd (SIGSTOP) breaks an idle watch through keepalive; thawed, the watch reconnects and says so', async () => {
    const idle = EtcdStore.connect({ endpoints: [etcd.endpoint], watchRetryMs: 100, keepaliveMs: 5000 });
    const errors: Error[] = [];
    let connected = 0;
    const watch = idle.watch('/t9/', () => undefined, { onError: (e) => errors.push(e), onConnected: () => connected++ });
    try {
      await waitFor(() => connected === 1, 'the watch to connect');
      process.kill(etcd.pid, 'SIGSTOP');
      try {
        await waitFor(() => errors.length > 0, 'the keepalive to give up on the frozen etcd', { timeoutMs: 30_000, intervalMs: 200 });
      } finally {
        process.kill(etcd.pid, 'SIGCONT');
      }
      await waitFor(() => connected >= 2, 'the watch to reconnect', { timeoutMs: 30_000, intervalMs: 200 });
    } finally {
      await watch.close();
      await idle.close();
    }
  });
});
