import { isIpAddress } from '../../model/cidr';
import { ValidationError } from '../../model/errors';
import { Address, Kernel, LinkState, Route } from '../kernel/types';
import { normalizeRoute } from '../kernel/normalize';
import { ExternalInterface, isOnLink } from './backend';

/** flannel's interface flags: tried in this order, else the default route's interface. */
export interface InterfaceSelection {
  /** --iface (repeatable): an interface name or one of its addresses. */
  readonly iface?: readonly string[];
  /** --iface-regex (repeatable): matched against names and addresses. */
  readonly ifaceRegex?: readonly string[];
  /** --iface-can-reach: the interface the kernel would use to reach this address. */
  readonly ifaceCanReach?: string;
  /** --public-ip: the address advertised to peers. @default the interface's first IPv4 address */
  readonly publicIp?: string;
  /** --public-ipv6. @default the interface's first global IPv6 address */
  readonly publicIpv6?: string;
}

/** What interface selection reads from the kernel. */
export interface InterfaceFacts {
  readonly links: readonly LinkState[];
  readonly addresses: readonly Address[];
  /** Main-table IPv4 routes. */
  readonly routes: readonly Route[];
}

export async function gatherInterfaceFacts(kernel: Kernel): Promise<InterfaceFacts> {
  const [links, addresses, routes] = await Promise.all([kernel.links(), kernel.addresses(), kernel.routes({ family: 4 })]);
  return { links, addresses, routes };
}

/**
 * Picks the uplink like flanneld: each --iface, then each --iface-regex, then --iface-can-reach,
 * then the interface of the default route. Pure; throws a one-line ValidationError naming the flag.
 */
export function selectInterface(selection: InterfaceSelection, facts: InterfaceFacts): ExternalInterface {
  const v4 = (dev: string) => facts.addresses.filter((a) => a.dev === dev && !a.cidr.includes(':')).map((a) => a.cidr);
  const usable = facts.links.filter((l) => l.kind !== 'loopback' && l.name !== 'lo' && !l.name.startsWith('flannel.'));
  const byAddress = (ip: string) => facts.addresses.find((a) => a.cidr.split('/')[0] === ip)?.dev;
  const build = (name: string, flag: string, value: string): ExternalInterface => {
    const link = facts.links.find((l) => l.name === name);
    const prefixes = v4(name);
    if (!link) throw new ValidationError(flag, value, 'an existing interface name or address');
    if (prefixes.length === 0) throw new ValidationError(flag, value, `an interface with an IPv4 address (${name} has none)`);
    const own = prefixes[0].split('/')[0];
    const v6 = facts.addresses.filter((a) => a.dev === name && a.cidr.includes(':') && !a.cidr.toLowerCase().startsWith('fe80:')).map((a) => a.cidr);
    const own6 = v6[0]?.split('/')[0];
    const address6 = selection.publicIpv6 ?? own6;
    return {
      name, address: selection.publicIp ?? own, localAddress: own, prefixes: [...prefixes, ...v6], mtu: link.mtu,
      ...(address6 ? { address6, localAddress6: own6 ?? address6 } : {}),
    };
  };
  if (selection.publicIp !== undefined && !isIpAddress(selection.publicIp, 4)) {
    throw new ValidationError('--public-ip', selection.publicIp, 'an IPv4 address such as 192.168.1.10');
  }
  if (selection.publicIpv6 !== undefined && !isIpAddress(selection.publicIpv6, 6)) {
    throw new ValidationError('--public-ipv6', selection.publicIpv6, 'an IPv6 address such as fd00::10');
  }
  for (const value of selection.iface ?? []) {
    const name = isIpAddress(value) ? byAddress(value) : value;
    if (name && facts.links.some((l) => l.name === name)) return build(name, '--iface', value);
  }
  if (selection.iface?.length) {
    throw new ValidationError('--iface', selection.iface.join(','), `an existing interface name or address (have ${usable.map((l) => l.name).join(', ') || 'none'})`);
  }
  for (const pattern of selection.ifaceRegex ?? []) {
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch {
      throw new ValidationError('--iface-regex', pattern, 'a valid regular expression');
    }
    const hit = usable.find((l) => re.test(l.name) || v4(l.name).some((c) => re.test(c.split('/')[0])));
    if (hit) return build(hit.name, '--iface-regex', pattern);
  }
  if (selection.ifaceRegex?.length) {
    throw new ValidationError('--iface-regex', selection.ifaceRegex.join(','), `a pattern matching an interface (have ${usable.map((l) => l.name).join(', ') || 'none'})`);
  }
  if (selection.ifaceCanReach !== undefined) {
    if (!isIpAddress(selection.ifaceCanReach, 4)) throw new ValidationError('--iface-can-reach', selection.ifaceCanReach, 'an IPv4 address');
    const dev = routeTo(selection.ifaceCanReach, facts);
    if (!dev) throw new ValidationError('--iface-can-reach', selection.ifaceCanReach, 'an address some interface has a route to');
    return build(dev, '--iface-can-reach', selection.ifaceCanReach);
  }
  const fallback = facts.routes.map(normalizeRoute).find((r) => r.dst === '0.0.0.0/0' && r.table === 254 && r.dev);
  if (!fallback?.dev) {
    throw new ValidationError('--iface', undefined, 'an interface (--iface, --iface-regex or --iface-can-reach) because there is no default route');
  }
  return build(fallback.dev, 'default route', fallback.dev);
}

/** The device of the longest-prefix route to `address` (connected prefixes count as routes). */
function routeTo(address: string, facts: InterfaceFacts): string | undefined {
  let best: { dev: string; len: number } | undefined;
  const consider = (prefix: string, dev: string | undefined) => {
    if (!dev || !isOnLink(address, [prefix])) return;
    const len = Number(prefix.split('/')[1]);
    if (!best || len > best.len) best = { dev, len };
  };
  for (const r of facts.routes.map(normalizeRoute)) if (r.table === 254 && r.type === 'unicast') consider(r.dst, r.dev);
  for (const a of facts.addresses) if (!a.cidr.includes(':')) consider(a.cidr, a.dev);
  return best?.dev;
}
