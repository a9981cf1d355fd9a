import { ValidationError } from '../../model/errors';

/**
 * FelixConfiguration as the kit's agents read it: a pure parser for a FelixConfiguration spec (the
 * JSON stored in the datastore: the custom resource's `spec`) and for `FELIX_*` environment
 * variables, and the merge Felix does between them. Only the settings some process of the kit obeys
 * are returned (docs/calico-parity.md says which process obeys which); every other field is
 * reported in `ignored`, as Felix logs and ignores parameters it does not know.
 *
 * Values follow Felix's own parsers (felix/config/config_params.go, param_types.go):
 * - datastore: typed JSON as the CRD stores it (integers, booleans, Go duration strings such as
 *   `90s`, `5m`, `1m30s`);
 * - environment: text; durations in (fractional) seconds, booleans `true/false/1/0/yes/no/y/n/t/f`,
 *   enums case-insensitive, names case-insensitive (`FELIX_VXLANVNI` = `felix_vxlanvni`); an empty
 *   value is unset and `none` sets the zero value, as in Felix.
 */

export type FelixLogSeverity = 'Trace' | 'Debug' | 'Info' | 'Warning' | 'Error' | 'Fatal';
export type FelixEndpointToHostAction = 'Drop' | 'Return' | 'Accept';

/** The settings the kit's processes obey, with Felix's defaults applied. */
export interface FelixSettings {
  /** `logSeverityScreen`: calico-agent and policy-agent log level (see `felixLogLevel`). Felix default Info. */
  readonly logSeverityScreen: FelixLogSeverity;
  /** `healthEnabled`: calico-agent serves `/liveness` and `/readiness`. Felix default false. */
  readonly healthEnabled: boolean;
  /** `healthHost`. Felix default `localhost`. */
  readonly healthHost: string;
  /** `healthPort`. Felix default 9099. */
  readonly healthPort: number;
  /** `prometheusMetricsEnabled`: calico-agent serves `/metrics` on the host and port below. Felix default false. */
  readonly prometheusMetricsEnabled: boolean;
  /** `prometheusMetricsHost`: '' = every address. Felix default ''. */
  readonly prometheusMetricsHost: string;
  /** `prometheusMetricsPort`. Felix default 9091. */
  readonly prometheusMetricsPort: number;
  /**
   * `vxlanEnabled`: undefined = follow the IP pools (Felix default); false = no vxlan.calico and no
   * IPv4 VXLAN routes. As in Felix it does not govern vxlan-v6.calico, which follows the IPv6 pools.
   */
  readonly vxlanEnabled?: boolean;
  /** `ipipEnabled`: undefined = follow the IP pools (Felix default); false = no IPIP address or routes. */
  readonly ipipEnabled?: boolean;
  /** `vxlanVNI`. Felix default 4096. */
  readonly vxlanVni: number;
  /** `vxlanPort`. Felix default 4789. */
  readonly vxlanPort: number;
  /** `vxlanMTU`: MTU of `vxlan.calico`; 0 = uplink MTU − 50 (Felix default 0). */
  readonly vxlanMtu: number;
  /**
   * `vxlanMTUV6`: MTU of `vxlan-v6.calico`; 0 = the IPv6 uplink's MTU − 70 (Felix default 0). The
   * IPv6 device shares `vxlanVNI` and `vxlanPort` (Felix has no IPv6 variants of those).
   */
  readonly vxlanMtuV6: number;
  /** `routeRefreshInterval`: calico-agent full resync. Felix default 90 s. */
  readonly routeRefreshIntervalSeconds: number;
  /** `nftablesRefreshInterval`: policy-agent resync with the nft backend; 0 = none. Felix default 180 s. */
  readonly nftablesRefreshIntervalSeconds: number;
  /** `iptablesRefreshInterval`: policy-agent resync with the iptables backend; 0 = none. Felix default 180 s. */
  readonly iptablesRefreshIntervalSeconds: number;
  /** `ipForwarding` Enabled: calico-agent turns `net.ipv4.ip_forward` on. Felix default Enabled. */
  readonly ipForwarding: boolean;
  /** `defaultEndpointToHostAction`: policy-agent, pod → own node after its egress policy. Felix default Drop. */
  readonly defaultEndpointToHostAction: FelixEndpointToHostAction;
}

export interface FelixParseResult<T> {
  readonly settings: T;
  /** One line per bad value (field, value, what is expected); that value did not take effect. */
  readonly errors: readonly ValidationError[];
  /** Fields present but not obeyed by any process of the kit (unknown to it, as Felix ignores unknown parameters). */
  readonly ignored: readonly string[];
}

/** Felix's defaults (config_params.go) for the settings above. */
export const FELIX_DEFAULTS: FelixSettings = {
  logSeverityScreen: 'Info',
  healthEnabled: false,
  healthHost: 'localhost',
  healthPort: 9099,
  prometheusMetricsEnabled: false,
  prometheusMetricsHost: '',
  prometheusMetricsPort: 9091,
  vxlanVni: 4096,
  vxlanPort: 4789,
  vxlanMtu: 0,
  vxlanMtuV6: 0,
  routeRefreshIntervalSeconds: 90,
  nftablesRefreshIntervalSeconds: 180,
  iptablesRefreshIntervalSeconds: 180,
  ipForwarding: true,
  defaultEndpointToHostAction: 'Drop',
};

type Kind = 'int' | 'bool' | 'seconds' | 'enum' | 'host';
type Value = string | number | boolean;

/** One parameter: its CRD field, its Felix name (the env name, lower-cased, after `FELIX_`), and how to read it. */
interface Param {
  readonly field: string;
  readonly env: string;
  readonly kind: Kind;
  /** Settings key; absent = validated only (the kit implements exactly one value). */
  readonly key?: keyof FelixSettings;
  /** Parses the raw text form (env, or datastore JSON turned into Felix's raw form); throws `expected` text. */
  readonly parse: (raw: string) => Value;
}

class Bad extends Error {}

const INT = /^[-+]?\d+$/;
function int(min: number, max: number, what: string) {
  return (raw: string): number => {
    const n = Number(raw);
    if (!INT.test(raw.trim()) || n < min || n > max) throw new Bad(`${what} from ${min} to ${max}`);
    return n;
  };
}

function bool(raw: string): boolean {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes', 'y', 't'].includes(v)) return true;
  if (['false', '0', 'no', 'n', 'f'].includes(v)) return false;
  throw new Bad('a boolean (true or false)');
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): T => {
    const found = values.find((v) => v.toLowerCase() === raw.trim().toLowerCase());
    if (found === undefined) throw new Bad(`one of ${values.join(', ')}`);
    return found;
  };
}

function seconds(min: number, why = '') {
  return (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new Bad('a number of seconds such as 90 (FELIX_ variables take seconds)');
    if (n < min) throw new Bad(`at least ${min}s${why}`);
    return n;
  };
}

// Felix's host-address parameter (HealthHost, PrometheusMetricsHost).
const HOST_ADDRESS = /^[a-zA-Z0-9:._+-]{1,64}$/;
function host(allowEmpty: boolean) {
  return (raw: string): string => {
    if (raw === '' && allowEmpty) return raw;
    if (!HOST_ADDRESS.test(raw)) throw new Bad('a host name or address (letters, digits, ":", ".", "_", "+", "-"; at most 64)');
    return raw;
  };
}

function only<T extends string | boolean>(value: T, parse: (raw: string) => T, why: string) {
  return (raw: string): T => {
    let v: T;
    try {
      v = parse(raw);
    } catch {
      throw new Bad(`${String(value)} (${why})`);
    }
    if (v !== value) throw new Bad(`${String(value)} (${why})`);
    return v;
  };
}

const PARAMS: readonly Param[] = [
  { field: 'logSeverityScreen', env: 'logseverityscreen', kind: 'enum', key: 'logSeverityScreen', parse: oneOf(['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'] as const) },
  { field: 'healthEnabled', env: 'healthenabled', kind: 'bool', key: 'healthEnabled', parse: bool },
  { field: 'healthHost', env: 'healthhost', kind: 'host', key: 'healthHost', parse: host(false) },
  { field: 'healthPort', env: 'healthport', kind: 'int', key: 'healthPort', parse: int(0, 65535, 'a TCP port') },
  { field: 'prometheusMetricsEnabled', env: 'prometheusmetricsenabled', kind: 'bool', key: 'prometheusMetricsEnabled', parse: bool },
  { field: 'prometheusMetricsHost', env: 'prometheusmetricshost', kind: 'host', key: 'prometheusMetricsHost', parse: host(true) },
  { field: 'prometheusMetricsPort', env: 'prometheusmetricsport', kind: 'int', key: 'prometheusMetricsPort', parse: int(0, 65535, 'a TCP port') },
  { field: 'vxlanEnabled', env: 'vxlanenabled', kind: 'bool', key: 'vxlanEnabled', parse: bool },
  { field: 'ipipEnabled', env: 'ipinipenabled', kind: 'bool', key: 'ipipEnabled', parse: bool },
  { field: 'vxlanVNI', env: 'vxlanvni', kind: 'int', key: 'vxlanVni', parse: int(1, 16777215, 'a VXLAN network identifier') },
  { field: 'vxlanPort', env: 'vxlanport', kind: 'int', key: 'vxlanPort', parse: int(1, 65535, 'a UDP port') },
  {
    field: 'vxlanMTU', env: 'vxlanmtu', kind: 'int', key: 'vxlanMtu', parse: (raw) => {
      const n = int(0, 65535, 'an MTU')(raw);
      if (n !== 0 && n < 68) throw new Bad('0 (uplink MTU − 50) or an MTU from 68 to 65535');
      return n;
    },
  },
  {
    field: 'vxlanMTUV6', env: 'vxlanmtuv6', kind: 'int', key: 'vxlanMtuV6', parse: (raw) => {
      const n = int(0, 65535, 'an MTU')(raw);
      if (n !== 0 && n < 1280) throw new Bad('0 (IPv6 uplink MTU − 70) or an MTU from 1280 (IPv6\'s minimum) to 65535');
      return n;
    },
  },
  { field: 'routeRefreshInterval', env: 'routerefreshinterval', kind: 'seconds', key: 'routeRefreshIntervalSeconds', parse: seconds(1, ' (0, Felix\'s "never", would fail the agent\'s liveness: it allows three missed refreshes)') },
  { field: 'nftablesRefreshInterval', env: 'nftablesrefreshinterval', kind: 'seconds', key: 'nftablesRefreshIntervalSeconds', parse: seconds(0, ' (0: no periodic refresh)') },
  { field: 'iptablesRefreshInterval', env: 'iptablesrefreshinterval', kind: 'seconds', key: 'iptablesRefreshIntervalSeconds', parse: seconds(0, ' (0: no periodic refresh)') },
  { field: 'ipForwarding', env: 'ipforwarding', kind: 'enum', key: 'ipForwarding', parse: (raw) => oneOf(['Enabled', 'Disabled'] as const)(raw) === 'Enabled' },
  { field: 'defaultEndpointToHostAction', env: 'defaultendpointtohostaction', kind: 'enum', key: 'defaultEndpointToHostAction', parse: oneOf(['Drop', 'Return', 'Accept'] as const) },
  // Validated, never settable: the kit implements exactly Felix's default.
  { field: 'interfacePrefix', env: 'interfaceprefix', kind: 'enum', parse: only('cali', (raw) => raw.trim(), 'the kit\'s CNI plugin names host veths cali<hash> and the policy agent matches exactly those') },
  { field: 'ipv6Support', env: 'ipv6support', kind: 'bool', parse: only(true, bool, 'the kit\'s policy agent always enforces IPv6 as well as IPv4') },
];

const BY_FIELD = new Map(PARAMS.map((p) => [p.field.toLowerCase(), p]));
const BY_ENV = new Map(PARAMS.map((p) => [p.env, p]));

/** The raw value Felix's `none` stands for: the zero value of the parameter's type. */
function zero(kind: Kind): string {
  return kind === 'int' || kind === 'seconds' ? '0' : kind === 'bool' ? 'false' : '';
}

const GO_UNITS: Readonly<Record<string, number>> = { ns: 1e-9, us: 1e-6, 'µs': 1e-6, 'μs': 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/**
 * A Go duration string (`time.ParseDuration`): an optional sign, then one or more decimal numbers,
 * each with a unit (ns, us, µs, ms, s, m, h), e.g. `90s`, `5m`, `1m30s`, `1.5h`; `0` alone is allowed.
 * Returns seconds; undefined when the text is not a Go duration.
 */
export function parseGoDuration(text: string): number | undefined {
  const m = /^([-+]?)(.*)$/.exec(text) as RegExpExecArray;
  const body = m[2];
  if (body === '0') return 0;
  if (body === '') return undefined;
  let total = 0;
  const part = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;
  let at = 0;
  while (at < body.length) {
    part.lastIndex = at;
    const p = part.exec(body);
    if (!p) return undefined;
    total += Number(p[1]) * GO_UNITS[p[2]];
    at = part.lastIndex;
  }
  return m[1] === '-' ? -total : total;
}

/** The datastore's typed JSON value as Felix's raw text, or the expected type when it has the wrong type. */
function rawFromJson(p: Param, value: unknown): string | Bad {
  switch (p.kind) {
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) ? String(value) : new Bad('an integer');
    case 'bool':
      return typeof value === 'boolean' ? String(value) : new Bad('true or false');
    case 'seconds': {
      const s = typeof value === 'string' ? parseGoDuration(value) : undefined;
      return s === undefined ? new Bad('a Go duration such as 90s, 5m or 1m30s') : String(s);
    }
    default:
      return typeof value === 'string' ? value : new Bad('a string');
  }
}

type Partial_ = { -readonly [K in keyof FelixSettings]?: FelixSettings[K] };

/** A parse result plus the settings keys whose value was bad (they mask lower-priority sources). */
interface Layer extends FelixParseResult<Partial<FelixSettings>> {
  readonly bad: ReadonlySet<keyof FelixSettings>;
}

class Collector {
  readonly settings: Partial_ = {};
  readonly errors: ValidationError[] = [];
  readonly ignored: string[] = [];
  readonly bad = new Set<keyof FelixSettings>();

  apply(p: Param, raw: string | Bad, name: string, shown: unknown): void {
    try {
      if (raw instanceof Bad) throw raw;
      const v = p.parse(raw);
      if (p.key) (this.settings as Record<string, Value>)[p.key] = v;
    } catch (error) {
      if (!(error instanceof Bad)) throw error;
      this.errors.push(new ValidationError(name, shown, error.message));
      if (p.key) this.bad.add(p.key);
    }
  }
}

function readSpec(spec: unknown, source: string): Layer {
  const c = new Collector();
  if (spec === undefined || spec === null) return c;
  if (typeof spec !== 'object' || Array.isArray(spec)) {
    c.errors.push(new ValidationError(source, spec, 'a FelixConfiguration spec (a JSON object)'));
    return c;
  }
  for (const [field, value] of Object.entries(spec as Record<string, unknown>)) {
    const p = BY_FIELD.get(field.toLowerCase());
    if (!p) c.ignored.push(`${source}.${field}`);
    // Unset values are skipped, as Felix skips empty ones.
    else if (value !== undefined && value !== null && value !== '') c.apply(p, rawFromJson(p, value), `${source}.${field}`, value);
  }
  return c;
}

function readEnv(env: NodeJS.ProcessEnv): Layer {
  const c = new Collector();
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (!name.toLowerCase().startsWith('felix_') || value === undefined || value === '') continue;
    const p = BY_ENV.get(name.slice(6).toLowerCase());
    if (!p) c.ignored.push(name);
    else c.apply(p, value.trim().toLowerCase() === 'none' ? zero(p.kind) : value, name, value);
  }
  return c;
}

function result({ settings, errors, ignored }: Layer): FelixParseResult<Partial<FelixSettings>> {
  return { settings, errors, ignored };
}

/**
 * Reads one FelixConfiguration spec (`default` or `node.<name>`, as stored: the custom resource's
 * `spec` JSON). `source` names it in messages (e.g. `felixconfigurations/default`). Only fields
 * that are present and valid appear in `settings`; bad values are `errors`, never thrown: a running
 * agent keeps the settings it has. A spec that is not an object is one error.
 */
export function parseFelixConfiguration(spec: unknown, source: string): FelixParseResult<Partial<FelixSettings>> {
  return result(readSpec(spec, source));
}

/**
 * Reads the `FELIX_*` variables of an environment (names case-insensitive, as Felix reads them).
 * Other variables are not looked at; `FELIX_*` ones the kit does not obey are `ignored`.
 */
export function parseFelixEnv(env: NodeJS.ProcessEnv): FelixParseResult<Partial<FelixSettings>> {
  return result(readEnv(env));
}

export interface FelixSources {
  /** FelixConfiguration `default`'s spec (the cluster-wide one). */
  readonly defaults?: unknown;
  /** FelixConfiguration `node.<nodeName>`'s spec (this node's). */
  readonly node?: unknown;
  /** This node's name, for messages. @default "<node>" */
  readonly nodeName?: string;
  /** The process environment (`FELIX_*`). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * The settings in force. A field whose winning value is bad keeps its value from here; without
   * it (at start-up) the field gets Felix's default, as Felix replaces an invalid value with the default.
   */
  readonly previous?: FelixSettings;
}

/**
 * The settings a node obeys, merged as Felix merges its sources: per field, the first of environment
 * (`FELIX_*`), host-specific `node.<name>`, global `default`, then Felix's default. That is Felix's
 * order: felix/config/config_params.go, `Source` ("values from higher-numbered sources override
 * those from lower-numbered sources": Default < DatastoreGlobal < DatastorePerHost < ConfigFile <
 * EnvironmentVariable), and https://docs.tigera.io/calico/latest/reference/felix/configuration
 * ("read from … in order: environment variables, the Felix configuration file, host-specific
 * FelixConfiguration resources (node.<nodename>), … the global FelixConfiguration resource
 * (default)"). The kit has no Felix configuration file. Never throws on datastore or environment
 * input: see `errors`.
 */
export function effectiveFelixSettings(sources: FelixSources): FelixParseResult<FelixSettings> {
  const names = felixConfigurationNames(sources.nodeName ?? '<node>');
  const layers = [
    readEnv(sources.env ?? {}),
    readSpec(sources.node, `felixconfigurations/${names.node}`),
    readSpec(sources.defaults, `felixconfigurations/${names.defaults}`),
  ];
  const merged: Partial_ = {};
  for (const p of PARAMS) {
    const key = p.key;
    if (!key) continue;
    const winner = layers.find((l) => l.bad.has(key) || l.settings[key] !== undefined);
    if (!winner) continue;
    // A bad winning value does not take effect, and masks lower sources (as in Felix).
    const value = winner.bad.has(key) ? (sources.previous ?? FELIX_DEFAULTS)[key] : winner.settings[key];
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  return { settings: { ...FELIX_DEFAULTS, ...merged }, errors: layers.flatMap((l) => l.errors), ignored: layers.flatMap((l) => l.ignored) };
}

/** The level of the kit's JSON logs for a Felix severity: Trace logs as debug; Fatal keeps error lines (the agents have no fatal level). */
export function felixLogLevel(severity: FelixLogSeverity): 'debug' | 'info' | 'warn' | 'error' {
  switch (severity) {
    case 'Trace': case 'Debug': return 'debug';
    case 'Info': return 'info';
    case 'Warning': return 'warn';
    default: return 'error';
  }
}

/** The FelixConfiguration names a node reads: `default` and `node.<node>`. */
export function felixConfigurationNames(node: string): { readonly defaults: string; readonly node: string } {
  return { defaults: 'default', node: `node.${node}` };
}
