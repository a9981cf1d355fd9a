import { KeyValue, KeyValueStore, WatchEvent } from '../../../lib/dataplane/datastore/types';
import {
  KUBE_CONTROLLERS_DEFAULTS, KubeControllersConfigFollower, KubeControllersSettings, effectiveKubeControllersSettings,
} from '../../../lib/dataplane/calico/kube-controllers-config';

const parse = (spec: unknown, env: NodeJS.ProcessEnv = {}, previous?: KubeControllersSettings) =>
  effectiveKubeControllersSettings({ spec, env, ...(previous ? { previous } : {}) });
const messages = (r: { errors: readonly Error[] }) => r.errors.map((e) => e.message);

describe('KubeControllersConfiguration default + env → the settings the controllers obey', () => {
  test('the spec the kit renders', () => {
    const r = parse({ healthChecks: 'Enabled', controllers: { node: { leakGracePeriod: '15m', reconcilerPeriod: '1m' } } }, { ENABLED_CONTROLLERS: 'node' });
    expect(r).toEqual({
      settings: { healthChecks: true, nodeController: true, leakGracePeriodSeconds: 900, reconcilerPeriodSeconds: 60, logLevel: 'info' },
      errors: [], ignored: [],
    });
  });

  test('no KubeControllersConfiguration: the values kube-controllers creates it with', () => {
    const r = parse(undefined, { ENABLED_CONTROLLERS: 'node' });
    expect(r.settings).toEqual(KUBE_CONTROLLERS_DEFAULTS);
    expect(r.errors).toEqual([]);
    // kube-controllers' default has sections the kit does not obey: said so.
    expect(r.ignored).toContain('kubecontrollersconfigurations/default.etcdV3CompactionPeriod');
    expect(r.ignored).toContain('kubecontrollersconfigurations/default.controllers.policy');
    // Without ENABLED_CONTROLLERS that default would start controllers the kit does not have: refused, one line each.
    expect(messages(parse(undefined))).toHaveLength(5);
    expect(parse(undefined).settings).toEqual(KUBE_CONTROLLERS_DEFAULTS);
  });

  test('without ENABLED_CONTROLLERS the node controller runs when its section is present; leakGracePeriod absent: no leak candidates (kube-controllers\' nil)', () => {
    expect(parse({ controllers: {} }).settings).toMatchObject({ nodeController: false });
    expect(parse({ controllers: { node: {} } }).settings).toMatchObject({ nodeController: true, leakGracePeriodSeconds: 0, reconcilerPeriodSeconds: 300 });
    expect(parse({ controllers: { node: { leakGracePeriod: '0s' } } }).settings.leakGracePeriodSeconds).toBe(0);
    expect(parse({ controllers: { node: { leakGracePeriod: '1h30m' } } }).settings.leakGracePeriodSeconds).toBe(5400);
  });

  test('environment wins as in kube-controllers: ENABLED_CONTROLLERS, HEALTH_ENABLED, LOG_LEVEL', () => {
    const spec = { healthChecks: 'Enabled', logSeverityScreen: 'Debug', controllers: { node: { leakGracePeriod: '15m' }, policy: {} } };
    const r = parse(spec, { ENABLED_CONTROLLERS: 'node', HEALTH_ENABLED: 'false', LOG_LEVEL: 'warning' });
    expect(r.settings).toMatchObject({ nodeController: true, healthChecks: false, logLevel: 'warn', leakGracePeriodSeconds: 900 });
    expect(r.errors).toEqual([]);
    // With ENABLED_CONTROLLERS set, the spec's sections do not choose controllers.
    expect(r.ignored).toEqual(['kubecontrollersconfigurations/default.controllers.policy']);
    expect(parse({ healthChecks: 'Disabled', controllers: { node: {} } }).settings.healthChecks).toBe(false);
    expect(parse({ controllers: {} }, { ENABLED_CONTROLLERS: 'node' }).settings.nodeController).toBe(true);
  });

  test('what the kit cannot do is refused with one line naming the field, the value and what is expected', () => {
    expect(messages(parse({ controllers: { node: {}, policy: { reconcilerPeriod: '5m' } } }))).toEqual([
      'kubecontrollersconfigurations/default.controllers.policy: {"reconcilerPeriod":"5m"} is not valid; expected absent (the kit\'s controllers run only the node controller)',
    ]);
    const two = parse({ controllers: { node: {} } }, { ENABLED_CONTROLLERS: 'node,loadbalancer' });
    expect(messages(two)).toEqual(['ENABLED_CONTROLLERS: "node,loadbalancer" is not valid; expected node (the kit\'s controllers run only the node controller; "loadbalancer" cannot run)']);
    expect(two.settings.nodeController).toBe(true);
    expect(messages(parse({ controllers: { node: { hostEndpoint: { autoCreate: 'Enabled' } } } }))).toEqual([
      'kubecontrollersconfigurations/default.controllers.node.hostEndpoint: {"autoCreate":"Enabled"} is not valid; expected autoCreate Disabled (the kit\'s controllers create no host endpoints)',
    ]);
    expect(messages(parse({ controllers: { node: {} } }, { AUTO_HOST_ENDPOINTS: 'enabled' }))[0]).toMatch(/^AUTO_HOST_ENDPOINTS: "enabled" is not valid; expected disabled/);
  });

  test('a bad value never takes effect: start-up gets the default, later the value in force stays', () => {
    const bad = { healthChecks: 'yes', controllers: { node: { leakGracePeriod: '15 minutes', reconcilerPeriod: '0s' } } };
    const start = parse(bad);
    expect(messages(start)).toEqual([
      'kubecontrollersconfigurations/default.healthChecks: "yes" is not valid; expected Enabled or Disabled',
      'kubecontrollersconfigurations/default.controllers.node.leakGracePeriod: "15 minutes" is not valid; expected a Go duration such as 90s, 5m or 1m30s',
      'kubecontrollersconfigurations/default.controllers.node.reconcilerPeriod: "0s" is not valid; expected at least 1s: the period of the node controller\'s passes',
    ]);
    expect(start.settings).toEqual({ ...KUBE_CONTROLLERS_DEFAULTS });
    const inForce: KubeControllersSettings = { healthChecks: false, nodeController: true, leakGracePeriodSeconds: 60, reconcilerPeriodSeconds: 10, logLevel: 'info' };
    expect(parse(bad, {}, inForce).settings).toEqual(inForce);
    expect(messages(parse({ controllers: { node: { leakGracePeriod: '-1m' } } }))[0]).toMatch(/expected a duration of 0s or more/);
    expect(messages(parse({ controllers: { node: {} } }, { HEALTH_ENABLED: 'maybe' }))).toEqual(['HEALTH_ENABLED: "maybe" is not valid; expected a boolean (true or false)']);
    expect(messages(parse({ controllers: { node: {} } }, { ENABLED_CONTROLLERS: 'nodes' }))[0]).toMatch(/^ENABLED_CONTROLLERS: "nodes" is not valid; expected a comma-separated list of node, /);
    expect(messages(parse('not a spec'))).toEqual(['kubecontrollersconfigurations/default: "not a spec" is not valid; expected a KubeControllersConfiguration spec (a JSON object)']);
  });
});

/** Just enough of a store: get, and a watch that reports every put. */
class Store {
  readonly values = new Map<string, string>();
  readonly prefixes: string[] = [];
  private readonly watchers: ((e: WatchEvent) => void)[] = [];

  async get(key: string): Promise<KeyValue | undefined> {
    const value = this.values.get(key);
    return value === undefined ? undefined : { key, value, revision: '1', expires: false };
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void) {
    this.prefixes.push(prefix);
    this.watchers.push(onEvent);
    return { close: async () => undefined };
  }

  set(key: string, spec: unknown): void {
    const value = typeof spec === 'string' ? spec : JSON.stringify(spec);
    this.values.set(key, value);
    for (const w of this.watchers) w({ type: 'put', kv: { key, value, revision: '2', expires: false } });
  }
}

/** Lets the follower's queued reads finish (promise callbacks only; no timers). */
const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

test('the follower reads kubecontrollersconfigurations/default, follows its changes, keeps the value in force on a bad one', async () => {
  const store = new Store();
  store.set('kubecontrollersconfigurations/default', { controllers: { node: { leakGracePeriod: '15m', reconcilerPeriod: '1m' } } });
  const changes: [number, number][] = [];
  const errors: string[] = [];
  const follower = new KubeControllersConfigFollower({
    store: store as unknown as KeyValueStore, env: { ENABLED_CONTROLLERS: 'node' },
    onChange: (r, previous) => changes.push([previous.leakGracePeriodSeconds, r.settings.leakGracePeriodSeconds]),
    onError: (e) => errors.push(e.message),
  });
  expect((await follower.start()).settings).toMatchObject({ leakGracePeriodSeconds: 900, reconcilerPeriodSeconds: 60 });
  expect(store.prefixes).toEqual(['kubecontrollersconfigurations/']);

  store.set('kubecontrollersconfigurations/default', { controllers: { node: { leakGracePeriod: '5m', reconcilerPeriod: '1m' } } });
  await flush();
  expect(follower.current.leakGracePeriodSeconds).toBe(300);
  expect(changes).toEqual([[900, 300]]);

  store.set('kubecontrollersconfigurations/default', { controllers: { node: { leakGracePeriod: 'soon', reconcilerPeriod: '1m' } } });
  await flush();
  expect(errors).toEqual(['kubecontrollersconfigurations/default.controllers.node.leakGracePeriod: "soon" is not valid; expected a Go duration such as 90s, 5m or 1m30s']);
  expect(follower.current.leakGracePeriodSeconds).toBe(300);
  expect(changes).toHaveLength(1);
  await follower.stop();
});
