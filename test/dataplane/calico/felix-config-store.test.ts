import { FelixConfigFollower } from '../../../lib/dataplane/calico/felix-config-store';
import { FELIX_DEFAULTS, FelixSettings } from '../../../lib/dataplane/calico/felix-config';
import { KeyValue, KeyValueStore, WatchEvent } from '../../../lib/dataplane/datastore/types';

/** Just enough of a store: get, and a watch that reports every put. */
class Store {
  readonly values = new Map<string, string>();
  private readonly watchers: ((e: WatchEvent) => void)[] = [];

  async get(key: string): Promise<KeyValue | undefined> {
    const value = this.values.get(key);
    return value === undefined ? undefined : { key, value, revision: '1', expires: false };
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void) {
    expect(prefix).toBe('felixconfigurations/');
    this.watchers.push(onEvent);
    return { close: async () => undefined };
  }

  set(key: string, spec: unknown): void {
    const value = typeof spec === 'string' ? spec : JSON.stringify(spec);
    this.values.set(key, value);
    for (const w of this.watchers) w({ type: 'put', kv: { key, value, revision: '2', expires: false } });
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

test('reads default and node.<name>, follows changes, reports each bad value and keeps the value in force', async () => {
  const store = new Store();
  store.set('felixconfigurations/default', { nftablesRefreshInterval: '60s', logSeverityScreen: 'Info' });
  store.set('felixconfigurations/node.n2', { nftablesRefreshInterval: '1s' });
  const changes: [FelixSettings, FelixSettings][] = [];
  const errors: string[] = [];
  const follower = new FelixConfigFollower({
    store: store as unknown as KeyValueStore, node: 'n1', env: { FELIX_LOGSEVERITYSCREEN: 'debug' },
    onChange: (r, previous) => changes.push([r.settings, previous]), onError: (e) => errors.push(e.message),
  });
  const first = await follower.start();
  expect(first).toEqual({ settings: { ...FELIX_DEFAULTS, nftablesRefreshIntervalSeconds: 60, logSeverityScreen: 'Debug' }, errors: [], ignored: [] });

  store.set('felixconfigurations/node.n1', { nftablesRefreshInterval: '2m' });
  await settle();
  expect(follower.current.nftablesRefreshIntervalSeconds).toBe(120);
  expect(changes.map(([now, before]) => [before.nftablesRefreshIntervalSeconds, now.nftablesRefreshIntervalSeconds])).toEqual([[60, 120]]);

  // Environment wins: a datastore change of the log level changes nothing.
  store.set('felixconfigurations/default', { nftablesRefreshInterval: '60s', logSeverityScreen: 'Error' });
  await settle();
  expect(changes).toHaveLength(1);

  store.set('felixconfigurations/node.n1', { nftablesRefreshInterval: 'often' });
  await settle();
  expect(errors).toEqual(['felixconfigurations/node.n1.nftablesRefreshInterval: "often" is not valid; expected a Go duration such as 90s, 5m or 1m30s']);
  expect(follower.current.nftablesRefreshIntervalSeconds).toBe(120);
  expect(changes).toHaveLength(1);

  // Unreadable: its last good version stays in force (not Felix's default, not `default`'s 60 s).
  store.set('felixconfigurations/node.n1', '{not json');
  await settle();
  expect(errors[1]).toBe('felixconfigurations/node.n1: value "{not json" is not valid; expected a JSON object; its last good version stays in force');
  expect(follower.current.nftablesRefreshIntervalSeconds).toBe(120);
  await follower.stop();
});

test('no FelixConfiguration at all: Felix\'s defaults', async () => {
  const follower = new FelixConfigFollower({ store: new Store() as unknown as KeyValueStore, node: 'n1' });
  expect((await follower.start()).settings).toEqual(FELIX_DEFAULTS);
  expect(follower.current.defaultEndpointToHostAction).toBe('Drop');
  await follower.stop();
});
