import { RevisionConflictError } from '../../../lib/dataplane/datastore/errors';
import { OutageLog, formatDuration, observedStore } from '../../../lib/dataplane/datastore/outage';
import { KeyValueStore, WatchEvent, WatchOptions } from '../../../lib/dataplane/datastore/types';
import { ManualClock } from '../../support/manual-clock';

function recorder() {
  const lines: string[] = [];
  return { lines, sink: { warn: (msg: string) => lines.push(`warn ${msg}`), info: (msg: string) => lines.push(`info ${msg}`) } };
}

/** A store whose calls fail while `down` is set; its watch hands its callbacks to the test. */
function flakyStore() {
  const state = { down: false, onEvent: undefined as ((e: WatchEvent) => void) | undefined, options: undefined as WatchOptions | undefined };
  const call = async <T>(value: T): Promise<T> => {
    if (state.down) throw new Error('14 UNAVAILABLE: No connection established');
    return value;
  };
  const kv = { key: 'k', value: 'v', revision: '1', expires: false };
  const store: KeyValueStore = {
    kind: 'test',
    get: () => call(kv),
    list: () => call({ items: [kv], revision: '1' }),
    put: () => call(kv),
    create: async () => {
      if (state.down) throw new Error('down');
      throw new RevisionConflictError('k', 'exists');
    },
    update: () => call(kv),
    delete: () => call(true),
    watch: (_prefix, onEvent, options) => {
      state.onEvent = onEvent;
      state.options = options;
      return { close: async () => undefined };
    },
    close: async () => undefined,
  };
  return { state, store };
}

describe('OutageLog: one line when the datastore goes, one when it returns', () => {
  test('N failures give one "lost" line; recovery gives one "regained" line with the duration', () => {
    const clock = new ManualClock();
    const { lines, sink } = recorder();
    const outage = new OutageLog(sink, 'datastore', clock);
    outage.succeeded();
    expect(lines).toEqual([]);
    for (let i = 0; i < 50; i++) {
      outage.failed(new Error(i % 2 ? 'deadline exceeded' : 'connection refused'));
      clock.advance(1200);
    }
    expect(lines).toEqual(['warn datastore lost: connection refused']);
    expect(outage.lost).toBe(true);
    outage.succeeded();
    outage.succeeded();
    expect(lines).toEqual(['warn datastore lost: connection refused', 'info datastore regained after 1m0s']);
    expect(outage.lost).toBe(false);
    outage.failed(new Error('again'));
    expect(lines.slice(2)).toEqual(['warn datastore lost: again']);
  });

  test('a call that started before the outage was noticed does not end it', () => {
    const { lines, sink } = recorder();
    const outage = new OutageLog(sink, 'etcd', new ManualClock());
    const early = outage.ticket();
    outage.failed(new Error('gone'));
    outage.succeeded(early);
    expect(outage.lost).toBe(true);
    outage.succeeded(outage.ticket());
    expect(lines).toEqual(['warn etcd lost: gone', 'info etcd regained after 0ms']);
  });

  test('durations read as an operator would', () => {
    expect([formatDuration(850), formatDuration(12_340), formatDuration(125_000)]).toEqual(['850ms', '12.3s', '2m5s']);
  });
});

describe('observedStore', () => {
  test('failed calls and watch errors mark the datastore lost once; a call or watch event after it marks it regained', async () => {
    const clock = new ManualClock();
    const { lines, sink } = recorder();
    const { state, store } = flakyStore();
    const observed = observedStore(store, new OutageLog(sink, 'datastore', clock));
    const watchErrors: Error[] = [];
    observed.watch('p', () => undefined, { onError: (e) => watchErrors.push(e) });

    state.down = true;
    for (let i = 0; i < 10; i++) {
      await expect(observed.get('k')).rejects.toThrow('UNAVAILABLE');
      state.options!.onError!(new Error('watch disconnected'));
      clock.advance(1000);
    }
    expect(watchErrors).toHaveLength(10); // the caller still sees every error
    state.down = false;
    state.onEvent!({ type: 'put', kv: { key: 'k', value: 'v', revision: '2', expires: false } });
    await observed.list('p');
    expect(lines).toEqual(['warn datastore lost: 14 UNAVAILABLE: No connection established', 'info datastore regained after 10.0s']);
  });

  test('a watch that reconnects is the datastore regained, even when nothing changed', async () => {
    const { lines, sink } = recorder();
    const { state, store } = flakyStore();
    const connected: string[] = [];
    const observed = observedStore(store, new OutageLog(sink, 'datastore', new ManualClock()));
    observed.watch('p', () => undefined, { onConnected: () => connected.push('p') });
    state.options!.onError!(new Error('14 UNAVAILABLE: keepalive timeout'));
    state.options!.onConnected!();
    expect(lines).toEqual(['warn datastore lost: 14 UNAVAILABLE: keepalive timeout', 'info datastore regained after 0ms']);
    expect(connected).toEqual(['p']);
  });

  test('a datastore that answers with a refusal (lost compare-and-swap) is up', async () => {
    const { lines, sink } = recorder();
    const { state, store } = flakyStore();
    const observed = observedStore(store, new OutageLog(sink, 'datastore', new ManualClock()));
    state.down = true;
    await expect(observed.put('k', 'v')).rejects.toThrow();
    state.down = false;
    await expect(observed.create('k', 'v')).rejects.toThrow(RevisionConflictError);
    expect(lines).toEqual(['warn datastore lost: 14 UNAVAILABLE: No connection established', 'info datastore regained after 0ms']);
  });
});
