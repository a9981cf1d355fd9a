import { Cidr, addressToBigInt } from '../../model/cidr';
import { ValidationError } from '../../model/errors';
import { inNetns, run } from '../kernel/exec';
import { Kernel } from '../kernel/types';

/**
 * Node IP autodetection (Calico's `IP_AUTODETECTION_METHOD`): a pure choice over a listed set of
 * interfaces, plus the two reads it needs from the kernel (interfaces, and the source address of
 * a route lookup for `can-reach=`).
 */
export interface InterfaceInfo {
  readonly name: string;
  /** Global addresses with prefix length, e.g. `10.0.1.2/24`, in kernel order. */
  readonly addresses: readonly string[];
}

export interface DetectedAddress {
  readonly interface: string;
  /** Address with the interface's prefix length (what CrossSubnet compares). */
  readonly address: string;
}

/** Calico's DEFAULT_INTERFACES_TO_EXCLUDE (autodetection/filtered.go), plus `br-` (docker networks). */
export const DEFAULT_SKIPPED_INTERFACES: readonly RegExp[] = [
  'docker.*', 'cbr.*', 'dummy.*', 'virbr.*', 'lxcbr.*', 'veth.*', 'lo', 'cali.*', 'tunl.*', 'flannel.*', 'kube-ipvs.*', 'cni.*',
  'vxlan.calico.*', 'vxlan-v6.calico.*', 'wireguard.cali.*', 'wg-v6.cali.*', 'nodelocaldns.*', 'br-.*',
].map((p) => new RegExp(`^${p}$`));

export type AutodetectMethod =
  | { readonly kind: 'first-found' }
  | { readonly kind: 'interface'; readonly patterns: readonly RegExp[] }
  | { readonly kind: 'skip-interface'; readonly patterns: readonly RegExp[] }
  | { readonly kind: 'cidr'; readonly cidrs: readonly Cidr[] }
  | { readonly kind: 'can-reach'; readonly destination: string };

/** Parses `first-found`, `interface=eth.*,ens.*`, `skip-interface=…`, `cidr=10.0.0.0/8,…`, `can-reach=1.2.3.4`. */
export function parseAutodetectMethod(text: string, field = 'IP_AUTODETECTION_METHOD'): AutodetectMethod {
  const expected = 'first-found, interface=<regex,…>, skip-interface=<regex,…>, cidr=<cidr,…> or can-reach=<address>';
  if (text === '' || text === 'first-found') return { kind: 'first-found' };
  const eq = text.indexOf('=');
  const kind = eq > 0 ? text.slice(0, eq) : text;
  const values = eq > 0 ? text.slice(eq + 1).split(',').map((v) => v.trim()).filter(Boolean) : [];
  if (!values.length) throw new ValidationError(field, text, expected);
  const regexes = () => values.map((v) => {
    try {
      return new RegExp(`^${v}$`);
    } catch {
      throw new ValidationError(field, text, `valid regular expressions after ${kind}=`);
    }
  });
  switch (kind) {
    case 'interface':
      return { kind, patterns: regexes() };
    case 'skip-interface':
      return { kind, patterns: regexes() };
    case 'cidr':
      return { kind, cidrs: values.map((v) => Cidr.parse(v, field)) };
    case 'can-reach':
      if (values.length !== 1 || addressToBigInt(values[0]) === undefined) throw new ValidationError(field, text, 'can-reach=<one IP address>');
      return { kind, destination: values[0] };
    default:
      throw new ValidationError(field, text, expected);
  }
}

/**
 * Picks the node address. `sourceFor` answers a route lookup (only `can-reach=` uses it).
 * Link-local addresses never count; the family decides which addresses are considered.
 */
export async function selectNodeAddress(
  method: AutodetectMethod, interfaces: readonly InterfaceInfo[], family: 4 | 6 = 4,
  sourceFor: (destination: string) => Promise<string | undefined> = async () => undefined,
): Promise<DetectedAddress | undefined> {
  const usable = (a: string) => (a.includes(':') ? 6 : 4) === family && !/^(169\.254\.|fe80:)/i.test(a);
  const first = (candidates: readonly InterfaceInfo[], accept: (a: string) => boolean = () => true) => {
    for (const i of candidates) {
      const address = i.addresses.find((a) => usable(a) && accept(a));
      if (address) return { interface: i.name, address };
    }
    return undefined;
  };
  const skipDefaults = (i: InterfaceInfo) => !DEFAULT_SKIPPED_INTERFACES.some((r) => r.test(i.name));
  switch (method.kind) {
    case 'first-found':
      return first(interfaces.filter(skipDefaults));
    case 'skip-interface':
      return first(interfaces.filter((i) => skipDefaults(i) && !method.patterns.some((r) => r.test(i.name))));
    case 'interface':
      return first(interfaces.filter((i) => method.patterns.some((r) => r.test(i.name))));
    case 'cidr':
      return first(interfaces, (a) => method.cidrs.some((c) => c.containsAddress(a.split('/')[0])));
    case 'can-reach': {
      const source = await sourceFor(method.destination);
      return source ? first(interfaces, (a) => a.split('/')[0] === source) : undefined;
    }
  }
}

/** The interfaces of a namespace with their global addresses, in kernel order. */
export async function listInterfaces(kernel: Kernel): Promise<InterfaceInfo[]> {
  const [links, addresses] = await Promise.all([kernel.links(), kernel.addresses()]);
  return links.map((l) => ({ name: l.name, addresses: addresses.filter((a) => a.dev === l.name).map((a) => a.cidr) }));
}

/** The source address the kernel would use towards `destination` (`ip route get`), in `netns`. */
export async function routeSource(netns: string | undefined, destination: string): Promise<string | undefined> {
  const result = await run(inNetns(netns, ['ip', '-j', 'route', 'get', destination]));
  if (result.code !== 0) return undefined;
  const [route] = JSON.parse(result.stdout || '[]') as { prefsrc?: string }[];
  return route?.prefsrc;
}

/** Detects with the real kernel of `kernel.netns`; a clear error when nothing matches. */
export async function autodetectNodeAddress(kernel: Kernel, methodText: string, family: 4 | 6 = 4): Promise<DetectedAddress> {
  const method = parseAutodetectMethod(methodText);
  const found = await selectNodeAddress(method, await listInterfaces(kernel), family, (d) => routeSource(kernel.netns, d));
  if (!found) throw new ValidationError('IP_AUTODETECTION_METHOD', methodText, `a method that matches an IPv${family} address on this node (none matched)`);
  return found;
}
