import { Rib, PeerInfo } from '../../../lib/dataplane/bgp/rib/rib';
import { buildUpdates, exportAll, exportRoute } from '../../../lib/dataplane/bgp/rib/export';
import { filterAccepts } from '../../../lib/dataplane/bgp/rib/filter';
import { Origin, PathAttributes, UpdateMessage, decodeMessage, encodeMessage } from '../../../lib/dataplane/bgp/wire';

const AS = 64512;
const node = (n: number, over: Partial<PeerInfo> = {}): PeerInfo => ({ id: `10.0.0.${n}`, routerId: `10.0.0.${n}`, asn: AS, ...over });
const router: PeerInfo = { id: '10.0.0.254', routerId: '10.0.0.254', asn: 65000 };

function announce(prefixes: string[], attrs: Partial<PathAttributes> = {}, nextHop = '10.0.0.9'): UpdateMessage {
  return { type: 'update', withdrawn: [], nlri: prefixes, attributes: { origin: Origin.IGP, asPath: [], nextHop, ...attrs } };
}

describe('RIB: Adj-RIB-In and best path', () => {
  it('prefers local pref, then AS path length, origin, MED from the same AS, eBGP over iBGP, lowest router id', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS });
    const p = '10.244.0.0/26';
    rib.applyUpdate(node(5), announce([p], { localPref: 100 }, '10.0.0.5'));
    rib.applyUpdate(node(6), announce([p], { localPref: 200, asPath: [{ type: 'sequence', asns: [1, 2, 3] }] }, '10.0.0.6'));
    expect(rib.best(p)[0].nextHop).toBe('10.0.0.6');
    rib.applyUpdate(node(6), { type: 'update', withdrawn: [p], attributes: {}, nlri: [] });
    rib.applyUpdate(node(7), announce([p], { asPath: [{ type: 'sequence', asns: [65001] }] }, '10.0.0.7'));
    expect(rib.best(p)[0].nextHop).toBe('10.0.0.5'); // shorter path
    rib.applyUpdate(node(3), announce([p], { origin: Origin.INCOMPLETE }, '10.0.0.3'));
    expect(rib.best(p)[0].nextHop).toBe('10.0.0.5'); // IGP beats INCOMPLETE
    rib.applyUpdate(node(3), { type: 'update', withdrawn: [p], attributes: {}, nlri: [] });
    const ext = { ...router, asn: 65000 };
    rib.applyUpdate(ext, announce([p], { asPath: [{ type: 'sequence', asns: [65000] }] }, '10.0.0.254'));
    rib.applyUpdate(node(5), announce([p], { asPath: [{ type: 'sequence', asns: [65000] }] }, '10.0.0.5'));
    expect(rib.best(p).map((x) => x.nextHop)[0]).toBe('10.0.0.254'); // eBGP over iBGP at equal length
  });

  it('MED is compared only between paths from the same neighbour AS', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS });
    const p = '192.0.2.0/24';
    rib.applyUpdate(node(5), announce([p], { asPath: [{ type: 'sequence', asns: [65010] }], med: 50 }, '10.0.0.5'));
    rib.applyUpdate(node(6), announce([p], { asPath: [{ type: 'sequence', asns: [65010] }], med: 10 }, '10.0.0.6'));
    expect(rib.best(p)[0].nextHop).toBe('10.0.0.6');
    rib.applyUpdate(node(4), announce([p], { asPath: [{ type: 'sequence', asns: [65020] }], med: 99 }, '10.0.0.4'));
    // 65020's MED is not compared with 65010's; the lowest router id decides between .4 and .6.
    expect(rib.best(p)[0].nextHop).toBe('10.0.0.4');
  });

  it('equal paths from several peers form an ECMP set, best first', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS });
    const p = '10.96.0.0/12';
    for (const n of [7, 5, 6]) rib.applyUpdate(node(n), announce([p], {}, `10.0.0.${n}`));
    expect(rib.best(p).map((x) => x.nextHop)).toEqual(['10.0.0.5', '10.0.0.6', '10.0.0.7']);
    rib.applyUpdate(node(8), announce([p], { localPref: 50 }, '10.0.0.8'));
    expect(rib.best(p)).toHaveLength(3);
  });

  it('treat-as-withdraw removes what the peer had, loops and policy-rejected prefixes are not installed', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS, clusterId: '1.1.1.1' });
    rib.applyUpdate(node(5), announce(['10.1.0.0/24']));
    expect(rib.best('10.1.0.0/24')).toHaveLength(1);
    rib.applyUpdate(node(5), { ...announce(['10.1.0.0/24']), errors: [{ attribute: 1, action: 'treat-as-withdraw', reason: 'x' }] });
    expect(rib.best('10.1.0.0/24')).toHaveLength(0);
    rib.applyUpdate(node(5), announce(['10.2.0.0/24'], { originatorId: '10.0.0.1' }));
    rib.applyUpdate(node(5), announce(['10.3.0.0/24'], { clusterList: ['2.2.2.2', '1.1.1.1'] }));
    rib.applyUpdate(router, announce(['10.4.0.0/24'], { asPath: [{ type: 'sequence', asns: [65000, AS] }] }));
    rib.applyUpdate(router, announce(['10.5.0.0/24'], { asPath: [{ type: 'sequence', asns: [65099] }] })); // first AS is not the peer's
    rib.applyUpdate(router, announce(['10.6.0.0/24', '10.7.0.0/24'], { asPath: [{ type: 'sequence', asns: [65000] }] }), { accept: (x) => x !== '10.7.0.0/24' });
    expect(rib.prefixes()).toEqual(['10.6.0.0/24']);
  });

  it('graceful restart: routes kept stale, refreshed ones survive End-of-RIB sweep, the rest go', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS });
    rib.applyUpdate(node(5), announce(['10.1.0.0/24', '10.2.0.0/24']));
    rib.applyUpdate(node(5), { type: 'update', withdrawn: [], attributes: {}, nlri: [], mpReach: { afi: 2, safi: 1, nextHops: ['fd00::5'], nlri: ['fd00:1::/64'] } } as UpdateMessage);
    rib.applyUpdate(node(5), { ...announce([]), nlri: [], mpReach: { afi: 2, safi: 1, nextHops: ['fd00::5'], nlri: ['fd00:1::/64'] } });
    expect(rib.markStale('10.0.0.5', ['ipv4'])).toHaveLength(3);
    expect(rib.best('fd00:1::/64')).toHaveLength(0); // family without preserved forwarding is flushed
    expect(rib.best('10.1.0.0/24')[0].stale).toBe(true);
    rib.applyUpdate(node(5), announce(['10.1.0.0/24']));
    expect(rib.hasStale('10.0.0.5')).toBe(true);
    expect(rib.sweepStale('10.0.0.5', 'ipv4')).toEqual(['10.2.0.0/24']);
    expect(rib.best('10.1.0.0/24')[0].stale).toBeUndefined();
    expect(rib.dropPeer('10.0.0.5')).toEqual(['10.1.0.0/24']);
  });
});

describe('RIB: export and route reflection (RFC 4271 §9.2, RFC 4456)', () => {
  const self = { ipv4: '10.0.0.1', ipv6: 'fd00::1' };

  it('own blocks go to everyone with next hop self; eBGP gets our AS prepended and no LOCAL_PREF', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS });
    rib.setLocalRoutes([{ prefix: '10.244.1.0/26' }]);
    expect(exportRoute(rib, { peer: node(2), localAddresses: self }, '10.244.1.0/26')).toEqual({
      nextHop: '10.0.0.1', attributes: { origin: Origin.IGP, asPath: [], localPref: 100 },
    });
    expect(exportRoute(rib, { peer: router, localAddresses: self }, '10.244.1.0/26')).toEqual({
      nextHop: '10.0.0.1', attributes: { origin: Origin.IGP, asPath: [{ type: 'sequence', asns: [AS] }] },
    });
  });

  it('a plain iBGP speaker does not pass iBGP routes on; eBGP-learned routes go to iBGP peers with their next hop', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS });
    rib.applyUpdate(node(5), announce(['10.1.0.0/24'], {}, '10.0.0.5'));
    rib.applyUpdate(router, announce(['198.51.100.0/24'], { asPath: [{ type: 'sequence', asns: [65000] }] }, '10.0.0.254'));
    expect(exportRoute(rib, { peer: node(6), localAddresses: self }, '10.1.0.0/24')).toBeUndefined();
    expect(exportRoute(rib, { peer: node(6), localAddresses: self }, '198.51.100.0/24')?.nextHop).toBe('10.0.0.254');
    expect(exportRoute(rib, { peer: node(6), localAddresses: self, nextHopMode: 'Self' }, '198.51.100.0/24')?.nextHop).toBe('10.0.0.1');
    expect(exportRoute(rib, { peer: router, localAddresses: self }, '198.51.100.0/24')).toBeUndefined(); // not back to its source
    // Towards an external peer: self, unless the owner shares the session's subnet (third-party next hop).
    const other = { ...router, id: '10.0.0.253', routerId: '10.0.0.253', asn: 65001 };
    expect(exportRoute(rib, { peer: other, localAddresses: self }, '10.1.0.0/24')?.nextHop).toBe('10.0.0.1');
    expect(exportRoute(rib, { peer: other, localAddresses: self, sharedSubnet: (a) => a.startsWith('10.0.0.') }, '10.1.0.0/24')?.nextHop).toBe('10.0.0.5');
  });

  it('a reflector sends client routes to clients and non-clients, non-client routes to clients only, with ORIGINATOR_ID and CLUSTER_LIST', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS, clusterId: '244.0.0.1' });
    const clientA = node(5, { rrClient: true });
    const clientB = node(6, { rrClient: true });
    const nonClient = node(7);
    rib.applyUpdate(clientA, announce(['10.244.5.0/26'], {}, '10.0.0.5'));
    rib.applyUpdate(nonClient, announce(['10.244.7.0/26'], {}, '10.0.0.7'));
    const toB = exportRoute(rib, { peer: clientB, localAddresses: self }, '10.244.5.0/26');
    expect(toB).toEqual({ nextHop: '10.0.0.5', attributes: expect.objectContaining({ originatorId: '10.0.0.5', clusterList: ['244.0.0.1'], localPref: 100 }) });
    expect(exportRoute(rib, { peer: nonClient, localAddresses: self }, '10.244.5.0/26')?.nextHop).toBe('10.0.0.5');
    expect(exportRoute(rib, { peer: clientA, localAddresses: self }, '10.244.5.0/26')).toBeUndefined();
    expect(exportRoute(rib, { peer: clientB, localAddresses: self }, '10.244.7.0/26')?.attributes.originatorId).toBe('10.0.0.7');
    expect(exportRoute(rib, { peer: node(8), localAddresses: self }, '10.244.7.0/26')).toBeUndefined();
    // A second reflector in the same cluster drops what the first reflected (its own cluster id is in the list).
    const rr2 = new Rib({ routerId: '10.0.0.2', asn: AS, clusterId: '244.0.0.1' });
    rr2.applyUpdate(node(1), { type: 'update', withdrawn: [], nlri: ['10.244.5.0/26'], attributes: { ...toB!.attributes, nextHop: toB!.nextHop } });
    expect(rr2.prefixes()).toEqual([]);
  });

  it('buildUpdates diffs Adj-RIB-Out: withdrawals, grouped announcements, IPv6 in MP_REACH, messages within 4096 bytes', () => {
    const rib = new Rib({ routerId: '10.0.0.1', asn: AS });
    const many = Array.from({ length: 2000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    rib.setLocalRoutes([...many, 'fd00:10::/64'].map((prefix) => ({ prefix })));
    const target = { peer: node(2), localAddresses: self };
    const wanted = exportAll(rib, target);
    const updates = buildUpdates(new Map(), wanted, wanted.keys(), {});
    const bytes = updates.map((u) => encodeMessage(u));
    expect(bytes.every((b) => b.length <= 4096)).toBe(true);
    const decoded = bytes.map((b) => decodeMessage(b)).map((r) => (r.ok ? (r.value as UpdateMessage) : undefined));
    expect(decoded.flatMap((u) => u?.nlri ?? []).sort()).toEqual([...many].sort());
    expect(decoded.flatMap((u) => u?.mpReach?.nlri ?? [])).toEqual(['fd00:10::/64']);
    expect(decoded.find((u) => u?.mpReach)?.mpReach?.nextHops).toEqual(['fd00::1']);
    rib.setLocalRoutes(many.slice(1).map((prefix) => ({ prefix })));
    const next = exportAll(rib, target);
    const diff = buildUpdates(wanted, next, [many[0], 'fd00:10::/64', many[1]], {});
    expect(diff).toEqual([
      { type: 'update', withdrawn: [many[0]], attributes: {}, nlri: [] },
      { type: 'update', withdrawn: [], attributes: {}, nlri: [], mpUnreach: { afi: 2, safi: 1, withdrawn: ['fd00:10::/64'] } },
    ]);
  });
});

describe('BGPFilter semantics', () => {
  const filters = [{
    name: 'f',
    importV4: [
      { cidr: '10.0.0.0/8', matchOperator: 'In' as const, prefixLength: { max: 24 }, action: 'Accept' as const },
      { cidr: '10.0.0.0/8', matchOperator: 'In' as const, action: 'Reject' as const },
      { cidr: '192.0.2.0/24', matchOperator: 'Equal' as const, action: 'Reject' as const },
    ],
    exportV4: [{ cidr: '10.244.0.0/16', matchOperator: 'NotIn' as const, source: 'RemotePeers' as const, action: 'Reject' as const }],
  }];
  it.each([
    ['import', '10.1.0.0/16', true, true],
    ['import', '10.1.1.128/25', true, false],
    ['import', '192.0.2.0/24', true, false],
    ['import', '192.0.2.0/25', true, true],
    ['import', 'fd00::/64', true, true],
    ['export', '198.51.100.0/24', true, false],
    ['export', '198.51.100.0/24', false, true],
    ['export', '10.244.3.0/26', true, true],
  ] as const)('%s %s (learned %s) → %s', (direction, prefix, learned, accepted) => {
    expect(filterAccepts(filters, direction, prefix, learned)).toBe(accepted);
  });
});
