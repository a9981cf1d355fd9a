import { ValidationError } from '../../model/errors';
import { EncapMode, IpPoolSpec } from '../ipam/block-model';
import { CalicoDatastoreConfig } from './datastore';
import { parseAutodetectMethod } from './autodetect';
import { parseSelector } from '../../model/calico/selector-parser';
import { TyphaConfig, parseTypha } from '../typha/config';

export type { TyphaConfig } from '../typha/config';

/**
 * The agent's configuration from calico-node's environment variables (what the manifests set),
 * with `--flag=value` overrides for the lab and for running by hand.
 */
export interface CalicoAgentConfig {
  readonly node: string;
  readonly datastore: CalicoDatastoreConfig;
  readonly autodetect: string;
  /**
   * IP6 + IP6_AUTODETECTION_METHOD: `autodetect` finds the node's IPv6 address with that method
   * (dual-stack: registered as the Node's IPv6 address, next hop of its IPv6 routes); unset or `none`
   * means no IPv6. @default none
   */
  readonly autodetect6?: string;
  readonly defaultPool?: IpPoolSpec;
  readonly stateDir: string;
  /** --resync-seconds: overrides FelixConfiguration's routeRefreshInterval (FELIX_ROUTEREFRESHINTERVAL is read with the other FELIX_*). @default none */
  readonly resyncSeconds?: number;
  readonly healthPort: number;
  readonly healthHost: string;
  /** --log-level / LOG_LEVEL: overrides FelixConfiguration's logSeverityScreen. @default none */
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** HOST_PROC_SYS_NET: the host's /proc/sys/net mounted writable. @default none (/proc/sys) */
  readonly procSysNet?: string;
  /** CALICO_NETWORKING_BACKEND: `bird` runs the BGP speaker in the agent (lib/dataplane/bgp). @default 'vxlan' */
  readonly networkingBackend: 'bird' | 'vxlan' | 'none';
  /**
   * CNI_SERVICE_ACCOUNT + CNI_KUBECONFIG (Kubernetes datastore only): the agent mints tokens of that
   * ServiceAccount and keeps the plugin's kubeconfig at that path fresh (cni-kubeconfig.ts).
   * `namespace` is POD_NAMESPACE when set, else the service-account directory's. @default none
   */
  readonly cniKubeconfig?: CniKubeconfigConfig;
  /**
   * FELIX_TYPHAADDR, else FELIX_TYPHAK8SSERVICENAME (+ FELIX_TYPHAK8SNAMESPACE, default kube-system):
   * the agent's watch cache is fed by Typha instead of its own datastore watches. @default none
   */
  readonly typha?: TyphaConfig;
  /**
   * CALICO_ROUTE_REFLECTOR_SELECTOR + CALICO_ROUTE_REFLECTOR_CLUSTER_ID: nodes whose labels match are
   * route reflectors with that cluster id (unless their Node says otherwise). @default none
   */
  readonly routeReflector?: { readonly selector: string; readonly clusterId: string };
  readonly shutdown: boolean;
  readonly help: boolean;
  readonly version: boolean;
}

export interface CniKubeconfigConfig {
  readonly serviceAccount: string;
  readonly path: string;
  readonly namespace?: string;
}

export const CALICO_AGENT_USAGE = `cnikit-calico-agent: Calico-style node agent (routes, VXLAN, NAT outgoing)

Environment (flags override; --flag=value):
  NODENAME / NODE_NAME            --node-name           this node's name (required)
  DATASTORE_TYPE                  --datastore-type      kubernetes (default) | etcdv3
  ETCD_ENDPOINTS                  --etcd-endpoints      comma-separated URLs (etcdv3)
  ETCD_PREFIX                     --etcd-prefix         key prefix (default /calico/resources/v3/projectcalico.org/)
  KUBECONFIG                      --kubeconfig          kubeconfig file (default: in-cluster)
  IP_AUTODETECTION_METHOD         --ip-autodetection-method  first-found | interface=… | skip-interface=… | cidr=… | can-reach=…
  IP6=autodetect, IP6_AUTODETECTION_METHOD                   the node's IPv6 address too (dual-stack; default IP6=none)
  CALICO_IPV4POOL_CIDR            --pool-cidr           default pool created when none exists (unless NO_DEFAULT_POOLS=true)
  CALICO_IPV4POOL_BLOCK_SIZE, CALICO_IPV4POOL_VXLAN, CALICO_IPV4POOL_IPIP, CALICO_IPV4POOL_NAT_OUTGOING, NO_DEFAULT_POOLS
  CALICO_STATE_DIR                --state-dir           nodename and mtu for the CNI plugin (default /var/lib/calico)
  FELIX_*                         FelixConfiguration fields (they win over the datastore's default and node.<name>)
                                  --resync-seconds      full resync period (default: FelixConfiguration routeRefreshInterval, 90)
  FELIX_HEALTHPORT / HOST         --health-port/--health-host  /liveness /readiness /metrics (default 127.0.0.1:9099)
  HOST_PROC_SYS_NET               the host's /proc/sys/net when /proc/sys is read-only
  CNI_SERVICE_ACCOUNT             --cni-service-account  the CNI plugin's ServiceAccount (namespace: POD_NAMESPACE, else the pod's)
  CNI_KUBECONFIG                  --cni-kubeconfig       where the agent writes the plugin's kubeconfig and refreshes its token
                                                         (both or neither; kubernetes datastore only)
  CALICO_NETWORKING_BACKEND       --networking-backend  bird (BGP speaker routes unencapsulated pools) | vxlan (default) | none
  FELIX_TYPHAADDR                 --typha-addr          host:port of Typha: follow the datastore through it
  FELIX_TYPHAK8SSERVICENAME       --typha-service       …or the Typha Service's endpoints (FELIX_TYPHAK8SNAMESPACE, default kube-system)
  CALICO_ROUTE_REFLECTOR_SELECTOR, CALICO_ROUTE_REFLECTOR_CLUSTER_ID  nodes matching the selector reflect routes with that cluster id
  --log-level=info  --shutdown (preStop: no-op, SIGTERM stops and keeps routes)  --help  --version`;

export function parseCalicoAgentConfig(argv: readonly string[], env: NodeJS.ProcessEnv): CalicoAgentConfig {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const m = /^--([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new ValidationError('arguments', arg, '--flag=value (see --help)');
    flags.set(m[1], m[2] ?? 'true');
  }
  const known = ['node-name', 'datastore-type', 'etcd-endpoints', 'etcd-prefix', 'kubeconfig', 'ip-autodetection-method', 'pool-cidr', 'pool-vxlan',
    'pool-ipip', 'pool-nat-outgoing', 'pool-block-size', 'no-default-pools', 'state-dir', 'resync-seconds', 'health-port', 'health-host', 'log-level',
    'shutdown', 'help', 'version', 'networking-backend', 'cni-service-account', 'cni-kubeconfig',
    'typha-addr', 'typha-service'];
  for (const key of flags.keys()) if (!known.includes(key)) throw new ValidationError(`--${key}`, flags.get(key), `one of --${known.join(', --')}`);
  const get = (flag: string, ...vars: string[]): string | undefined => flags.get(flag) ?? vars.map((v) => env[v]).find((v) => v !== undefined && v !== '');
  const help = flags.has('help');
  const version = flags.has('version');
  const shutdown = flags.has('shutdown');
  const node = get('node-name', 'NODENAME', 'NODE_NAME') ?? '';
  if (!node && !help && !version && !shutdown) throw new ValidationError('NODENAME', node, "this node's name (env NODENAME or NODE_NAME, or --node-name)");

  const type = get('datastore-type', 'DATASTORE_TYPE') ?? 'kubernetes';
  let datastore: CalicoDatastoreConfig;
  if (type === 'etcdv3') {
    const endpoints = (get('etcd-endpoints', 'ETCD_ENDPOINTS') ?? '').split(',').map((e) => e.trim()).filter(Boolean);
    if (!endpoints.length || !endpoints.every((e) => /^https?:\/\/\S+$/.test(e))) throw new ValidationError('ETCD_ENDPOINTS', get('etcd-endpoints', 'ETCD_ENDPOINTS'), 'comma-separated http(s):// URLs');
    const prefix = get('etcd-prefix', 'ETCD_PREFIX');
    datastore = { type, endpoints, ...(prefix ? { prefix } : {}) };
  } else if (type === 'kubernetes') {
    const kubeconfig = get('kubeconfig', 'KUBECONFIG');
    datastore = { type, ...(kubeconfig ? { kubeconfig } : {}) };
  } else {
    throw new ValidationError('DATASTORE_TYPE', type, '"kubernetes" or "etcdv3"');
  }

  const ip = env.IP ?? 'autodetect';
  if (ip !== '' && ip !== 'autodetect') throw new ValidationError('IP', ip, '"autodetect" (or unset): this agent detects the node address with IP_AUTODETECTION_METHOD');
  const autodetect = get('ip-autodetection-method', 'IP_AUTODETECTION_METHOD') ?? 'first-found';
  parseAutodetectMethod(autodetect);
  const ip6 = env.IP6 ?? 'none';
  if (ip6 !== '' && ip6 !== 'none' && ip6 !== 'autodetect') throw new ValidationError('IP6', ip6, '"autodetect", "none" or unset');
  const autodetect6 = ip6 === 'autodetect' ? env.IP6_AUTODETECTION_METHOD || 'first-found' : undefined;
  if (autodetect6) parseAutodetectMethod(autodetect6, 'IP6_AUTODETECTION_METHOD');
  const int = (value: string | undefined, field: string, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new ValidationError(field, value, `an integer from ${min} to ${max}`);
    return n;
  };
  const mode = (value: string | undefined, field: string): EncapMode => {
    const v = value ?? 'Never';
    if (v !== 'Never' && v !== 'Always' && v !== 'CrossSubnet') throw new ValidationError(field, v, 'Never, Always or CrossSubnet');
    return v;
  };
  const noDefault = (get('no-default-pools', 'NO_DEFAULT_POOLS') ?? 'false') === 'true';
  const cidr = get('pool-cidr', 'CALICO_IPV4POOL_CIDR');
  const vxlanMode = mode(get('pool-vxlan', 'CALICO_IPV4POOL_VXLAN'), 'CALICO_IPV4POOL_VXLAN');
  const ipipMode = mode(get('pool-ipip', 'CALICO_IPV4POOL_IPIP'), 'CALICO_IPV4POOL_IPIP');
  if (vxlanMode !== 'Never' && ipipMode !== 'Never') throw new ValidationError('CALICO_IPV4POOL_IPIP', ipipMode, 'Never when CALICO_IPV4POOL_VXLAN is set (a pool uses one encapsulation)');
  const defaultPool: IpPoolSpec | undefined = noDefault ? undefined : {
    cidr: cidr ?? '192.168.0.0/16',
    blockSize: int(get('pool-block-size', 'CALICO_IPV4POOL_BLOCK_SIZE'), 'CALICO_IPV4POOL_BLOCK_SIZE', 26, 20, 32),
    vxlanMode,
    ipipMode,
    natOutgoing: (get('pool-nat-outgoing', 'CALICO_IPV4POOL_NAT_OUTGOING') ?? 'true') === 'true',
  };
  const networkingBackend = get('networking-backend', 'CALICO_NETWORKING_BACKEND') ?? 'vxlan';
  if (networkingBackend !== 'bird' && networkingBackend !== 'vxlan' && networkingBackend !== 'none') {
    throw new ValidationError('CALICO_NETWORKING_BACKEND', networkingBackend, 'bird, vxlan or none');
  }
  const cniKubeconfig = parseCniKubeconfig(get('cni-service-account', 'CNI_SERVICE_ACCOUNT'), get('cni-kubeconfig', 'CNI_KUBECONFIG'), env.POD_NAMESPACE, datastore);
  const typha = parseTypha(get('typha-addr', 'FELIX_TYPHAADDR'), get('typha-service', 'FELIX_TYPHAK8SSERVICENAME'), env.FELIX_TYPHAK8SNAMESPACE, datastore.type);
  const routeReflector = parseRouteReflector(env.CALICO_ROUTE_REFLECTOR_SELECTOR, env.CALICO_ROUTE_REFLECTOR_CLUSTER_ID);
  const logLevel = get('log-level', 'LOG_LEVEL');
  if (logLevel !== undefined && !['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new ValidationError('--log-level', logLevel, 'debug, info, warn or error');
  return {
    node,
    datastore,
    autodetect,
    ...(autodetect6 ? { autodetect6 } : {}),
    ...(defaultPool ? { defaultPool } : {}),
    stateDir: get('state-dir', 'CALICO_STATE_DIR') ?? '/var/lib/calico',
    ...(flags.has('resync-seconds') ? { resyncSeconds: int(flags.get('resync-seconds'), '--resync-seconds', 90, 1, 86400) } : {}),
    healthPort: int(get('health-port', 'FELIX_HEALTHPORT'), 'FELIX_HEALTHPORT', 9099, 0, 65535),
    healthHost: get('health-host', 'FELIX_HEALTHHOST') ?? '127.0.0.1',
    ...(logLevel ? { logLevel: logLevel as NonNullable<CalicoAgentConfig['logLevel']> } : {}),
    ...(env.HOST_PROC_SYS_NET ? { procSysNet: env.HOST_PROC_SYS_NET } : {}),
    networkingBackend,
    ...(cniKubeconfig ? { cniKubeconfig } : {}),
    ...(typha ? { typha } : {}),
    ...(routeReflector ? { routeReflector } : {}),
    shutdown,
    help,
    version,
  };
}

/** A DNS-1123 subdomain (ServiceAccount names) and label (namespaces), as the API server validates them. */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function parseCniKubeconfig(serviceAccount: string | undefined, file: string | undefined, namespace: string | undefined, datastore: CalicoDatastoreConfig): CniKubeconfigConfig | undefined {
  if (serviceAccount === undefined && file === undefined) return undefined;
  if (datastore.type !== 'kubernetes') {
    const [field, value] = serviceAccount !== undefined ? ['CNI_SERVICE_ACCOUNT', serviceAccount] : ['CNI_KUBECONFIG', file];
    throw new ValidationError(field, value, 'unset with DATASTORE_TYPE etcdv3 (the plugin\'s kubeconfig is written only for the Kubernetes datastore)');
  }
  if (serviceAccount === undefined) throw new ValidationError('CNI_SERVICE_ACCOUNT', serviceAccount, `the CNI plugin's ServiceAccount name, set together with CNI_KUBECONFIG (${file})`);
  if (file === undefined) throw new ValidationError('CNI_KUBECONFIG', file, `the path of the CNI plugin's kubeconfig, set together with CNI_SERVICE_ACCOUNT (${serviceAccount})`);
  if (!DNS_SUBDOMAIN.test(serviceAccount)) throw new ValidationError('CNI_SERVICE_ACCOUNT', serviceAccount, 'a ServiceAccount name (lower-case letters, digits, - and ., at most 253)');
  if (!file.startsWith('/') || file.endsWith('/')) throw new ValidationError('CNI_KUBECONFIG', file, 'an absolute file path such as /etc/cni/net.d/calico-kubeconfig');
  if (namespace !== undefined && namespace !== '' && !DNS_LABEL.test(namespace)) throw new ValidationError('POD_NAMESPACE', namespace, 'a namespace name (lower-case letters, digits and -, at most 63)');
  return { serviceAccount, path: file, ...(namespace ? { namespace } : {}) };
}

function parseRouteReflector(selector: string | undefined, clusterId: string | undefined): { selector: string; clusterId: string } | undefined {
  if (!selector && !clusterId) return undefined;
  if (!selector) throw new ValidationError('CALICO_ROUTE_REFLECTOR_SELECTOR', selector, `a node selector, set together with CALICO_ROUTE_REFLECTOR_CLUSTER_ID (${clusterId})`);
  if (!clusterId || !/^(\d{1,3})(\.\d{1,3}){3}$/.test(clusterId) || clusterId.split('.').some((o) => Number(o) > 255)) {
    throw new ValidationError('CALICO_ROUTE_REFLECTOR_CLUSTER_ID', clusterId, 'a dotted-quad cluster id such as 244.0.0.1');
  }
  parseSelector(selector, 'CALICO_ROUTE_REFLECTOR_SELECTOR');
  return { selector, clusterId };
}
