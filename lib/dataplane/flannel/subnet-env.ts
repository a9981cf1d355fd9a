import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Cidr, IpFamily, addressToBigInt } from '../../model/cidr';
import { ValidationError } from '../../model/errors';

/**
 * flannel's subnet file (`/run/flannel/subnet.env`, `pkg/subnet/subnet.go` WriteSubnetFile): what the
 * agent tells the CNI plugin, and what a restarted agent reads back to keep its subnet.
 *
 * ```
 * FLANNEL_NETWORK=10.244.0.0/16
 * FLANNEL_SUBNET=10.244.1.1/24
 * FLANNEL_IPV6_NETWORK=fd00:10:244::/56
 * FLANNEL_IPV6_SUBNET=fd00:10:244:1::1/64
 * FLANNEL_MTU=1450
 * FLANNEL_IPMASQ=true
 * ```
 * `FLANNEL_SUBNET` is the lease's first address + 1 (the bridge gateway) with the subnet length.
 */
export interface SubnetEnv {
  /** FLANNEL_NETWORK */
  readonly network?: Cidr;
  /** The node's subnet (network address); written as FLANNEL_SUBNET with the gateway address. */
  readonly subnet?: Cidr;
  /** FLANNEL_IPV6_NETWORK */
  readonly ipv6Network?: Cidr;
  /** The node's IPv6 subnet; written as FLANNEL_IPV6_SUBNET with the gateway address. */
  readonly ipv6Subnet?: Cidr;
  /** FLANNEL_MTU */
  readonly mtu: number;
  /** FLANNEL_IPMASQ: true when the agent masquerades (so the bridge plugin must not). */
  readonly ipMasq: boolean;
}

/** What a subnet file may hold when read back: every key is optional (old or partial files). */
export type PartialSubnetEnv = Partial<SubnetEnv>;

/** The text of a subnet file, keys in flannel's order. */
export function formatSubnetEnv(env: SubnetEnv): string {
  const lines: string[] = [];
  if (env.network && env.subnet) {
    lines.push(`FLANNEL_NETWORK=${env.network}`, `FLANNEL_SUBNET=${gatewayCidr(env.subnet)}`);
  }
  if (env.ipv6Network && env.ipv6Subnet) {
    lines.push(`FLANNEL_IPV6_NETWORK=${env.ipv6Network}`, `FLANNEL_IPV6_SUBNET=${gatewayCidr(env.ipv6Subnet)}`);
  }
  if (!Number.isInteger(env.mtu) || env.mtu < 68 || env.mtu > 65535) {
    throw new ValidationError('subnet.env FLANNEL_MTU', env.mtu, 'an MTU between 68 and 65535');
  }
  lines.push(`FLANNEL_MTU=${env.mtu}`, `FLANNEL_IPMASQ=${env.ipMasq ? 'true' : 'false'}`);
  return `${lines.join('\n')}\n`;
}

/** Parses a subnet file; unknown keys, blank lines and `#` comments are ignored. */
export function parseSubnetEnv(text: string, source = 'subnet.env'): PartialSubnetEnv {
  const values = new Map<string, string>();
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new ValidationError(source, line, 'KEY=value lines');
    values.set(line.slice(0, eq).trim(), unquote(line.slice(eq + 1).trim()));
  }
  const cidr = (key: string, family: IpFamily): Cidr | undefined => {
    const value = values.get(key);
    return value === undefined ? undefined : Cidr.parse(value, `${source} ${key}`, family);
  };
  const out: { -readonly [K in keyof SubnetEnv]?: SubnetEnv[K] } = {
    network: cidr('FLANNEL_NETWORK', 4),
    subnet: subnetFromGateway(values.get('FLANNEL_SUBNET'), `${source} FLANNEL_SUBNET`, 4),
    ipv6Network: cidr('FLANNEL_IPV6_NETWORK', 6),
    ipv6Subnet: subnetFromGateway(values.get('FLANNEL_IPV6_SUBNET'), `${source} FLANNEL_IPV6_SUBNET`, 6),
  };
  const mtu = values.get('FLANNEL_MTU');
  if (mtu !== undefined) {
    if (!/^\d+$/.test(mtu)) throw new ValidationError(`${source} FLANNEL_MTU`, mtu, 'an integer MTU such as 1450');
    out.mtu = Number(mtu);
  }
  const masq = values.get('FLANNEL_IPMASQ');
  if (masq !== undefined) {
    if (masq !== 'true' && masq !== 'false') throw new ValidationError(`${source} FLANNEL_IPMASQ`, masq, 'true or false');
    out.ipMasq = masq === 'true';
  }
  for (const key of Object.keys(out) as (keyof typeof out)[]) if (out[key] === undefined) delete out[key];
  return out;
}

/**
 * Writes the subnet file atomically (temporary file in the same directory, fsync, rename), mode
 * 0644, creating the directory if needed: a reader sees the old file or the new one, never half.
 */
export async function writeSubnetEnv(file: string, env: SubnetEnv): Promise<void> {
  const text = formatSubnetEnv(env);
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await fs.open(temp, 'w', 0o644);
  try {
    await handle.writeFile(text);
    await handle.chmod(0o644);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/** Reads a subnet file; `undefined` when it does not exist. */
export async function readSubnetEnv(file: string): Promise<PartialSubnetEnv | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return parseSubnetEnv(text, file);
}

/** `10.244.1.0/24` → `10.244.1.1/24`: the form flannel writes to FLANNEL_SUBNET. */
export function gatewayCidr(subnet: Cidr): string {
  return `${subnet.address(1n)}/${subnet.prefix}`;
}

function subnetFromGateway(value: string | undefined, field: string, family: IpFamily): Cidr | undefined {
  if (value === undefined) return undefined;
  const expected = family === 4 ? 'an address with prefix such as 10.244.1.1/24' : 'an address with prefix such as fd00:10:244:1::1/64';
  const slash = value.lastIndexOf('/');
  const address = slash > 0 ? value.slice(0, slash) : '';
  const prefixText = slash > 0 ? value.slice(slash + 1) : '';
  const bits = family === 4 ? 32 : 128;
  const numeric = addressToBigInt(address);
  if (numeric === undefined || address.includes(':') !== (family === 6) || !/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    throw new ValidationError(field, value, expected);
  }
  return Cidr.fromBigInt(family, numeric, Number(prefixText));
}

function unquote(value: string): string {
  return value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]) ? value.slice(1, -1) : value;
}
