import { AFI_IPV6, SAFI_UNICAST } from '../wire/address';
import { encodeMessage } from '../wire/message';
import { encodedPrefixSize } from '../wire/nlri';
import { AsPathSegment, MAX_MESSAGE_LENGTH, PathAttributes, SessionCodecContext, UpdateMessage } from '../wire/types';
import { DEFAULT_LOCAL_PREF, Path, PeerInfo, Rib, familyOf } from './rib';

export type NextHopMode = 'Auto' | 'Self' | 'Keep';

/** One session as the export side sees it. */
export interface ExportTarget {
  readonly peer: PeerInfo;
  /** Our addresses on this session, used when the next hop is this node. */
  readonly localAddresses: { readonly ipv4?: string; readonly ipv6?: string };
  /** @default 'Auto' (eBGP: self; iBGP: keep, own routes self) */
  readonly nextHopMode?: NextHopMode;
  /**
   * True when an address is on the subnet this session runs over: towards an external peer the
   * original next hop is then kept ("third party" next hop, RFC 4271 §5.1.3, as BIRD does by
   * default). @default never (next hop self towards external peers)
   */
  readonly sharedSubnet?: (address: string) => boolean;
  /** Export policy: false keeps the path from this peer. @default every path BGP's rules allow */
  readonly accept?: (path: Path) => boolean;
}

/** A route as it goes to one peer. */
export interface ExportedRoute {
  readonly attributes: PathAttributes;
  readonly nextHop: string;
}

function prependAs(path: readonly AsPathSegment[] | undefined, asn: number): AsPathSegment[] {
  const segments = [...(path ?? [])];
  if (segments[0]?.type === 'sequence' && segments[0].asns.length < 255) return [{ type: 'sequence', asns: [asn, ...segments[0].asns] }, ...segments.slice(1)];
  return [{ type: 'sequence', asns: [asn] }, ...segments];
}

/**
 * What this node advertises for `prefix` to one peer (RFC 4271 §9.2, RFC 4456 §8), or undefined
 * when it advertises nothing (the peer then gets a withdrawal if it had the route).
 */
export function exportRoute(rib: Rib, target: ExportTarget, prefix: string): ExportedRoute | undefined {
  const [best] = rib.best(prefix);
  if (!best) return undefined;
  const local = rib.local;
  const from = best.peer;
  const to = target.peer;
  if (from?.id === to.id) return undefined;
  const toEbgp = to.asn !== local.asn;
  const fromIbgp = from !== undefined && from.asn === local.asn;
  let reflected = false;
  if (fromIbgp && !toEbgp) {
    if (local.clusterId === undefined) return undefined; // iBGP routes are not passed to iBGP peers
    if (!from.rrClient && !to.rrClient) return undefined; // non-client routes go to clients only
    reflected = true;
  }
  if (target.accept && !target.accept(best)) return undefined;

  const self = familyOf(prefix) === 'ipv4' ? target.localAddresses.ipv4 : target.localAddresses.ipv6;
  const mode = target.nextHopMode ?? 'Auto';
  const thirdParty = toEbgp && from !== undefined && best.nextHop !== undefined && (target.sharedSubnet?.(best.nextHop) ?? false);
  const keep = mode === 'Keep' || (mode === 'Auto' && from !== undefined && (!toEbgp || thirdParty));
  const nextHop = (keep && best.nextHop) || self;
  if (nextHop === undefined) return undefined; // no address of that family on this session

  const a = best.attributes;
  let attributes: PathAttributes;
  if (toEbgp) {
    attributes = {
      origin: a.origin, asPath: prependAs(a.asPath, local.asn),
      ...(from === undefined && a.med !== undefined ? { med: a.med } : {}),
      ...(a.atomicAggregate ? { atomicAggregate: true } : {}),
      ...(a.aggregator ? { aggregator: a.aggregator } : {}),
      ...(a.communities ? { communities: a.communities } : {}),
      ...(a.unknown ? { unknown: a.unknown } : {}),
    };
  } else {
    const { originatorId, clusterList, localPref, nextHop: _ignored, ...rest } = a;
    attributes = {
      ...rest,
      localPref: localPref ?? DEFAULT_LOCAL_PREF,
      ...(reflected && from ? {
        originatorId: originatorId ?? from.routerId,
        clusterList: [local.clusterId as string, ...(clusterList ?? [])],
      } : {
        ...(originatorId !== undefined ? { originatorId } : {}),
        ...(clusterList ? { clusterList } : {}),
      }),
    };
  }
  return { attributes, nextHop };
}

/** Everything this node advertises to one peer (its Adj-RIB-Out). */
export function exportAll(rib: Rib, target: ExportTarget): Map<string, ExportedRoute> {
  const out = new Map<string, ExportedRoute>();
  for (const prefix of rib.prefixes()) {
    const route = exportRoute(rib, target, prefix);
    if (route) out.set(prefix, route);
  }
  return out;
}

export function routeKey(route: ExportedRoute): string {
  return JSON.stringify([route.nextHop, route.attributes], (_k, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v));
}

/**
 * The UPDATEs that take a peer from `sent` to `wanted` for the given prefixes: withdrawals, then
 * announcements grouped by identical attributes, each message packed up to 4096 bytes. IPv6 goes
 * in MP_REACH/MP_UNREACH (RFC 4760).
 */
export function buildUpdates(
  sent: ReadonlyMap<string, ExportedRoute>, wanted: ReadonlyMap<string, ExportedRoute>, prefixes: Iterable<string>, ctx: SessionCodecContext,
): UpdateMessage[] {
  const withdraw: { ipv4: string[]; ipv6: string[] } = { ipv4: [], ipv6: [] };
  const groups = new Map<string, { route: ExportedRoute; prefixes: string[] }>();
  for (const prefix of prefixes) {
    const before = sent.get(prefix);
    const after = wanted.get(prefix);
    if (!after) {
      if (before) withdraw[familyOf(prefix)].push(prefix);
      continue;
    }
    const key = routeKey(after);
    if (before && routeKey(before) === key) continue;
    const groupKey = `${familyOf(prefix)}|${key}`;
    let g = groups.get(groupKey);
    if (!g) groups.set(groupKey, (g = { route: after, prefixes: [] }));
    g.prefixes.push(prefix);
  }
  const out: UpdateMessage[] = [];
  const pack = (make: (prefixes: string[]) => UpdateMessage, list: string[]) => {
    const overhead = encodeMessage(make([]), ctx).length;
    let batch: string[] = [];
    let size = overhead;
    for (const prefix of list) {
      const n = encodedPrefixSize(prefix);
      if (batch.length && size + n > MAX_MESSAGE_LENGTH) { out.push(make(batch)); batch = []; size = overhead; }
      batch.push(prefix);
      size += n;
    }
    if (batch.length) out.push(make(batch));
  };
  pack((p) => ({ type: 'update', withdrawn: p, attributes: {}, nlri: [] }), withdraw.ipv4);
  pack((p) => ({ type: 'update', withdrawn: [], attributes: {}, nlri: [], mpUnreach: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: p } }), withdraw.ipv6);
  for (const { route, prefixes: list } of groups.values()) {
    if (familyOf(list[0]) === 'ipv4') {
      pack((p) => ({ type: 'update', withdrawn: [], attributes: { ...route.attributes, nextHop: route.nextHop }, nlri: p }), list);
    } else {
      pack((p) => ({
        type: 'update', withdrawn: [], attributes: route.attributes, nlri: [],
        mpReach: { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops: [route.nextHop], nlri: p },
      }), list);
    }
  }
  return out;
}
