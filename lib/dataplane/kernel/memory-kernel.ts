import { Cidr, addressToBigInt } from '../../model/cidr';
import { assertOwned, ownsRuleSet } from './ownership';
import { addressKey, assertValidOps, familyOf, normalizeRoute, randomMac, routeKey } from './normalize';
import {
  Address, Family, FdbEntry, Kernel, KernelApplyError, KernelOp, LinkDetails, LinkSpec, LinkState, Neighbour, OpFailure,
  Ownership, Route, RouteFilter, RuleSet,
} from './types';

interface MemoryLink {
  name: string;
  index: number;
  kind: string;
  mtu: number;
  mac: string;
  up: boolean;
  master?: string;
  hairpin?: boolean;
  alias?: string;
  vxlan?: LinkState['vxlan'];
  /** For veth: where the other end lives. */
  peer?: { ns: MemoryNamespace; name: string };
}

/** One namespace of the twin: the state a `MemoryKernel` reads and changes. */
export class MemoryNamespace {
  readonly links = new Map<string, MemoryLink>();
  readonly addresses = new Map<string, Address>();
  readonly routes = new Map<string, Route>();
  readonly neighbours = new Map<string, Neighbour>();
  readonly fdb = new Map<string, FdbEntry>();
  readonly sysctls = new Map<string, string>();
  readonly ruleSets = new Map<string, RuleSet>();
  private nextIndex = 2;

  constructor(public readonly name: string) {
    this.links.set('lo', { name: 'lo', index: 1, kind: 'loopback', mtu: 65536, mac: '00:00:00:00:00:00', up: false });
  }

  /** Creates a link directly (e.g. a pre-existing uplink `eth0` that nobody owns). */
  addLink(spec: Omit<MemoryLink, 'index' | 'mac' | 'peer'> & { mac?: string }): MemoryLink {
    const link: MemoryLink = { ...spec, mac: spec.mac ?? randomMac(), index: this.nextIndex++ };
    this.links.set(link.name, link);
    return link;
  }

  removeLink(name: string): void {
    const link = this.links.get(name);
    if (!link) return;
    this.links.delete(name);
    for (const [key, a] of this.addresses) if (a.dev === name) this.addresses.delete(key);
    for (const [key, r] of this.routes) {
      if (r.dev === name) this.routes.delete(key);
      else if (r.nexthops?.some((h) => h.dev === name)) {
        // IPv4 drops a multipath route with any next hop on the device; IPv6 drops just that next hop
        const left = r.nexthops.filter((h) => h.dev !== name);
        if (familyOf(r.dst) === 4 || !left.length) this.routes.delete(key);
        else this.routes.set(key, asReported({ ...r, nexthops: left }));
      }
    }
    for (const [key, n] of this.neighbours) if (n.dev === name) this.neighbours.delete(key);
    for (const [key, f] of this.fdb) if (f.dev === name) this.fdb.delete(key);
    for (const other of this.links.values()) if (other.master === name) other.master = undefined;
    if (link.peer) {
      const { ns, name: peerName } = link.peer;
      link.peer = undefined;
      const peer = ns.links.get(peerName);
      if (peer) peer.peer = undefined;
      ns.removeLink(peerName);
    }
  }

  /** True when `address` is inside a prefix assigned to an up link (the kernel's "reachable gateway" test). */
  connected(address: string, dev?: string): boolean {
    const value = addressToBigInt(address);
    if (value === undefined) return false;
    for (const a of this.addresses.values()) {
      if (dev && a.dev !== dev) continue;
      if (!this.links.get(a.dev)?.up) continue;
      const [ip, prefix] = a.cidr.split('/');
      if (familyOf(ip) !== familyOf(address)) continue;
      const bits = familyOf(ip) === 6 ? 128 : 32;
      const net = Cidr.fromBigInt(familyOf(ip), addressToBigInt(ip) ?? 0n, Number(prefix ?? bits));
      if (net.containsAddress(address)) return true;
    }
    return false;
  }
}

/**
 * The in-memory twin of the kernel: several namespaces (so veth peers can be moved), the same
 * ownership rule and the same failure semantics as `LinuxKernel`, no root needed.
 */
export class MemoryNetwork {
  readonly namespaces = new Map<string, MemoryNamespace>();
  /** The namespace used when a kernel has no netns (the "host"). */
  readonly root = this.namespace('');

  namespace(name: string): MemoryNamespace {
    let ns = this.namespaces.get(name);
    if (!ns) {
      ns = new MemoryNamespace(name);
      this.namespaces.set(name, ns);
    }
    return ns;
  }

  deleteNamespace(name: string): void {
    const ns = this.namespaces.get(name);
    if (!ns) return;
    for (const link of [...ns.links.keys()]) ns.removeLink(link);
    this.namespaces.delete(name);
  }

  kernel(ownership: Ownership, netns?: string): MemoryKernel {
    return new MemoryKernel(this, ownership, netns);
  }
}

export class MemoryKernel implements Kernel {
  /** How many batches `apply` ran (tests use it to check batching). */
  applyCount = 0;

  constructor(private readonly network: MemoryNetwork, public readonly ownership: Ownership, public readonly netns?: string) {}

  private get ns(): MemoryNamespace {
    return this.network.namespace(this.netns ?? '');
  }

  async links(): Promise<LinkState[]> {
    return [...this.ns.links.values()].map((l) => {
      const { peer: _peer, ...state } = l;
      return { ...state };
    });
  }

  async link(name: string): Promise<LinkDetails | undefined> {
    const link = (await this.links()).find((l) => l.name === name);
    return link ? { ...link, addresses: await this.addresses(name) } : undefined;
  }

  async addresses(dev?: string): Promise<Address[]> {
    return [...this.ns.addresses.values()].filter((a) => !dev || a.dev === dev);
  }

  async routes(filter: RouteFilter = {}): Promise<Route[]> {
    return [...this.ns.routes.values()].filter((route) => {
      const r = normalizeRoute(route);
      if (filter.family && familyOf(r.dst) !== filter.family) return false;
      if (filter.table !== 'all' && r.table !== (filter.table ?? 254)) return false;
      if (filter.protocol !== undefined && r.protocol !== filter.protocol) return false;
      return !filter.dev || r.dev === filter.dev;
    });
  }

  async neighbours(dev?: string): Promise<Neighbour[]> {
    return [...this.ns.neighbours.values()].filter((n) => !dev || n.dev === dev);
  }

  async fdb(dev?: string): Promise<FdbEntry[]> {
    return [...this.ns.fdb.values()].filter((f) => !dev || f.dev === dev);
  }

  async apply(ops: readonly KernelOp[]): Promise<void> {
    assertValidOps(ops);
    assertOwned(this.ownership, ops);
    this.applyCount++;
    const failures: OpFailure[] = [];
    for (const op of ops) {
      const message = this.applyOne(op);
      if (message) failures.push({ op, message });
    }
    if (failures.length) throw new KernelApplyError(failures, this.netns);
  }

  async applyAndRead(ops: readonly KernelOp[], link: string): Promise<LinkDetails | undefined> {
    await this.apply(ops);
    return this.link(link);
  }

  async sysctl(key: string): Promise<string | undefined> {
    return this.ns.sysctls.get(key.replace(/\//g, '.'));
  }

  async setSysctls(values: Readonly<Record<string, string>>): Promise<void> {
    for (const [key, value] of Object.entries(values)) this.ns.sysctls.set(key.replace(/\//g, '.'), value);
  }

  async ruleSet(name: string, family: Family): Promise<RuleSet | undefined> {
    return this.ns.ruleSets.get(`${family}/${name}`);
  }

  async replaceRuleSet(set: RuleSet): Promise<void> {
    if (!ownsRuleSet(this.ownership, set.name)) throw new Error(`kernel: refusing to replace rule set ${set.name}: not owned`);
    this.ns.ruleSets.set(`${set.family}/${set.name}`, structuredClone(set));
  }

  async deleteRuleSet(name: string, family: Family): Promise<void> {
    if (!ownsRuleSet(this.ownership, name)) throw new Error(`kernel: refusing to delete rule set ${name}: not owned`);
    this.ns.ruleSets.delete(`${family}/${name}`);
  }

  /** Returns the kernel-style error message, or undefined on success. */
  private applyOne(op: KernelOp): string | undefined {
    const ns = this.ns;
    switch (op.op) {
      case 'link.add': {
        if (ns.links.has(op.link.name)) return op.mayExist ? undefined : 'File exists';
        return this.addLink(op.link);
      }
      case 'link.set': {
        const link = ns.links.get(op.change.name);
        if (!link) return `Cannot find device "${op.change.name}"`;
        const { change } = op;
        if (change.master) {
          const master = ns.links.get(change.master);
          if (!master) return `Cannot find device "${change.master}"`;
          if (master.kind !== 'bridge') return 'Operation not supported';
        }
        if (change.hairpin !== undefined && !(change.master ?? link.master)) return 'Operation not supported';
        if (change.mtu !== undefined) link.mtu = change.mtu;
        if (change.mac !== undefined) link.mac = change.mac;
        if (change.master !== undefined) link.master = change.master ?? undefined;
        if (change.hairpin !== undefined) link.hairpin = change.hairpin;
        if (change.up !== undefined) link.up = change.up;
        return undefined;
      }
      case 'link.del':
        ns.removeLink(op.name);
        return undefined;
      case 'addr.replace':
        if (!ns.links.has(op.address.dev)) return `Cannot find device "${op.address.dev}"`;
        ns.addresses.set(addressKey(op.address), { dev: op.address.dev, cidr: op.address.cidr });
        return undefined;
      case 'addr.del':
        ns.addresses.delete(addressKey(op.address));
        return undefined;
      case 'route.replace': {
        const r = normalizeRoute(op.route);
        for (const hop of r.nexthops ?? [r]) {
          if (hop.dev && !ns.links.has(hop.dev)) return `Cannot find device "${hop.dev}"`;
          if (hop.via && !hop.onlink && !ns.connected(hop.via, hop.dev)) return 'Nexthop has invalid gateway';
        }
        if (r.type === 'unicast' && !r.dev && !r.via && !r.nexthops) return 'Invalid argument';
        ns.routes.set(routeKey(r), asReported({ ...op.route, dst: r.dst }));
        return undefined;
      }
      case 'route.del': {
        // like the kernel, a delete naming a protocol only matches a route of that protocol
        const existing = ns.routes.get(routeKey(op.route));
        if (existing && normalizeRoute(existing).protocol === normalizeRoute(op.route).protocol) ns.routes.delete(routeKey(op.route));
        return undefined;
      }
      case 'neigh.replace':
        if (!ns.links.has(op.neighbour.dev)) return `Cannot find device "${op.neighbour.dev}"`;
        ns.neighbours.set(`${op.neighbour.dev}|${op.neighbour.address}`, { ...op.neighbour });
        return undefined;
      case 'neigh.del':
        ns.neighbours.delete(`${op.neighbour.dev}|${op.neighbour.address}`);
        return undefined;
      case 'fdb.replace':
      case 'fdb.append': {
        if (!ns.links.has(op.entry.dev)) return `Cannot find device "${op.entry.dev}"`;
        const key = op.op === 'fdb.replace' ? `${op.entry.dev}|${op.entry.mac}` : `${op.entry.dev}|${op.entry.mac}|${op.entry.dst ?? ''}`;
        if (op.op === 'fdb.replace') {
          for (const [k, f] of ns.fdb) if (f.dev === op.entry.dev && f.mac === op.entry.mac) ns.fdb.delete(k);
        }
        ns.fdb.set(key, { ...op.entry });
        return undefined;
      }
      case 'fdb.del':
        for (const [k, f] of ns.fdb) {
          if (f.dev === op.entry.dev && f.mac === op.entry.mac && (!op.entry.dst || f.dst === op.entry.dst)) ns.fdb.delete(k);
        }
        return undefined;
    }
  }

  private addLink(spec: LinkSpec): string | undefined {
    const ns = this.ns;
    if (spec.master && ns.links.get(spec.master)?.kind !== 'bridge') return `Cannot find device "${spec.master}"`;
    const base = { name: spec.name, kind: spec.kind, mtu: spec.mtu ?? 1500, mac: spec.mac, up: spec.up ?? false, master: spec.master, ...(spec.alias ? { alias: spec.alias } : {}) };
    if (spec.kind === 'veth') {
      const peerNs = spec.peer.netns !== undefined ? this.network.namespaces.get(spec.peer.netns) : ns;
      if (!peerNs) return `Cannot open network namespace "${spec.peer.netns}": No such file or directory`;
      if (peerNs.links.has(spec.peer.name)) return 'File exists';
      const link = ns.addLink(base);
      const peer = peerNs.addLink({ name: spec.peer.name, kind: 'veth', mtu: spec.peer.mtu ?? spec.mtu ?? 1500, mac: spec.peer.mac, up: false });
      link.peer = { ns: peerNs, name: peer.name };
      peer.peer = { ns, name: link.name };
      return undefined;
    }
    const link = ns.addLink(base);
    if (spec.kind === 'vxlan') {
      link.vxlan = { vni: spec.vni, port: spec.port ?? 8472, local: spec.local, device: spec.device, learning: spec.learning ?? false, gbp: spec.gbp ?? false };
    }
    return undefined;
  }
}

/** A route as the kernel lists it back: a single next hop is a plain via/dev route (its weight is dropped). */
function asReported(route: Route): Route {
  if (route.nexthops?.length !== 1) return route;
  const { nexthops: [hop], ...rest } = route;
  return { ...rest, ...(hop.via ? { via: hop.via } : {}), ...(hop.dev ? { dev: hop.dev } : {}), ...(hop.onlink ? { onlink: true } : {}) };
}
