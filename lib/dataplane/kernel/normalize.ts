import { Address, Family, Route, RouteType } from './types';

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

/** A route with every default filled in the way the kernel reports it, so routes compare by value. */
export function normalizeRoute(route: Route): Required<Pick<Route, 'dst' | 'type' | 'protocol' | 'table' | 'metric' | 'scope' | 'onlink'>> & Route {
  const family = route.via ? familyOf(route.via) : familyOf(route.dst === 'default' ? (route.src ?? '0.0.0.0') : route.dst);
  const type: RouteType = route.type ?? 'unicast';
  return {
    ...route,
    dst: normalizeDst(route.dst, family),
    type,
    protocol: route.protocol ?? RTPROT.boot,
    table: route.table ?? MAIN_TABLE,
    metric: route.metric ?? (family === 6 ? 1024 : 0),
    scope: route.scope ?? (family === 4 && type === 'unicast' && !route.via ? 'link' : 'global'),
    onlink: route.onlink ?? false,
  };
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
    && x.onlink === y.onlink && (x.mtu ?? 0) === (y.mtu ?? 0);
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
