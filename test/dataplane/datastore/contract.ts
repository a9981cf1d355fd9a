import { RevisionConflictError } from '../../../lib/dataplane/datastore/errors';
import { KeyValueStore, WatchEvent } from '../../../lib/dataplane/datastore/types';
import { waitFor } from './helpers';

/**
 * The behaviour every KeyValueStore must have, run against each implementation (real etcd, the
 * Kubernetes API server double). Keys are `ipamblocks/<name>` so that they are valid in both.
 */
export function describeKeyValueStoreContract(name: string, setup: () => Promise<{ store: KeyValueStore; teardown: () => Promise<void> }>): void {
  describe(`KeyValueStore contract: ${name}`, () => {
    let store: KeyValueStore;
    let teardown: () => Promise<void>;
    let n = 0;
    let p: string;
    const v = (x: number) => JSON.stringify({ value: x });

    beforeAll(async () => {
      ({ store, teardown } = await setup());
    });
    afterAll(async () => {
      await teardown?.();
    });
    beforeEach(() => {
      p = `ipamblocks/c${++n}-`;
    });

    test('get of a missing key is undefined; put then get returns the value and a revision', async () => {
      expect(await store.get(`${p}none`)).toBeUndefined();
      const kv = await store.put(`${p}a`, v(1));
      expect(kv).toMatchObject({ key: `${p}a`, value: v(1), expires: false });
      expect(await store.get(`${p}a`)).toEqual(kv);
      const again = await store.put(`${p}a`, v(2));
      expect(again.revision).not.toBe(kv.revision);
    });

    test('list returns the keys under a prefix in key order, with a revision to watch from', async () => {
      await store.put(`${p}b`, v(2));
      await store.put(`${p}a`, v(1));
      await store.put(`ipamblocks/other-${n}`, v(3));
      const list = await store.list(p);
      expect(list.items.map((kv) => kv.key)).toEqual([`${p}a`, `${p}b`]);
      expect(list.revision).toMatch(/^\d+$/);
    });

    test('create is create-if-absent', async () => {
      await store.create(`${p}k`, v(1));
      await expect(store.create(`${p}k`, v(2))).rejects.toMatchObject({ name: 'RevisionConflictError', reason: 'exists' });
      expect((await store.get(`${p}k`))!.value).toBe(v(1));
    });

    test('update is compare-and-swap on the revision', async () => {
      const first = await store.create(`${p}k`, v(1));
      const second = await store.update(`${p}k`, v(2), first.revision);
      await expect(store.update(`${p}k`, v(3), first.revision)).rejects.toMatchObject({ reason: 'changed' });
      expect(await store.get(`${p}k`)).toEqual(second);
      await expect(store.update(`${p}gone`, v(1), first.revision)).rejects.toMatchObject({ reason: 'missing' });
    });

    test('delete: unconditional, and compare-and-swap with a revision', async () => {
      const first = await store.create(`${p}k`, v(1));
      const second = await store.update(`${p}k`, v(2), first.revision);
      await expect(store.delete(`${p}k`, first.revision)).rejects.toBeInstanceOf(RevisionConflictError);
      expect(await store.delete(`${p}k`, second.revision)).toBe(true);
      expect(await store.get(`${p}k`)).toBeUndefined();
      expect(await store.delete(`${p}k`)).toBe(false);
    });

    test('of ten racing creates of one key exactly one wins; of ten racing updates from one revision exactly one wins', async () => {
      const creates = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.create(`${p}race`, v(i))));
      expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const base = (await store.get(`${p}race`))!;
      const updates = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.update(`${p}race`, v(100 + i), base.revision)));
      expect(updates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of updates) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(RevisionConflictError);
    });

    test('watch from a list revision delivers every later put and delete under the prefix, in order', async () => {
      await store.put(`${p}old`, v(0));
      const list = await store.list(p);
      const events: WatchEvent[] = [];
      const created = await store.create(`${p}a`, v(1)); // after the list, before the watch opens
      const watch = store.watch(p, (e) => events.push(e), { fromRevision: list.revision });
      await store.update(`${p}a`, v(2), created.revision);
      await store.delete(`${p}old`);
      await store.put(`ipamblocks/elsewhere-${n}`, v(9));
      await waitFor(() => events.length >= 3, 'three events');
      await watch.close();
      const text = events.map((e) => (e.type === 'put' ? `put ${e.kv.key} ${e.kv.value}` : e.type === 'delete' ? `delete ${e.key}` : 'reset'));
      expect(text).toEqual([`put ${p}a ${v(1)}`, `put ${p}a ${v(2)}`, `delete ${p}old`]);
    });
  });
}
