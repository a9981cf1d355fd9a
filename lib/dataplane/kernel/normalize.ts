import { ConflictError, ValidationError } from '../../model/errors';
import { Address, Family, KernelOp, NextHop, Route, RouteType } from './types';

/** Protocol numbers from rtnetlink.h that matter here. */
export const RTPROT = { kernel: 2, boot: 3, static: 4 } as const;
export const MAIN_TABLE = 254;
export const LOCAL_TABLE = 255;

export function familyOf(addressOrCidr: string): Family {
  return addressOrCidr.includes(':') ? 6 : 4;
}

/** `default` → `0.0.0.0/0`; a bare address → a host prefix. */
export function normalizeDst(dst: string, family?: Family): string {
  if (dst === 'default') return family === 6 ? '::/0' : '0.0.0.0/0';
  if (!dst.includes('/')) return `${dst}/${familyOf(dst) === 6 ? 128 : 32}`;
  return dst;
}

type NormalNextHop = NextHop & Required<Pick<NextHop, 'weight' | 'onlink'>>;

export type NormalRoute = Required<Pick<Route, 'dst' | 'type' | 'protocol' | 'table' | 'metric' | 'scope' | 'onlink'>>
  & Omit<Route, 'nexthops'> & { readonly nexthops?: readonly NormalNextHop[] };

/**
 * A route with every default filled in the way the kernel reports it, so routes compare by value.
 * Multipath next hops come sorted (the kernel keeps them in the order given, but order does not
 * change forwarding); a single next hop becomes a plain `via`/`dev`, as the kernel reports it.
 */
export function normalizeRoute(route: Route): NormalRoute {
  const { nexthops: given, ...rest } = route;
  let single: Omit<Route, 'nexthops'> = rest;
  let nexthops: NormalNextHop[] | undefined;
  if (given?.length === 1) {
    const [hop] = given;
    single = { ...rest, ...(hop.via ? { via: hop.via } : {}), ...(hop.dev ? { dev: hop.dev } : {}), ...(hop.onlink ? { onlink: true } : {}) };
  } else if (given?.length) {
    nexthops = given
      .map((h) => ({ ...(h.via ? { via: h.via } : {}), ...(h.dev ? { dev: h.dev } : {}), weight: h.weight ?? 1, onlink: h.onlink ?? false }))
      .sort((a, b) => nextHopKey(a).localeCompare(nextHopKey(b)));
  }
  const gateway = single.via ?? nexthops?.find((h) => h.via)?.via;
  const family = gateway ? familyOf(gateway) : familyOf(route.dst === 'default' ? (route.src ?? '0.0.0.0') : route.dst);
  const type: RouteType = route.type ?? 'unicast';
  return {
    ...single,
    dst: normalizeDst(route.dst, family),
    type,
    protocol: route.protocol ?? RTPROT.boot,
    table: route.table ?? MAIN_TABLE,
    metric: route.metric ?? (family === 6 ? 1024 : 0),
    scope: route.scope ?? (family === 4 && type === 'unicast' && !gateway ? 'link' : 'global'),
    onlink: single.onlink ?? false,
    ...(nexthops ? { nexthops } : {}),
  };
}

function nextHopKey(hop: NextHop): string {
  return `${hop.via ?? ''}|${hop.dev ?? ''}|${hop.weight ?? 1}|${hop.onlink ? 'onlink' : ''}`;
}

/** Throws a ValidationError when a route asks for something the kernel cannot hold (checked before any op is applied). */
export function validateRoute(route: Route, field = 'route'): void {
  if (route.nexthops === undefined) return;
  if (route.via !== undefined) throw new ConflictError(`${field}.via`, route.via, `cannot be combined with ${field}.nexthops; give either a single via/dev or nexthops`);
  if (route.dev !== undefined) throw new ConflictError(`${field}.dev`, route.dev, `cannot be combined with ${field}.nexthops; give the device of each next hop instead`);
  if (!route.nexthops.length) throw new ValidationError(`${field}.nexthops`, [], 'at least one next hop, or no nexthops field');
  route.nexthops.forEach((hop, i) => {
    if (!hop.via && !hop.dev) throw new ValidationError(`${field}.nexthops[${i}]`, hop, 'a next hop with via, dev or both');
    if (hop.weight !== undefined && !(Number.isInteger(hop.weight) && hop.weight >= 1 && hop.weight <= 256)) {
      throw new ValidationError(`${field}.nexthops[${i}].weight`, hop.weight, 'an integer from 1 to 256');
    }
  });
}

/** Validates the routes of `route.*` ops: an invalid one throws before anything is applied. */
export function assertValidOps(ops: readonly KernelOp[]): void {
  ops.forEach((op, i) => {
    if (op.op === 'route.replace' || op.op === 'route.del') validateRoute(op.route, `ops[${i}].route`);
  });
}

/** The kernel's identity of a route: replacing a route with the same key overwrites it. */
export function routeKey(route: Route): string {
  const r = normalizeRoute(route);
  return `${r.table}|${r.dst}|${r.metric}`;
}

/** True when two routes program the same forwarding (ignores fields the kernel adds, like src on connected routes). */
export function routesEqual(a: Route, b: Route): boolean {
  const x = normalizeRoute(a);
  const y = normalizeRoute(b);
  return x.dst === y.dst && x.type === y.type && x.table === y.table && x.metric === y.metric
    && x.protocol === y.protocol && (x.via ?? '') === (y.via ?? '') && (x.dev ?? '') === (y.dev ?? '')
    && x.onlink === y.onlink && (x.mtu ?? 0) === (y.mtu ?? 0)
    && (x.nexthops ?? []).map(nextHopKey).join(',') === (y.nexthops ?? []).map(nextHopKey).join(',');
}

export function addressKey(address: Address): string {
  return `${address.dev}|${address.cidr}`;
}

/** A random locally administered unicast MAC. */
export function randomMac(): string {
  const bytes = Array.from({ length: 6 }, () => Math.floor(Math.random() * 256));
  bytes[0] = (bytes[0] & 0xfe) | 0x02;
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
