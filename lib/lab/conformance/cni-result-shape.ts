import { isIP } from 'net';

/** What an ADD result must show besides its shape: the conflist's version and the pod's namespace. */
export interface ResultExpectation {
  readonly cniVersion: string;
  /** The CNI_NETNS of the ADD: the pod's interface names it as its `sandbox`. */
  readonly sandbox: string;
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

/**
 * What is wrong with an ADD result against SPEC.md's "ADD Success" (1.0.0 and later): interfaces
 * with a name (MAC and sandbox optional), ips as CIDRs whose `interface` indexes an interface
 * inside a sandbox, routes with a CIDR `dst`, and no 0.x `version` on an ip. Empty when it is right.
 */
export function cniResultProblems(result: unknown, expected: ResultExpectation): string[] {
  if (!isObject(result)) return [`result: ${JSON.stringify(result)} is not a JSON object`];
  const problems: string[] = [];
  if (result.cniVersion !== expected.cniVersion) problems.push(`cniVersion: ${JSON.stringify(result.cniVersion)}, expected ${JSON.stringify(expected.cniVersion)}`);
  const interfaces = listOf(result, 'interfaces', problems);
  interfaces.forEach((entry, i) => {
    const where = `interfaces[${i}]`;
    if (!isObject(entry)) return problems.push(`${where}: not an object`);
    if (typeof entry.name !== 'string' || !entry.name) problems.push(`${where}.name: ${JSON.stringify(entry.name)}, expected an interface name`);
    if (entry.mac !== undefined && (typeof entry.mac !== 'string' || !MAC.test(entry.mac))) problems.push(`${where}.mac: ${JSON.stringify(entry.mac)}, expected a MAC address`);
    if (entry.sandbox !== undefined && typeof entry.sandbox !== 'string') problems.push(`${where}.sandbox: ${JSON.stringify(entry.sandbox)}, expected a path`);
    return undefined;
  });
  const inSandbox = interfaces.filter((entry) => isObject(entry) && entry.sandbox === expected.sandbox);
  if (inSandbox.length === 0) problems.push(`interfaces: none has sandbox ${JSON.stringify(expected.sandbox)}`);
  const ips = listOf(result, 'ips', problems);
  if (ips.length === 0) problems.push('ips: empty, expected the pod\'s address');
  ips.forEach((entry, i) => {
    const where = `ips[${i}]`;
    if (!isObject(entry)) return problems.push(`${where}: not an object`);
    if (!isCidr(entry.address)) problems.push(`${where}.address: ${JSON.stringify(entry.address)}, expected an address with prefix length`);
    if (entry.gateway !== undefined && !isIP(String(entry.gateway))) problems.push(`${where}.gateway: ${JSON.stringify(entry.gateway)}, expected an IP address`);
    if (entry.version !== undefined) problems.push(`${where}.version: ${JSON.stringify(entry.version)}, a 0.x field that results of 1.0.0 and later do not carry`);
    if (entry.interface !== undefined) {
      const target = Number.isInteger(entry.interface) ? interfaces[entry.interface as number] : undefined;
      if (!isObject(target)) problems.push(`${where}.interface: ${JSON.stringify(entry.interface)}, expected an index into interfaces (0-${interfaces.length - 1})`);
      else if (target.sandbox !== expected.sandbox) problems.push(`${where}.interface: ${String(entry.interface)} is ${JSON.stringify(target.name)}, which is not in sandbox ${JSON.stringify(expected.sandbox)}`);
    }
    return undefined;
  });
  listOf(result, 'routes', problems).forEach((entry, i) => {
    const where = `routes[${i}]`;
    if (!isObject(entry)) return problems.push(`${where}: not an object`);
    if (!isCidr(entry.dst)) problems.push(`${where}.dst: ${JSON.stringify(entry.dst)}, expected a CIDR`);
    if (entry.gw !== undefined && !isIP(String(entry.gw))) problems.push(`${where}.gw: ${JSON.stringify(entry.gw)}, expected an IP address`);
    return undefined;
  });
  if (result.dns !== undefined && !isObject(result.dns)) problems.push(`dns: ${JSON.stringify(result.dns)}, expected an object`);
  return problems;
}

/** The addresses (without prefix) the result assigns inside the sandbox. */
export function sandboxAddresses(result: unknown, sandbox: string): string[] {
  if (!isObject(result) || !Array.isArray(result.interfaces) || !Array.isArray(result.ips)) return [];
  const interfaces = result.interfaces as unknown[];
  return (result.ips as unknown[]).filter(isObject).filter((ip) => {
    const target = typeof ip.interface === 'number' ? interfaces[ip.interface] : undefined;
    return isObject(target) && target.sandbox === sandbox;
  }).map((ip) => String(ip.address).split('/')[0]);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function listOf(result: Record<string, unknown>, field: string, problems: string[]): unknown[] {
  const value = result[field];
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.push(`${field}: ${JSON.stringify(value)}, expected a list`);
    return [];
  }
  return value;
}

function isCidr(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const [address, prefix, extra] = value.split('/');
  const family = isIP(address);
  return family !== 0 && extra === undefined && /^\d+$/.test(prefix ?? '') && Number(prefix) <= (family === 4 ? 32 : 128);
}
