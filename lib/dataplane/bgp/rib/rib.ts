import { asPathLength } from '../wire/attributes';
import { AddressFamily } from '../wire/address';
import { isTreatAsWithdraw } from '../wire/update';
import { Origin, PathAttributes, UpdateMessage } from '../wire/types';

/** A BGP neighbour as the RIB sees it. */
export interface PeerInfo {
  /** Key: the peer's address. */
  readonly id: string;
  readonly routerId: string;
  readonly asn: number;
  /** The peer is a route-reflector client of this node (RFC 4456). @default false */
  readonly rrClient?: boolean;
}

export interface LocalSpeaker {
  readonly routerId: string;
  readonly asn: number;
  /** Set when this node is a route reflector. */
  readonly clusterId?: string;
}

/** A route in the RIB: a prefix, where it came from and its attributes. */
export interface Path {
  readonly prefix: string;
  /** Undefined for routes this node originates. */
  readonly peer?: PeerInfo;
  readonly attributes: PathAttributes;
  readonly nextHop?: string;
  /** Kept through a peer's graceful restart, not yet refreshed (RFC 4724). */
  readonly stale?: boolean;
}

export const DEFAULT_LOCAL_PREF = 100;

const isEbgp = (local: LocalSpeaker, peer: PeerInfo | undefined) => peer !== undefined && peer.asn !== local.asn;
const routerIdNumber = (id: string) => id.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
const firstAs = (a: PathAttributes) => a.asPath?.find((s) => s.asns.length > 0)?.asns[0];

/**
 * RFC 4271 §9.1.2.2 decision process, the subset a Calico-style speaker needs. Negative when `a`
 * is better. `forMultipath` stops after the steps that make paths equal-cost (ECMP).
 */
export function comparePaths(local: LocalSpeaker, a: Path, b: Path, forMultipath = false): number {
  if (!a.peer !== !b.peer) return a.peer ? 1 : -1; // our own routes first
  const lp = (p: Path) => p.attributes.localPref ?? DEFAULT_LOCAL_PREF;
  if (lp(a) !== lp(b)) return lp(b) - lp(a);
  const len = asPathLength(a.attributes.asPath) - asPathLength(b.attributes.asPath);
  if (len !== 0) return len;
  const origin = (a.attributes.origin ?? Origin.INCOMPLETE) - (b.attributes.origin ?? Origin.INCOMPLETE);
  if (origin !== 0) return origin;
  if (firstAs(a.attributes) === firstAs(b.attributes)) {
    const med = (a.attributes.med ?? 0) - (b.attributes.med ?? 0);
    if (med !== 0) return med;
  }
  const ebgp = Number(isEbgp(local, b.peer)) - Number(isEbgp(local, a.peer));
  if (ebgp !== 0) return ebgp;
  if (forMultipath) return 0;
  // RFC 4456 §9: ORIGINATOR_ID stands in for the router id, then the shorter CLUSTER_LIST.
  const rid = (p: Path) => routerIdNumber(p.attributes.originatorId ?? p.peer?.routerId ?? local.routerId);
  if (rid(a) !== rid(b)) return rid(a) - rid(b);
  const cl = (a.attributes.clusterList?.length ?? 0) - (b.attributes.clusterList?.length ?? 0);
  if (cl !== 0) return cl;
  return (a.peer?.id ?? '').localeCompare(b.peer?.id ?? '');
}

export interface ImportOptions {
  /** Import policy (BGPFilter); false rejects the prefix. @default accept all */
  readonly accept?: (prefix: string) => boolean;
}

/**
 * Adj-RIB-In per peer plus this node's own routes, and the Loc-RIB (best path and its ECMP
 * siblings per prefix) derived from them. Pure in-memory state; every mutation returns the
 * prefixes whose best paths may have changed, so the caller re-exports and re-programs only those.
 */
export class Rib {
  private readonly paths = new Map<string, Map<string, Path>>(); // prefix → source ('' = local) → path
  private readonly byPeer = new Map<string, Set<string>>(); // peer id → prefixes

  constructor(readonly local: LocalSpeaker) {}

  /** Replaces this node's own routes (blocks, service addresses). */
  setLocalRoutes(routes: readonly { readonly prefix: string; readonly attributes?: PathAttributes }[]): string[] {
    const wanted = new Map(routes.map((r) => [r.prefix, r] as const));
    const changed: string[] = [];
    for (const prefix of [...(this.byPeer.get('') ?? [])]) {
      if (!wanted.has(prefix)) { this.remove(prefix, ''); changed.push(prefix); }
    }
    for (const [prefix, r] of wanted) {
      this.put({ prefix, attributes: { origin: Origin.IGP, asPath: [], ...r.attributes } }, '');
      changed.push(prefix);
    }
    return changed;
  }

  /** Applies one UPDATE from `peer` (RFC 7606 treat-as-withdraw included). */
  applyUpdate(peer: PeerInfo, update: UpdateMessage, options: ImportOptions = {}): string[] {
    const changed: string[] = [];
    const withdraw = (prefix: string) => { if (this.remove(prefix, peer.id)) changed.push(prefix); };
    update.withdrawn.forEach(withdraw);
    update.mpUnreach?.withdrawn.forEach(withdraw);
    const announced = [
      ...update.nlri.map((prefix) => ({ prefix, nextHop: update.attributes.nextHop })),
      ...(update.mpReach?.nlri ?? []).map((prefix) => ({ prefix, nextHop: update.mpReach?.nextHops[0] })),
    ];
    if (!announced.length) return changed;
    const rejectAll = isTreatAsWithdraw(update) || this.loops(peer, update.attributes);
    for (const { prefix, nextHop } of announced) {
      if (rejectAll || !(options.accept?.(prefix) ?? true) || nextHop === undefined) withdraw(prefix);
      else { this.put({ prefix, peer, attributes: update.attributes, nextHop }, peer.id); changed.push(prefix); }
    }
    return changed;
  }

  /** RFC 4271 §9.1.2 / RFC 4456 §8 loop checks, and the first-AS check for external peers. */
  private loops(peer: PeerInfo, a: PathAttributes): boolean {
    if (a.asPath?.some((s) => s.asns.includes(this.local.asn))) return true;
    if (a.originatorId !== undefined && a.originatorId === this.local.routerId) return true;
    if (this.local.clusterId !== undefined && a.clusterList?.includes(this.local.clusterId)) return true;
    if (peer.asn !== this.local.asn && firstAs(a) !== peer.asn) return true;
    return false;
  }

  /** The session ended without graceful restart: every route from the peer goes. */
  dropPeer(peerId: string): string[] {
    const prefixes = [...(this.byPeer.get(peerId) ?? [])];
    for (const prefix of prefixes) this.remove(prefix, peerId);
    return prefixes;
  }

  /** Graceful restart began: keep the peer's routes of these families, marked stale. */
  markStale(peerId: string, families: readonly AddressFamily[]): string[] {
    const changed: string[] = [];
    for (const prefix of [...(this.byPeer.get(peerId) ?? [])]) {
      const path = this.paths.get(prefix)?.get(peerId);
      if (!path) continue;
      if (families.includes(familyOf(prefix))) this.put({ ...path, stale: true }, peerId);
      else this.remove(prefix, peerId);
      changed.push(prefix);
    }
    return changed;
  }

  /** End-of-RIB or restart-time expiry: drop the routes still stale (of one family, or all). */
  sweepStale(peerId: string, family?: AddressFamily): string[] {
    const changed: string[] = [];
    for (const prefix of [...(this.byPeer.get(peerId) ?? [])]) {
      const path = this.paths.get(prefix)?.get(peerId);
      if (path?.stale && (family === undefined || familyOf(prefix) === family)) {
        this.remove(prefix, peerId);
        changed.push(prefix);
      }
    }
    return changed;
  }

  hasStale(peerId: string): boolean {
    return [...(this.byPeer.get(peerId) ?? [])].some((prefix) => this.paths.get(prefix)?.get(peerId)?.stale);
  }

  /** Best path first, then the paths equal to it for ECMP; empty when the prefix is unreachable. */
  best(prefix: string): Path[] {
    const candidates = [...(this.paths.get(prefix)?.values() ?? [])];
    if (!candidates.length) return [];
    candidates.sort((a, b) => comparePaths(this.local, a, b));
    const [first] = candidates;
    return candidates.filter((p) => p === first || comparePaths(this.local, first, p, true) === 0);
  }

  prefixes(): string[] {
    return [...this.paths.keys()];
  }

  /** Everything one peer sent (its Adj-RIB-In). */
  adjRibIn(peerId: string): Path[] {
    return [...(this.byPeer.get(peerId) ?? [])].map((prefix) => this.paths.get(prefix)?.get(peerId) as Path);
  }

  private put(path: Path, source: string): void {
    let bySource = this.paths.get(path.prefix);
    if (!bySource) this.paths.set(path.prefix, (bySource = new Map()));
    bySource.set(source, path);
    let set = this.byPeer.get(source);
    if (!set) this.byPeer.set(source, (set = new Set()));
    set.add(path.prefix);
  }

  private remove(prefix: string, source: string): boolean {
    const bySource = this.paths.get(prefix);
    if (!bySource?.delete(source)) return false;
    if (!bySource.size) this.paths.delete(prefix);
    this.byPeer.get(source)?.delete(prefix);
    return true;
  }
}

export function familyOf(prefix: string): AddressFamily {
  return prefix.includes(':') ? 'ipv6' : 'ipv4';
}
