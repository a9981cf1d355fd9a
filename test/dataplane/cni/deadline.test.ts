import { KeyValue, KeyValueStore } from '../../../lib/dataplane/datastore/types';
import { parseCalicoNetConf } from '../../../lib/dataplane/cni/calico-config';
import { InvocationDeadline, deadlineStore } from '../../../lib/dataplane/cni/deadline';
import { CniError } from '../../../lib/dataplane/cni/errors';
import { ManualClock } from '../../support/manual-clock';

/** A store whose `get` answers only when the test says so (a frozen etcd), counting the calls that reached it. */
function frozenStore(): { store: KeyValueStore; calls: () => number; thaw(): void } {
  let calls = 0;
  const waiting: (() => void)[] = [];
  const get = () => {
    calls++;
    return new Promise<KeyValue | undefined>((resolve) => waiting.push(() => resolve(undefined)));
  };
  const store = { kind: 'etcd', get, close: () => Promise.resolve() } as unknown as KeyValueStore;
  return { store, calls: () => calls, thaw: () => waiting.splice(0).forEach((f) => f()) };
}

describe('the datastore deadline of one CNI invocation', () => {
  test('a call that hangs past its deadline answers error 11 naming the datastore and the setting', async () => {
    const clock = new ManualClock();
    const deadline = new InvocationDeadline(2, 'datastore etcdv3', clock);
    const frozen = frozenStore();
    const get = deadlineStore(frozen.store, deadline).get('ipamblocks/x');
    clock.advance(2000);
    const error = await get.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CniError);
    expect(error).toMatchObject({ code: 11, message: 'datastore etcdv3 did not answer within 2 s (datastore_timeout_seconds): try again later' });
  });

  test('after a call passed its deadline no call is started; settled() waits for the one still in flight', async () => {
    const clock = new ManualClock();
    const deadline = new InvocationDeadline(1, 'datastore etcdv3', clock);
    const frozen = frozenStore();
    const store = deadlineStore(frozen.store, deadline);
    const first = store.get('a').catch(() => 'timed out');
    clock.advance(1000);
    await expect(first).resolves.toBe('timed out');
    await expect(store.get('b')).rejects.toMatchObject({ code: 11 });
    expect(frozen.calls()).toBe(1);
    expect(deadline.pending).toBe(true);
    let settled = false;
    const waiting = deadline.settled().then(() => { settled = true; });
    await Promise.resolve();
    expect(settled).toBe(false);
    frozen.thaw();
    await waiting;
    expect(deadline.pending).toBe(false);
  });

  test('a call that answers in time is untouched and leaves nothing pending', async () => {
    const clock = new ManualClock();
    const deadline = new InvocationDeadline(10, 'datastore etcdv3', clock);
    const frozen = frozenStore();
    const get = deadlineStore(frozen.store, deadline).get('a');
    frozen.thaw();
    await expect(get).resolves.toBeUndefined();
    expect(deadline.pending).toBe(false);
    deadline.dispose();
    expect(clock.pending()).toBe(0);
  });

  test('the deadline is per call: calls that each answer in time may together take longer', async () => {
    const clock = new ManualClock();
    const deadline = new InvocationDeadline(2, 'datastore etcdv3', clock);
    const frozen = frozenStore();
    const store = deadlineStore(frozen.store, deadline);
    for (const key of ['a', 'b', 'c']) {
      const get = store.get(key);
      clock.advance(1500);
      frozen.thaw();
      await expect(get).resolves.toBeUndefined();
    }
    expect(deadline.passed).toBe(false);
  });

  test('the host-lock wait is bounded on its own, and ends when a datastore call passes its deadline', async () => {
    const clock = new ManualClock();
    const deadline = new InvocationDeadline(2, 'datastore etcdv3', clock);
    const lock = deadline.waitSignal('IPAM host lock /run/ipam.lock', 12);
    clock.advance(11_999);
    expect(lock.aborted).toBe(false);
    clock.advance(1);
    expect(lock.reason).toMatchObject({ code: 11, message: 'IPAM host lock /run/ipam.lock not had within 12 s: try again later' });

    const second = deadline.waitSignal('IPAM host lock /run/ipam.lock', 12);
    const frozen = frozenStore();
    void deadlineStore(frozen.store, deadline).get('a').catch(() => undefined);
    clock.advance(2000);
    expect(second.reason).toMatchObject({ code: 11, message: expect.stringContaining('did not answer within 2 s') as unknown });
  });

  test('datastore_timeout_seconds: default 10, validated with the key, the value and what is expected', () => {
    const conf = (extra: Record<string, unknown>) => JSON.stringify({
      cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'cnikit-calico', datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:2379', ...extra,
    });
    expect(parseCalicoNetConf(conf({})).datastoreTimeoutSeconds).toBe(10);
    expect(parseCalicoNetConf(conf({ datastore_timeout_seconds: 2.5 })).datastoreTimeoutSeconds).toBe(2.5);
    for (const bad of [0, -1, '10', 601]) {
      expect(() => parseCalicoNetConf(conf({ datastore_timeout_seconds: bad }))).toThrow(
        `datastore_timeout_seconds: ${JSON.stringify(bad)} is not valid; expected a number of seconds greater than 0 and at most 600`,
      );
    }
  });
});
