import { ValidationError } from '../../model/errors';
import { KeyValueStore } from '../datastore/types';
import { ConfigFollower, ConfigParseResult } from './config-follower';
import { parseGoDuration } from './felix-config';

/**
 * KubeControllersConfiguration as the kit's controllers (apps/calico-controllers.ts) read it: a pure
 * parser for the spec of KubeControllersConfiguration `default` (the JSON stored in the datastore:
 * the custom resource's `spec`) plus the environment variables Calico's kube-controllers lets
 * override it, and the merge kube-controllers does between them
 * (kube-controllers/pkg/config/runconfig.go, `mergeConfig`):
 *
 * - `ENABLED_CONTROLLERS` (comma-separated) replaces the spec's choice of controllers; without it a
 *   controller runs when its section (`controllers.node`, …) is present.
 * - `HEALTH_ENABLED` (Go `strconv.ParseBool`) wins over `healthChecks` (Enabled unless `Disabled`).
 * - `LOG_LEVEL` wins over `logSeverityScreen`.
 * - `controllers.node.leakGracePeriod` has no variable. Absent (the node section without it), no
 *   allocation becomes a leak candidate, as kube-controllers leaves its LeakGracePeriod nil; 0 disables.
 * - `RECONCILER_PERIOD` sets only the policy/workloadEndpoint/serviceAccount/namespace controllers'
 *   periods, never the node controller's, so it is ignored here.
 *
 * The kit runs only the node controller (IPAM garbage collection and clean-up after deleted nodes).
 * A setting asking for what it cannot do (another controller, automatic host endpoints) is an error
 * naming the field, and does not take effect; fields kube-controllers knows but the kit's controllers
 * have nothing to do with are listed in `ignored`. Deviation, deliberate: kube-controllers' node
 * controller ignores `controllers.node.reconcilerPeriod` (it syncs IPAM every leakGracePeriod/2 and on
 * node and pod deletion events); the kit's node controller has no watches, so it obeys
 * `reconcilerPeriod` as the period of its passes (the field's documented meaning: "the period to
 * perform reconciliation with the Calico datastore").
 */

/** Where KubeControllersConfigurations live in a Calico store (etcd layout or KubeCrdStore). */
export const KUBE_CONTROLLERS_CONFIGURATION_PREFIX = 'kubecontrollersconfigurations/';
/** kube-controllers reads only the one named `default`. */
export const KUBE_CONTROLLERS_CONFIGURATION_NAME = 'default';
const SOURCE = `${KUBE_CONTROLLERS_CONFIGURATION_PREFIX}${KUBE_CONTROLLERS_CONFIGURATION_NAME}`;

export type KubeControllersLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The settings the kit's controllers obey. */
export interface KubeControllersSettings {
  /** `healthChecks` / `HEALTH_ENABLED`: `/liveness` and `/readiness` check the controllers' passes; off: they only say the process started. Default Enabled. */
  readonly healthChecks: boolean;
  /** `controllers.node` present / `node` in `ENABLED_CONTROLLERS`: the node controller runs. */
  readonly nodeController: boolean;
  /** `controllers.node.leakGracePeriod` in seconds; 0 = no leak collection (deleted nodes are still cleaned up). */
  readonly leakGracePeriodSeconds: number;
  /** `controllers.node.reconcilerPeriod` in seconds: the period of the node controller's passes. Default 5m. */
  readonly reconcilerPeriodSeconds: number;
  /** `logSeverityScreen` / `LOG_LEVEL`, as the kit's log levels (Panic and Fatal log errors; None logs errors only). Default Info. */
  readonly logLevel: KubeControllersLogLevel;
}

/**
 * What kube-controllers runs with when KubeControllersConfiguration `default` is absent: it creates
 * `default` from these values (runconfig.go, NewDefaultKubeControllersConfig). The kit's controllers
 * do not create it (the manifests declare it; creating would need a `create` grant used only then):
 * they run with the same values and say so.
 */
export const KUBE_CONTROLLERS_DEFAULT_SPEC = {
  logSeverityScreen: 'Info',
  healthChecks: 'Enabled',
  etcdV3CompactionPeriod: '10m',
  controllers: {
    node: { reconcilerPeriod: '5m', syncLabels: 'Enabled', hostEndpoint: { autoCreate: 'Disabled', createDefaultHostEndpoint: 'Enabled' }, leakGracePeriod: '15m' },
    policy: { reconcilerPeriod: '5m' },
    workloadEndpoint: { reconcilerPeriod: '5m' },
    serviceAccount: { reconcilerPeriod: '5m' },
    namespace: { reconcilerPeriod: '5m' },
    loadBalancer: { assignIPs: 'AllServices' },
    migration: { policyNameMigrator: 'Enabled' },
  },
} as const;

/** The defaults a bad value falls back to at start-up (later, the value in force is kept). */
export const KUBE_CONTROLLERS_DEFAULTS: KubeControllersSettings = {
  healthChecks: true,
  nodeController: true,
  leakGracePeriodSeconds: 900,
  reconcilerPeriodSeconds: 300,
  logLevel: 'info',
};

/** The variables kube-controllers reads to override the spec (config.go, AllEnvs). */
export const KUBE_CONTROLLERS_ENV = ['LOG_LEVEL', 'RECONCILER_PERIOD', 'ENABLED_CONTROLLERS', 'COMPACTION_PERIOD', 'HEALTH_ENABLED', 'SYNC_NODE_LABELS', 'AUTO_HOST_ENDPOINTS'] as const;

/** The controllers process's own variables (apps/calico-controllers.ts), read beside KUBE_CONTROLLERS_ENV. */
export const CONTROLLERS_PROCESS_ENV = ['DATASTORE_TYPE', 'ETCD_ENDPOINTS', 'ETCD_PREFIX', 'KUBECONFIG', 'HEALTH_PORT'] as const;

/** The settings as one log or status line: what the controllers run with. */
export function describeKubeControllersSettings(s: KubeControllersSettings): Record<string, string | number | boolean> {
  return {
    nodeController: s.nodeController,
    leakGracePeriodSeconds: s.leakGracePeriodSeconds,
    reconcilerPeriodSeconds: s.reconcilerPeriodSeconds,
    healthChecks: s.healthChecks,
    logLevel: s.logLevel,
  };
}

/** Controller names ENABLED_CONTROLLERS accepts (runconfig.go, mergeEnabledControllers). */
const CONTROLLER_NAMES = ['node', 'workloadendpoint', 'profile', 'namespace', 'policy', 'serviceaccount', 'loadbalancer'];
/** Spec sections of controllers the kit does not run. */
const OTHER_CONTROLLERS = ['policy', 'workloadEndpoint', 'serviceAccount', 'namespace', 'loadBalancer'];
const ONLY_NODE = 'the kit\'s controllers run only the node controller';

export interface KubeControllersSources {
  /** KubeControllersConfiguration `default`'s spec; undefined when it does not exist (kube-controllers' defaults apply). */
  readonly spec?: unknown;
  /** The process environment (the variables in KUBE_CONTROLLERS_ENV). */
  readonly env?: NodeJS.ProcessEnv;
  /** The settings in force: a field whose value is bad keeps its value from here; without it, KUBE_CONTROLLERS_DEFAULTS. */
  readonly previous?: KubeControllersSettings;
}

class Bad extends Error {}
type Mutable = { -readonly [K in keyof KubeControllersSettings]?: KubeControllersSettings[K] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Go strconv.ParseBool. */
function goBool(raw: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  throw new Bad('a boolean (true or false)');
}

function duration(value: unknown, min: number, why: string): number {
  const s = typeof value === 'string' ? parseGoDuration(value) : undefined;
  if (s === undefined) throw new Bad('a Go duration such as 90s, 5m or 1m30s');
  if (s < min) throw new Bad(min === 0 ? `a duration of 0s or more${why}` : `at least ${min}s${why}`);
  return s;
}

function enabled(value: unknown): boolean {
  if (value === 'Enabled') return true;
  if (value === 'Disabled') return false;
  throw new Bad('Enabled or Disabled');
}

/** logrus.ParseLevel's names (and the CRD's None) → the kit's log levels. */
function logLevel(raw: unknown): KubeControllersLogLevel {
  const v = typeof raw === 'string' ? raw.toLowerCase() : '';
  if (v === 'trace' || v === 'debug') return 'debug';
  if (v === 'info') return 'info';
  if (v === 'warn' || v === 'warning') return 'warn';
  if (v === 'error' || v === 'fatal' || v === 'panic' || v === 'none') return 'error';
  throw new Bad('one of None, Debug, Info, Warning, Error, Fatal, Panic');
}

class Reader {
  readonly settings: Mutable = {};
  readonly errors: ValidationError[] = [];
  readonly ignored: string[] = [];
  /** Keys whose winning value was bad: they keep the value in force. */
  readonly bad = new Set<keyof KubeControllersSettings>();

  constructor(private readonly previous: KubeControllersSettings) {}

  set<K extends keyof KubeControllersSettings>(key: K | undefined, field: string, value: unknown, parse: () => KubeControllersSettings[K]): void {
    try {
      const v = parse();
      if (key && !this.bad.has(key)) this.settings[key] = v;
    } catch (error) {
      if (!(error instanceof Bad)) throw error;
      this.errors.push(new ValidationError(field, value, error.message));
      if (key) {
        this.bad.add(key);
        this.settings[key] = this.previous[key];
      }
    }
  }

  has(key: keyof KubeControllersSettings): boolean {
    return this.settings[key] !== undefined;
  }
}

/**
 * The settings the controllers obey, from KubeControllersConfiguration `default`'s spec and the
 * environment. Never throws on datastore or environment input: see `errors`. `ignored` lists fields
 * and variables present that the kit's controllers have nothing to obey for.
 */
export function effectiveKubeControllersSettings(sources: KubeControllersSources): ConfigParseResult<KubeControllersSettings> {
  const previous = sources.previous ?? KUBE_CONTROLLERS_DEFAULTS;
  const r = new Reader(previous);
  const env = sources.env ?? {};
  const has = (name: string) => env[name] !== undefined;

  // Environment first: what it sets wins.
  if (has('ENABLED_CONTROLLERS')) {
    const raw = env.ENABLED_CONTROLLERS ?? '';
    const names = raw.split(',');
    for (const name of names) {
      if (!CONTROLLER_NAMES.includes(name)) r.set('nodeController', 'ENABLED_CONTROLLERS', raw, () => { throw new Bad(`a comma-separated list of ${CONTROLLER_NAMES.join(', ')}; "${name}" is none`); });
      else if (name !== 'node') r.set(undefined, 'ENABLED_CONTROLLERS', raw, () => { throw new Bad(`node (${ONLY_NODE}; "${name}" cannot run)`); });
    }
    r.set('nodeController', 'ENABLED_CONTROLLERS', raw, () => names.includes('node'));
  }
  if (has('HEALTH_ENABLED')) r.set('healthChecks', 'HEALTH_ENABLED', env.HEALTH_ENABLED, () => goBool(env.HEALTH_ENABLED ?? ''));
  if (has('LOG_LEVEL')) r.set('logLevel', 'LOG_LEVEL', env.LOG_LEVEL, () => logLevel(env.LOG_LEVEL));
  if (has('AUTO_HOST_ENDPOINTS')) {
    r.set(undefined, 'AUTO_HOST_ENDPOINTS', env.AUTO_HOST_ENDPOINTS, () => {
      if ((env.AUTO_HOST_ENDPOINTS ?? '').toLowerCase() !== 'disabled') throw new Bad('disabled (the kit\'s controllers create no host endpoints)');
      return undefined as never;
    });
  }
  for (const name of ['RECONCILER_PERIOD', 'COMPACTION_PERIOD', 'SYNC_NODE_LABELS']) if (has(name)) r.ignored.push(name);

  // Then the spec (kube-controllers' own defaults when `default` does not exist).
  const spec = sources.spec === undefined || sources.spec === null ? KUBE_CONTROLLERS_DEFAULT_SPEC : sources.spec;
  if (!isObject(spec)) {
    r.errors.push(new ValidationError(SOURCE, spec, 'a KubeControllersConfiguration spec (a JSON object)'));
    return finish(r, previous);
  }
  const at = (path: string) => `${SOURCE}.${path}`;
  for (const [field, value] of Object.entries(spec)) {
    switch (field) {
      case 'healthChecks':
        if (!r.has('healthChecks')) r.set('healthChecks', at(field), value, () => enabled(value));
        break;
      case 'logSeverityScreen':
        if (!r.has('logLevel')) r.set('logLevel', at(field), value, () => logLevel(value));
        break;
      case 'controllers':
        break;
      default:
        // etcdV3CompactionPeriod (the kit never compacts etcd), prometheusMetricsPort (metrics are on
        // the health port), debugProfilePort, and fields kube-controllers does not know.
        r.ignored.push(at(field));
    }
  }
  const controllers = spec.controllers ?? {};
  if (!isObject(controllers)) {
    r.set('nodeController', at('controllers'), controllers, () => { throw new Bad('an object of controller sections'); });
    return finish(r, previous);
  }
  const byEnv = has('ENABLED_CONTROLLERS');
  for (const [name, section] of Object.entries(controllers)) {
    if (name === 'node') continue;
    if (!byEnv && OTHER_CONTROLLERS.includes(name) && section !== null && section !== undefined) {
      r.set(undefined, at(`controllers.${name}`), section, () => { throw new Bad(`absent (${ONLY_NODE})`); });
    } else r.ignored.push(at(`controllers.${name}`));
  }
  const node = controllers.node;
  if (!byEnv) r.settings.nodeController = isObject(node);
  if (node !== undefined && node !== null && !isObject(node)) {
    r.set('nodeController', at('controllers.node'), node, () => { throw new Bad('an object (the node controller\'s settings)'); });
  }
  if (isObject(node)) {
    for (const [field, value] of Object.entries(node)) {
      const path = at(`controllers.node.${field}`);
      switch (field) {
        case 'leakGracePeriod':
          r.set('leakGracePeriodSeconds', path, value, () => duration(value, 0, ' (0 disables leak collection)'));
          break;
        case 'reconcilerPeriod':
          r.set('reconcilerPeriodSeconds', path, value, () => duration(value, 1, ': the period of the node controller\'s passes'));
          break;
        case 'hostEndpoint':
          r.set(undefined, path, value, () => {
            if (isObject(value) && value.autoCreate !== undefined && value.autoCreate !== 'Disabled') throw new Bad('autoCreate Disabled (the kit\'s controllers create no host endpoints)');
            return undefined as never;
          });
          break;
        default:
          // syncLabels: with the Kubernetes datastore kube-controllers never syncs labels (they are
          // the Node's own); the kit's etcd mode has no label copy either.
          r.ignored.push(path);
      }
    }
  }
  // The node section without leakGracePeriod: kube-controllers' LeakGracePeriod stays nil, so no leak candidates.
  if (r.settings.leakGracePeriodSeconds === undefined && !r.bad.has('leakGracePeriodSeconds')) r.settings.leakGracePeriodSeconds = 0;
  return finish(r, previous);
}

function finish(r: Reader, previous: KubeControllersSettings): ConfigParseResult<KubeControllersSettings> {
  const settings = { ...KUBE_CONTROLLERS_DEFAULTS, ...r.settings };
  for (const key of r.bad) (settings as Mutable)[key] = previous[key] as never;
  return { settings, errors: r.errors, ignored: r.ignored };
}

export interface KubeControllersConfigFollowerOptions {
  readonly store: KeyValueStore;
  /** The process environment (KUBE_CONTROLLERS_ENV wins over the spec). @default {} */
  readonly env?: NodeJS.ProcessEnv;
  /** After a change in the datastore moved the settings, with those in force before. */
  readonly onChange?: (result: ConfigParseResult<KubeControllersSettings>, previous: KubeControllersSettings) => void;
  /** Failed reads and watches, and each bad value seen on a re-read. */
  readonly onError?: (error: Error) => void;
}

/**
 * Follows KubeControllersConfiguration `default` (`kubecontrollersconfigurations/default`): one get
 * at start-up and after each change, one list + watch of the kind. Its deletion means kube-controllers'
 * defaults, as kube-controllers recreates it with those.
 */
export class KubeControllersConfigFollower extends ConfigFollower<KubeControllersSettings> {
  constructor(options: KubeControllersConfigFollowerOptions) {
    super({
      store: options.store,
      prefix: KUBE_CONTROLLERS_CONFIGURATION_PREFIX,
      names: [KUBE_CONTROLLERS_CONFIGURATION_NAME],
      parse: ([spec], previous) => effectiveKubeControllersSettings({ spec, env: options.env ?? {}, ...(previous ? { previous } : {}) }),
      ...(options.onChange ? { onChange: options.onChange } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
    });
  }
}
