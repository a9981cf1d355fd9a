import { CniError, CNI_ERROR, invalidConfig, parseConfObject } from './errors';
import { CniResult, GcAttachment, SUPPORTED_VERSIONS } from './types';

/**
 * The plugin's network configuration. flannel's NetConf keys (`subnetFile`, `dataDir`,
 * `delegate`) are accepted so an upstream flannel conflist works unchanged; `delegate` may only
 * carry the bridge settings below (it is not delegated to another binary).
 */
export interface CnikitNetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  /** @default '/run/flannel/subnet.env' */
  readonly subnetFile: string;
  /** Per-network state; the IPAM store is `<dataDir>/ipam`. @default '/var/lib/cni/cnikit-flannel' */
  readonly dataDir: string;
  /** @default 'cni0' */
  readonly bridge: string;
  /** Overrides FLANNEL_MTU. @default the subnet file's FLANNEL_MTU */
  readonly mtu?: number;
  /** @default true */
  readonly hairpinMode: boolean;
  /** Default route in the pod via the bridge's address. @default true */
  readonly isDefaultGateway: boolean;
  readonly prevResult?: CniResult;
  /** GC only: the attachments that must be kept. */
  readonly validAttachments?: readonly GcAttachment[];
}

export const NETCONF_DEFAULTS = {
  subnetFile: '/run/flannel/subnet.env',
  dataDir: '/var/lib/cni/cnikit-flannel',
  bridge: 'cni0',
} as const;

const DELEGATE_KEYS = ['type', 'bridge', 'mtu', 'hairpinMode', 'isDefaultGateway', 'isGateway', 'ipMasq', 'forceAddress'];

const invalid = invalidConfig;

/** Parses stdin: 6 for undecodable JSON, 1 for an unsupported cniVersion, 2 for unsupported fields, 7 for bad values. */
export function parseNetConf(stdin: string): CnikitNetConf {
  const conf = parseConfObject(stdin);
  const cniVersion = conf.cniVersion;
  if (typeof cniVersion !== 'string' || !cniVersion) throw invalid('cniVersion', cniVersion, `one of ${SUPPORTED_VERSIONS.join(', ')}`);
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(cniVersion)) {
    throw new CniError(CNI_ERROR.incompatibleVersion, `cniVersion: ${JSON.stringify(cniVersion)} is not supported; expected one of ${SUPPORTED_VERSIONS.join(', ')}`);
  }
  if (typeof conf.name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(conf.name)) {
    throw invalid('name', conf.name, 'a network name of letters, digits, _ . -');
  }
  if (typeof conf.type !== 'string' || !conf.type) throw invalid('type', conf.type, 'the plugin type name');
  if (conf.ipam !== undefined) {
    throw new CniError(CNI_ERROR.unsupportedField, 'ipam: not supported; addresses come from the node subnet in subnetFile (host-local style, built in)');
  }
  const delegate = (conf.delegate ?? {}) as Record<string, unknown>;
  if (typeof delegate !== 'object' || Array.isArray(delegate)) throw invalid('delegate', conf.delegate, 'an object with bridge settings');
  for (const key of Object.keys(delegate)) {
    if (!DELEGATE_KEYS.includes(key)) throw new CniError(CNI_ERROR.unsupportedField, `delegate.${key}: not supported; expected only ${DELEGATE_KEYS.join(', ')}`);
  }
  if (delegate.type !== undefined && delegate.type !== 'bridge') {
    throw new CniError(CNI_ERROR.unsupportedField, `delegate.type: ${JSON.stringify(delegate.type)} is not supported; expected "bridge" (the built-in bridge)`);
  }
  const pick = (key: string): unknown => conf[key] ?? delegate[key];
  const str = (key: string, fallback: string, expected: string, test: (v: string) => boolean): string => {
    const value = pick(key) ?? fallback;
    if (typeof value !== 'string' || !test(value)) throw invalid(key, value, expected);
    return value;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const value = pick(key) ?? fallback;
    if (typeof value !== 'boolean') throw invalid(key, value, 'true or false');
    return value;
  };
  const mtu = pick('mtu');
  if (mtu !== undefined && (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) {
    throw invalid('mtu', mtu, 'an integer between 68 and 65535');
  }
  const absolute = (v: string) => v.startsWith('/');
  return {
    cniVersion,
    name: conf.name,
    type: conf.type,
    subnetFile: str('subnetFile', NETCONF_DEFAULTS.subnetFile, 'an absolute path', absolute),
    dataDir: str('dataDir', NETCONF_DEFAULTS.dataDir, 'an absolute path', absolute),
    bridge: str('bridge', NETCONF_DEFAULTS.bridge, 'a bridge name of 1–15 characters', (v) => /^[A-Za-z0-9_.-]{1,15}$/.test(v)),
    ...(mtu !== undefined ? { mtu: mtu as number } : {}),
    hairpinMode: bool('hairpinMode', true),
    isDefaultGateway: bool('isDefaultGateway', true),
    ...(conf.prevResult !== undefined ? { prevResult: parsePrevResult(conf.prevResult) } : {}),
    ...(conf['cni.dev/valid-attachments'] !== undefined || conf['cni.dev/attachments'] !== undefined
      ? { validAttachments: parseAttachments(conf['cni.dev/valid-attachments'] ?? conf['cni.dev/attachments']) }
      : {}),
  };
}

function parsePrevResult(value: unknown): CniResult {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid('prevResult', value, 'a CNI result object');
  const result = value as CniResult;
  for (const [field, list] of [['interfaces', result.interfaces], ['ips', result.ips], ['routes', result.routes]] as const) {
    if (list !== undefined && !Array.isArray(list)) throw invalid(`prevResult.${field}`, list, 'a list');
  }
  return result;
}

function parseAttachments(value: unknown): GcAttachment[] {
  if (!Array.isArray(value)) throw invalid('cni.dev/valid-attachments', value, 'a list of {containerID, ifname}');
  return value.map((item, i) => {
    const a = item as Partial<GcAttachment> | null;
    if (!a || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw invalid(`cni.dev/valid-attachments[${i}]`, item, 'an object {containerID, ifname}');
    }
    return { containerID: a.containerID, ifname: a.ifname };
  });
}
