import { promises as fs } from 'node:fs';
import { CalicoDatastoreConfig } from '../calico/datastore';
import { DEFAULT_DATASTORE_TIMEOUT_SECONDS } from './deadline';
import { CniError, CNI_ERROR, invalidConfig, parseConfObject } from './errors';
import { CniResult, GcAttachment, SUPPORTED_VERSIONS } from './types';

/**
 * The Calico-mode plugin configuration: upstream calico's conflist keys (`nodename`,
 * `datastore_type`, `etcd_endpoints`, `mtu`, `ipam.assign_ipv4`, `kubernetes.kubeconfig`, …) so a
 * Calico conflist works with only the `type`s changed; `datastore_timeout_seconds` is the kit's own. Logging and policy keys are accepted and
 * ignored (the agent enforces policy; the plugin logs to stderr).
 */
export interface CalicoNetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  /** @default read from nodenameFile */
  readonly nodename?: string;
  /** @default '/var/lib/calico/nodename' */
  readonly nodenameFile: string;
  /** 0 = what the agent detected (mtuFile), else 1500. @default 0 */
  readonly mtu: number;
  /** @default '/var/lib/calico/mtu' */
  readonly mtuFile: string;
  readonly datastore: CalicoDatastoreConfig;
  /**
   * How long each datastore call may take before the invocation answers error 11 "try again later";
   * the wait for the IPAM host lock may take 6× as long (deadline.ts). @default 10
   */
  readonly datastoreTimeoutSeconds: number;
  readonly ipam: {
    readonly type: string;
    /** @default true */
    readonly assignIpv4: boolean;
    /** @default false */
    readonly assignIpv6: boolean;
    readonly ipv4Pools?: readonly string[];
    readonly ipv6Pools?: readonly string[];
    /** @default '/var/run/calico/ipam.lock' */
    readonly lockFile: string;
  };
  /** Write WorkloadEndpoint records (etcd mode; in Kubernetes mode the pod is the record). */
  readonly workloadEndpoints: boolean;
  readonly prevResult?: CniResult;
  readonly validAttachments?: readonly GcAttachment[];
}

export const CALICO_PLUGIN_TYPES = { plugin: 'cnikit-calico', ipam: 'cnikit-calico-ipam' } as const;

const invalid = invalidConfig;

type Raw = Record<string, unknown>;

export function parseCalicoNetConf(stdin: string): CalicoNetConf {
  const conf = parseConfObject(stdin);
  const cniVersion = conf.cniVersion;
  if (typeof cniVersion !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CNI_ERROR.incompatibleVersion, `cniVersion: ${JSON.stringify(cniVersion) ?? '(unset)'} is not supported; expected one of ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  if (typeof conf.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(conf.name)) throw invalid('name', conf.name, 'a network name of letters, digits, _ . -');
  if (typeof conf.type !== 'string' || !conf.type) throw invalid('type', conf.type, 'the plugin type name');
  const str = (obj: Raw, key: string, field: string, fallback?: string): string | undefined => {
    const v = obj[key] ?? fallback;
    if (v !== undefined && (typeof v !== 'string' || !v)) throw invalid(field, v, 'a non-empty string');
    return v as string | undefined;
  };
  const bool = (obj: Raw, key: string, field: string, fallback: boolean): boolean => {
    const v = obj[key];
    if (v === undefined) return fallback;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    throw invalid(field, v, 'true or false ("true"/"false" as Calico writes them)');
  };
  const mtu = conf.mtu ?? 0;
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || (mtu !== 0 && (mtu < 68 || mtu > 65535))) throw invalid('mtu', mtu, '0 (auto) or an integer between 68 and 65535');

  const timeout = conf.datastore_timeout_seconds ?? DEFAULT_DATASTORE_TIMEOUT_SECONDS;
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > 600) {
    throw invalid('datastore_timeout_seconds', timeout, 'a number of seconds greater than 0 and at most 600');
  }

  const datastoreType = str(conf, 'datastore_type', 'datastore_type', 'kubernetes');
  let datastore: CalicoDatastoreConfig;
  if (datastoreType === 'etcdv3') {
    const endpoints = (str(conf, 'etcd_endpoints', 'etcd_endpoints') ?? '').split(',').map((e) => e.trim()).filter(Boolean);
    if (!endpoints.length || !endpoints.every((e) => /^https?:\/\/\S+$/.test(e))) {
      throw invalid('etcd_endpoints', conf.etcd_endpoints, 'comma-separated http(s):// URLs for datastore_type etcdv3');
    }
    const prefix = str(conf, 'etcd_prefix', 'etcd_prefix');
    datastore = { type: 'etcdv3', endpoints, ...(prefix ? { prefix } : {}) };
  } else if (datastoreType === 'kubernetes') {
    const kube = (conf.kubernetes ?? {}) as Raw;
    const kubeconfig = str(kube, 'kubeconfig', 'kubernetes.kubeconfig');
    datastore = { type: 'kubernetes', ...(kubeconfig ? { kubeconfig } : {}) };
  } else {
    throw invalid('datastore_type', datastoreType, '"etcdv3" or "kubernetes"');
  }

  const ipamRaw = conf.ipam === undefined ? { type: CALICO_PLUGIN_TYPES.ipam } : conf.ipam;
  if (!ipamRaw || typeof ipamRaw !== 'object' || Array.isArray(ipamRaw)) throw invalid('ipam', ipamRaw, 'an object');
  const ipam = ipamRaw as Raw;
  const ipamType = str(ipam, 'type', 'ipam.type', CALICO_PLUGIN_TYPES.ipam) as string;
  if (conf.type !== CALICO_PLUGIN_TYPES.ipam && ipamType !== CALICO_PLUGIN_TYPES.ipam) {
    throw new CniError(CNI_ERROR.unsupportedField, `ipam.type: ${JSON.stringify(ipamType)} is not supported; expected "${CALICO_PLUGIN_TYPES.ipam}" (the built-in block IPAM)`);
  }
  const pools = (key: string): string[] | undefined => {
    const v = ipam[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((p) => typeof p === 'string')) throw invalid(`ipam.${key}`, v, 'a list of pool names or CIDRs');
    return v as string[];
  };
  const assignIpv4 = bool(ipam, 'assign_ipv4', 'ipam.assign_ipv4', true);
  const assignIpv6 = bool(ipam, 'assign_ipv6', 'ipam.assign_ipv6', false);
  if (!assignIpv4 && !assignIpv6) throw invalid('ipam.assign_ipv4', ipam.assign_ipv4, 'true when ipam.assign_ipv6 is false (nothing would be assigned)');
  const ipv4Pools = pools('ipv4_pools');
  const ipv6Pools = pools('ipv6_pools');
  const nodename = str(conf, 'nodename', 'nodename');
  const prevResult = conf.prevResult as CniResult | undefined;
  if (prevResult !== undefined && (typeof prevResult !== 'object' || prevResult === null)) throw invalid('prevResult', prevResult, 'a CNI result object');
  const attachments = conf['cni.dev/valid-attachments'];
  if (attachments !== undefined && !Array.isArray(attachments)) throw invalid('cni.dev/valid-attachments', attachments, 'a list of {containerID, ifname}');
  return {
    cniVersion,
    name: conf.name,
    type: conf.type,
    ...(nodename ? { nodename } : {}),
    nodenameFile: str(conf, 'nodename_file', 'nodename_file', '/var/lib/calico/nodename') as string,
    mtu,
    mtuFile: str(conf, 'mtu_file', 'mtu_file', '/var/lib/calico/mtu') as string,
    datastore,
    datastoreTimeoutSeconds: timeout,
    ipam: {
      type: ipamType,
      assignIpv4,
      assignIpv6,
      ...(ipv4Pools ? { ipv4Pools } : {}),
      ...(ipv6Pools ? { ipv6Pools } : {}),
      lockFile: str(ipam, 'lock_file', 'ipam.lock_file', '/var/run/calico/ipam.lock') as string,
    },
    workloadEndpoints: datastore.type === 'etcdv3',
    ...(prevResult ? { prevResult } : {}),
    ...(attachments ? { validAttachments: attachments as GcAttachment[] } : {}),
  };
}

/** The node name: from the conf, else the file the agent writes (Calico's "stat /var/lib/calico/nodename" error). */
export async function resolveNodename(conf: CalicoNetConf): Promise<string> {
  if (conf.nodename) return conf.nodename;
  try {
    const name = (await fs.readFile(conf.nodenameFile, 'utf8')).trim();
    if (name) return name;
  } catch {
    // fall through to the error below
  }
  throw new CniError(CNI_ERROR.tryAgainLater, `${conf.nodenameFile} is missing or empty: the cnikit calico agent has not started on this node yet (check the agent pod), or set "nodename" in the conflist`);
}

export async function resolveMtu(conf: CalicoNetConf): Promise<number> {
  if (conf.mtu) return conf.mtu;
  const text = await fs.readFile(conf.mtuFile, 'utf8').catch(() => '');
  const detected = Number(text.trim());
  return Number.isInteger(detected) && detected >= 68 ? detected : 1500;
}
