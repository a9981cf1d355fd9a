import { normalizeDst } from './normalize';
import { Address, FdbEntry, LinkState, Neighbour, NextHop, Route, RouteType } from './types';

/** The JSON that `ip -j` / `bridge -j` print: arrays of loosely typed objects. */
type Json = Record<string, unknown>;

function arr(text: string): Json[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  const parsed: unknown = JSON.parse(trimmed);
  return Array.isArray(parsed) ? (parsed as Json[]) : [];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined);
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Parses `ip -j -d link show`. */
export function parseLinks(text: string): LinkState[] {
  return arr(text).map((l) => {
    const info = obj(l.linkinfo);
    const data = obj(info.info_data);
    const slave = obj(info.info_slave_data);
    const flags = list(l.flags);
    const kind = str(info.info_kind) ?? (str(l.link_type) === 'loopback' ? 'loopback' : 'device');
    const link: LinkState = {
      name: str(l.ifname) ?? '',
      index: num(l.ifindex) ?? 0,
      kind,
      mtu: num(l.mtu) ?? 0,
      mac: str(l.address) ?? '',
      up: flags.includes('UP'),
      ...(str(l.master) ? { master: str(l.master) } : {}),
      ...(typeof slave.hairpin === 'boolean' ? { hairpin: slave.hairpin } : {}),
      ...(str(l.ifalias) ? { alias: str(l.ifalias) } : {}),
      ...(kind === 'vxlan' ? {
        vxlan: {
          vni: num(data.id) ?? 0,
          port: num(data.port) ?? 0,
          // An IPv6 underlay's source address is `local6` (iproute2), an IPv4 one's `local`.
          ...(str(data.local) ?? str(data.local6) ? { local: str(data.local) ?? str(data.local6) } : {}),
          ...(str(data.link) ? { device: str(data.link) } : {}),
          learning: data.learning === true,
          gbp: data.gbp === true,
        },
      } : {}),
    };
    return link;
  });
}

/** Parses `ip -j addr show`: global and site addresses only (link-local and host-scoped ones are the kernel's). */
export function parseAddresses(text: string): Address[] {
  const out: Address[] = [];
  for (const l of arr(text)) {
    for (const a of list(l.addr_info)) {
      const info = obj(a);
      if (str(info.scope) === 'link' || str(info.scope) === 'host') continue;
      out.push({ dev: str(l.ifname) ?? '', cidr: `${str(info.local)}/${num(info.prefixlen)}` });
    }
  }
  return out;
}

const ROUTE_TYPES: Record<string, RouteType> = {
  1: 'unicast', 2: 'local', 3: 'broadcast', 5: 'multicast', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit',
  unicast: 'unicast', local: 'local', broadcast: 'broadcast', multicast: 'multicast', blackhole: 'blackhole', unreachable: 'unreachable', prohibit: 'prohibit',
};
const SCOPES: Record<string, 'global' | 'link' | 'host'> = { 0: 'global', 253: 'link', 254: 'host', global: 'global', link: 'link', host: 'host', universe: 'global' };

/** Parses `ip -N -j route show …` (numeric protocol, scope, table and type). */
export function parseRoutes(text: string, family?: 4 | 6): Route[] {
  return arr(text).map((r) => {
    const flags = list(r.flags);
    const dst = str(r.dst) ?? 'default';
    const via = str(r.gateway);
    const nexthops: NextHop[] = list(r.nexthops).map(obj).map((h) => ({
      ...(str(h.gateway) ? { via: str(h.gateway) } : {}),
      ...(str(h.dev) ? { dev: str(h.dev) } : {}),
      weight: num(h.weight) ?? 1,
      onlink: list(h.flags).includes('onlink'),
    }));
    const isV6 = dst.includes(':') || [via, ...nexthops.map((h) => h.via)].some((g) => g?.includes(':')) || family === 6;
    const mtu = list(r.metrics).map((m) => num(obj(m).mtu)).find((m) => m !== undefined);
    const type = ROUTE_TYPES[str(r.type) ?? 'unicast'] ?? 'other';
    // The kernel hangs IPv6 blackhole/unreachable/prohibit routes on `lo` and reports that device;
    // they have none (as IPv4's), so such a route reads back equal to the one programmed.
    const deviceless = isV6 && str(r.dev) === 'lo' && (type === 'blackhole' || type === 'unreachable' || type === 'prohibit');
    const route: Route = {
      dst: normalizeDst(dst, isV6 ? 6 : 4),
      type,
      ...(via ? { via } : {}),
      ...(str(r.dev) && !deviceless ? { dev: str(r.dev) } : {}),
      ...(nexthops.length ? { nexthops } : {}),
      onlink: flags.includes('onlink'),
      protocol: num(r.protocol) ?? 0,
      table: num(r.table) ?? 254,
      metric: num(r.metric) ?? 0,
      scope: SCOPES[str(r.scope) ?? '0'] ?? 'global',
      ...(str(r.prefsrc) ? { src: str(r.prefsrc) } : {}),
      ...(mtu !== undefined ? { mtu } : {}),
    };
    return route;
  });
}

/** Parses `ip -j neigh show nud permanent`. */
export function parseNeighbours(text: string, dev?: string): Neighbour[] {
  return arr(text)
    .filter((n) => str(n.lladdr))
    .map((n) => ({ dev: str(n.dev) ?? dev ?? '', address: str(n.dst) ?? '', mac: str(n.lladdr) ?? '' }));
}

/** Parses `bridge -j fdb show`: only entries with the `self` flag that are permanent. */
export function parseFdb(text: string, dev?: string): FdbEntry[] {
  return arr(text)
    .filter((f) => list(f.flags).includes('self') && str(f.state) === 'permanent')
    .map((f) => ({ dev: str(f.ifname) ?? dev ?? '', mac: str(f.mac) ?? '', ...(str(f.dst) ? { dst: str(f.dst) } : {}) }));
}
