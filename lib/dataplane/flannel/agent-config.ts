import { parseArgs } from 'util';
import { ValidationError } from '../../model/errors';
import { LogLevel } from './agent-log';
import { InterfaceSelection } from './agent-interface';

/** Everything the agent executable is told, from flags and FLANNELD_* environment variables. */
export interface AgentConfig {
  readonly datastore: EtcdDatastoreConfig | KubeDatastoreConfig;
  readonly selection: InterfaceSelection;
  readonly ipMasq: boolean;
  readonly forwardRules: boolean;
  readonly subnetFile: string;
  readonly stateDir: string;
  readonly netConfigPath: string;
  readonly healthzIp: string;
  /** 0: no health server. */
  readonly healthzPort: number;
  readonly resyncSeconds: number;
  readonly renewMarginMinutes: number;
  readonly nodeName?: string;
  readonly logLevel: LogLevel;
  readonly version: boolean;
  readonly help: boolean;
}

export interface EtcdDatastoreConfig {
  readonly kind: 'etcd';
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

export interface KubeDatastoreConfig {
  readonly kind: 'kubernetes';
  /** @default in-cluster service account */
  readonly kubeconfig?: string;
  /** @default from the kubeconfig / in-cluster environment */
  readonly apiUrl?: string;
  readonly annotationPrefix: string;
}

const FLAGS = {
  'etcd-endpoints': { type: 'string', default: 'http://127.0.0.1:4001,http://127.0.0.1:2379' },
  'etcd-prefix': { type: 'string', default: '/coreos.com/network' },
  'etcd-cafile': { type: 'string' },
  'etcd-certfile': { type: 'string' },
  'etcd-keyfile': { type: 'string' },
  'kube-subnet-mgr': { type: 'boolean', default: false },
  'kubeconfig-file': { type: 'string' },
  'kube-api-url': { type: 'string' },
  'kube-annotation-prefix': { type: 'string', default: 'flannel.alpha.coreos.com' },
  'node-name': { type: 'string' },
  iface: { type: 'string', multiple: true },
  'iface-regex': { type: 'string', multiple: true },
  'iface-can-reach': { type: 'string' },
  'public-ip': { type: 'string' },
  'public-ipv6': { type: 'string' },
  'ip-masq': { type: 'boolean', default: false },
  'iptables-forward-rules': { type: 'string', default: 'true' },
  'subnet-file': { type: 'string', default: '/run/flannel/subnet.env' },
  'state-dir': { type: 'string', default: '/run/flannel' },
  'net-config-path': { type: 'string', default: '/etc/kube-flannel/net-conf.json' },
  'healthz-ip': { type: 'string', default: '0.0.0.0' },
  'healthz-port': { type: 'string', default: '0' },
  'resync-interval': { type: 'string', default: '10' },
  'iptables-resync': { type: 'string' },
  'subnet-lease-renew-margin': { type: 'string', default: '60' },
  'log-level': { type: 'string', default: 'info' },
  version: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

type FlagName = keyof typeof FLAGS;

/** `FLANNELD_IFACE_REGEX` for `iface-regex`, as flanneld reads its environment. */
export function envName(flag: string): string {
  return `FLANNELD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * Parses flags (which win) and FLANNELD_* variables; NODE_NAME is read as flanneld does. Any bad
 * value is a one-line ValidationError naming the flag.
 */
export function parseAgentConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): AgentConfig {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof FLAGS; strict: true; allowPositionals: false }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: FLAGS, strict: true, allowPositionals: false });
  } catch (error) {
    throw new ValidationError('flags', argv.join(' '), `known flanneld flags (${(error as Error).message})`);
  }
  const given = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const explicit = new Set(argv.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=')[0]));
  const value = (flag: FlagName): string | boolean | string[] | undefined => {
    if (explicit.has(flag)) return given[flag];
    const fromEnv = env[envName(flag)];
    if (fromEnv === undefined || fromEnv === '') return given[flag];
    const spec = FLAGS[flag] as { type: string; multiple?: boolean };
    if (spec.type === 'boolean') return parseBool(flag, fromEnv);
    return spec.multiple ? fromEnv.split(',').map((s) => s.trim()).filter(Boolean) : fromEnv;
  };
  const str = (flag: FlagName) => value(flag) as string | undefined;
  const list = (flag: FlagName) => (value(flag) as string[] | undefined) ?? [];
  const bool = (flag: FlagName) => {
    const v = value(flag);
    return typeof v === 'string' ? parseBool(flag, v) : Boolean(v);
  };
  const int = (flag: FlagName, min: number, max: number, fallback?: string) => {
    const text = str(flag) ?? fallback ?? '';
    if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      throw new ValidationError(`--${flag}`, text, `an integer from ${min} to ${max}`);
    }
    return Number(text);
  };

  const endpoints = (str('etcd-endpoints') ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  for (const endpoint of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(endpoint)) throw new ValidationError('--etcd-endpoints', endpoint, 'a URL such as http://127.0.0.1:2379');
  }
  const datastore: AgentConfig['datastore'] = bool('kube-subnet-mgr')
    ? { kind: 'kubernetes', kubeconfig: str('kubeconfig-file'), apiUrl: str('kube-api-url'), annotationPrefix: str('kube-annotation-prefix')! }
    : { kind: 'etcd', endpoints, prefix: str('etcd-prefix')!, caFile: str('etcd-cafile'), certFile: str('etcd-certfile'), keyFile: str('etcd-keyfile') };
  if (datastore.kind === 'etcd' && endpoints.length === 0) throw new ValidationError('--etcd-endpoints', str('etcd-endpoints'), 'at least one URL');

  const logLevel = str('log-level') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new ValidationError('--log-level', logLevel, 'one of debug, info, warn, error');

  return {
    datastore,
    selection: {
      iface: list('iface'),
      ifaceRegex: list('iface-regex'),
      ifaceCanReach: str('iface-can-reach'),
      publicIp: str('public-ip'),
      publicIpv6: str('public-ipv6'),
    },
    ipMasq: bool('ip-masq'),
    forwardRules: bool('iptables-forward-rules'),
    subnetFile: str('subnet-file')!,
    stateDir: str('state-dir')!,
    netConfigPath: str('net-config-path')!,
    healthzIp: str('healthz-ip')!,
    healthzPort: int('healthz-port', 0, 65535),
    resyncSeconds: int(explicit.has('iptables-resync') || env[envName('iptables-resync')] ? 'iptables-resync' : 'resync-interval', 1, 86400),
    renewMarginMinutes: int('subnet-lease-renew-margin', 1, 1439),
    nodeName: str('node-name') ?? env.NODE_NAME,
    logLevel,
    version: bool('version'),
    help: bool('help'),
  };
}

function parseBool(flag: string, text: string): boolean {
  if (/^(true|1|yes)$/i.test(text)) return true;
  if (/^(false|0|no)$/i.test(text)) return false;
  throw new ValidationError(`--${flag}`, text, 'true or false');
}

export const AGENT_USAGE = `Usage: flannel-agent [flags]   (every flag also reads FLANNELD_<FLAG>, e.g. FLANNELD_IFACE)
  --etcd-endpoints=URLS        etcd client URLs, comma separated (default http://127.0.0.1:4001,http://127.0.0.1:2379)
  --etcd-prefix=PATH           key prefix (default /coreos.com/network)
  --etcd-cafile/--etcd-certfile/--etcd-keyfile   TLS material
  --kube-subnet-mgr            use the Kubernetes API instead of etcd (node podCIDR + annotations)
  --kubeconfig-file=PATH       kubeconfig (current context) instead of the in-cluster service account
  --kube-api-url=URL           API server URL (bearer token from env KUBE_TOKEN, if set)
  --kube-annotation-prefix     default flannel.alpha.coreos.com
  --node-name=NAME             this node (default env NODE_NAME)
  --iface=NAME|IP              uplink (repeatable); then --iface-regex (repeatable), --iface-can-reach=IP, else the default route's
  --public-ip=IP, --public-ipv6=IP   addresses advertised to peers (default the interface's)
  --ip-masq                    masquerade pod traffic leaving the pod network
  --iptables-forward-rules=BOOL  accept pod-network traffic in FORWARD (default true)
  --subnet-file=PATH           written for the CNI plugin (default /run/flannel/subnet.env)
  --state-dir=PATH             kept across restarts: the VTEP MAC (default /run/flannel)
  --net-config-path=PATH       net-conf.json in Kubernetes mode (default /etc/kube-flannel/net-conf.json)
  --healthz-ip, --healthz-port /healthz, /readyz, /metrics (port 0 = off)
  --resync-interval=SECONDS    full reconcile period, repairs drift (default 10; --iptables-resync is an alias)
  --subnet-lease-renew-margin=MINUTES  renew etcd leases this early (default 60)
  --log-level=LEVEL            debug, info, warn, error (default info)
  --version`;
