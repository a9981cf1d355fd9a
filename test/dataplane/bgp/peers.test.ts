import { resolvePeer } from '../../../lib/model/calico/bgp';
import { BgpNode, planNodePeers, splitPeerIp } from '../../../lib/dataplane/bgp/peers';
import { bgpNodes, localAdvertisements } from '../../../lib/dataplane/bgp/node-service';
import { emptyBlock, resolvePool } from '../../../lib/dataplane/ipam/block-model';
import { Cidr } from '../../../lib/model/cidr';

const nodes: BgpNode[] = [
  { name: 'a', address: '10.0.0.1', labels: { rack: 'r1' } },
  { name: 'b', address: '10.0.0.2', labels: { rack: 'r1' } },
  { name: 'c', address: '10.0.0.10', labels: { rack: 'r2' } },
  { name: 'rr1', address: '10.0.0.20', labels: { 'route-reflector': 'true' }, routeReflectorClusterId: '244.0.0.1' },
  { name: 'rr2', address: '10.0.0.21', labels: { 'route-reflector': 'true' }, routeReflectorClusterId: '244.0.0.1' },
];

describe('planNodePeers (Calico BGP peering semantics)', () => {
  it('full mesh skips reflectors; the node is passive towards addresses that compare greater as text (Calico template)', () => {
    const plan = planNodePeers('b', nodes.slice(0, 3), {});
    expect(plan).toMatchObject({ routerId: '10.0.0.2', asn: 64512 });
    expect(plan.peers).toEqual([
      { address: '10.0.0.1', asn: 64512, passive: false },
      // "10.0.0.10" < "10.0.0.2" as text: b connects, c waits.
      { address: '10.0.0.10', asn: 64512, passive: false },
    ]);
    expect(planNodePeers('c', nodes.slice(0, 3), {}).peers.find((p) => p.address === '10.0.0.2')?.passive).toBe(true);
    expect(planNodePeers('a', nodes, {}).peers.map((p) => p.address)).toEqual(['10.0.0.2', '10.0.0.10']);
    expect(planNodePeers('a', nodes, { nodeMeshMaxRestartTime: 30 }).peers[0].maxRestartTime).toBe(30);
  });

  it('route reflectors: mesh off, every node peers with the reflectors, reflectors treat non-reflectors as clients', () => {
    const cluster = {
      nodeToNodeMeshEnabled: false,
      peers: [resolvePeer({ name: 'to-rr', nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" }, 'peers[0]')],
    };
    const a = planNodePeers('a', nodes, cluster);
    expect(a.peers.map((p) => [p.address, p.rrClient ?? false])).toEqual([['10.0.0.20', false], ['10.0.0.21', false]]);
    const rr1 = planNodePeers('rr1', nodes, cluster);
    expect(rr1.clusterId).toBe('244.0.0.1');
    // One BGPPeer is enough (Calico's route-reflector guide): peerings are symmetric, so the reflector picked by the
    // peerSelector peers back with every node the nodeSelector picks; rr2 shares its cluster id and is no client.
    expect(rr1.peers.map((p) => [p.address, p.rrClient ?? false])).toEqual([
      ['10.0.0.1', true], ['10.0.0.2', true], ['10.0.0.10', true], ['10.0.0.21', false],
    ]);
    // The reverse BGPPeer changes nothing: the same peerings, each once.
    const withClients = { ...cluster, peers: [...cluster.peers, resolvePeer({ name: 'rr-to-all', nodeSelector: "route-reflector == 'true'", peerSelector: 'all()' }, 'peers[1]')] };
    expect(planNodePeers('rr1', nodes, withClients).peers.map((p) => p.address).sort()).toEqual(['10.0.0.1', '10.0.0.10', '10.0.0.2', '10.0.0.21']);
    // A node the nodeSelector does not pick gets no peering back from the reflector.
    const rack1Only = { nodeToNodeMeshEnabled: false, peers: [resolvePeer({ name: 'r1-to-rr', nodeSelector: "rack == 'r1'", peerSelector: "route-reflector == 'true'" }, 'p')] };
    expect(planNodePeers('rr1', nodes, rack1Only).peers.map((p) => p.address)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(planNodePeers('c', nodes, rack1Only).peers).toEqual([]);
  });

  it('external peers by node, node selector or for all nodes, with port, filters, next-hop mode and password', () => {
    const cluster = {
      asNumber: 64600,
      filters: { f: { name: 'f', importV4: [{ action: 'Reject' as const }] } },
      peers: [
        resolvePeer({ name: 'tor1', peerIp: '192.0.2.1:1179', asNumber: 65001, nodeSelector: "rack == 'r1'", filters: ['f'], nextHopMode: 'Self' as never }, 'p0'),
        resolvePeer({ name: 'tor2', peerIp: '192.0.2.2', asNumber: 65002, node: 'c', passwordSecretName: 'bgp-secrets' }, 'p1'),
      ],
    };
    const a = planNodePeers('a', nodes.slice(0, 3), cluster, () => undefined);
    expect(a.peers[0]).toEqual({ address: '192.0.2.1', port: 1179, asn: 65001, nextHopMode: 'Self', filters: [cluster.filters.f] });
    expect(a.peers.map((p) => p.address)).toEqual(['192.0.2.1', '10.0.0.2', '10.0.0.10']);
    const c = planNodePeers('c', nodes.slice(0, 3), cluster, (name, key) => `${name}:${key}`);
    expect(c.peers[0]).toEqual({ address: '192.0.2.2', asn: 65002, password: 'bgp-secrets:password' });
    // An unreadable Secret refuses the peer: never a session without its key, never a made-up key.
    expect(planNodePeers('c', nodes.slice(0, 3), cluster, () => undefined).peers[0]).toEqual({
      address: '192.0.2.2', asn: 65002, refuse: 'password Secret bgp-secrets (key password) is missing or unreadable',
    });
  });

  it('an unregistered node is a clear error; peerIP forms split', () => {
    expect(() => planNodePeers('zz', nodes, {})).toThrow('bgp: node zz is not registered (no BGP address)');
    expect(splitPeerIp('[fd00::1]:179')).toEqual({ address: 'fd00::1', port: 179 });
    expect(splitPeerIp('10.1.1.1')).toEqual({ address: '10.1.1.1' });
  });
});

describe('planNodePeers per address family (confd: bird.cfg over IPv4, bird6.cfg over IPv6)', () => {
  // Dual-stack nodes, the IPv6 address as written (non-canonical) on one of them; d has no IPv6 address.
  const dual: BgpNode[] = [
    { name: 'a', address: '10.0.0.1', address6: 'fd99::1' },
    { name: 'b', address: '10.0.0.2', address6: 'fd99:0:0:0::2' },
    { name: 'c', address: '10.0.0.10', address6: 'fd99::a' },
    { name: 'd', address: '10.0.0.3' },
    { name: 'rr1', address: '10.0.0.20', address6: 'fd99::20', labels: { 'route-reflector': 'true' }, routeReflectorClusterId: '244.0.0.1' },
  ];

  it('full mesh: an IPv4 session per node and an IPv6 session per dual-stack node, each passive by the comparison of its own family', () => {
    const b = planNodePeers('b', dual, {});
    expect(b.routerId).toBe('10.0.0.2'); // the router id stays IPv4 on both families' sessions
    expect(b.peers).toEqual([
      { address: '10.0.0.1', asn: 64512, passive: false },
      { address: 'fd99::1', asn: 64512, passive: false, localAddress: 'fd99::2' },
      // "10.0.0.10" < "10.0.0.2" as text, but "fd99::a" > "fd99::2": b connects over IPv4 and waits over IPv6.
      { address: '10.0.0.10', asn: 64512, passive: false },
      { address: 'fd99::a', asn: 64512, passive: true, localAddress: 'fd99::2' },
      { address: '10.0.0.3', asn: 64512, passive: true },
    ]);
    // Each pair has exactly one connecting side per family.
    const c = planNodePeers('c', dual, {});
    expect(c.peers.find((p) => p.address === 'fd99::2')?.passive).toBe(false);
    expect(c.peers.find((p) => p.address === '10.0.0.2')?.passive).toBe(true);
    // A node without an IPv6 address has IPv4 sessions only, and nobody has an IPv6 session with it.
    expect(planNodePeers('d', dual, {}).peers.map((p) => p.address)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.10']);
    expect(planNodePeers('a', dual, { nodeMeshMaxRestartTime: 30 }).peers.every((p) => p.maxRestartTime === 30)).toBe(true);
  });

  it('route reflectors: clients peer with the reflector over both families, and the reflector takes both sessions as a client\'s', () => {
    const cluster = {
      nodeToNodeMeshEnabled: false,
      peers: [resolvePeer({ name: 'to-rr', nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" }, 'peers[0]')],
    };
    expect(planNodePeers('a', dual, cluster).peers).toEqual([
      { address: '10.0.0.20', asn: 64512, passive: true },
      { address: 'fd99::20', asn: 64512, passive: true, localAddress: 'fd99::1' },
    ]);
    const rr = planNodePeers('rr1', dual, cluster);
    expect(rr.peers.map((p) => [p.address, p.rrClient ?? false, p.localAddress])).toEqual([
      ['10.0.0.1', true, undefined], ['fd99::1', true, 'fd99::20'], ['10.0.0.2', true, undefined], ['fd99::2', true, 'fd99::20'],
      ['10.0.0.10', true, undefined], ['fd99::a', true, 'fd99::20'], ['10.0.0.3', true, undefined],
    ]);
  });

  it('peerIP BGPPeers: one session of the address\'s family, IPv6 ones only from nodes with an IPv6 address, from that address', () => {
    const cluster = {
      nodeToNodeMeshEnabled: false,
      peers: [
        resolvePeer({ name: 'tor-v4', peerIp: '10.0.255.1', asNumber: 65000 }, 'p0'),
        resolvePeer({ name: 'tor-v6', peerIp: '[fd00:0:255:0::1]:1179', asNumber: 65000, passwordSecretName: 's', passwordSecretKey: 'k' }, 'p1'),
      ],
    };
    expect(planNodePeers('a', dual, cluster, () => 'pw').peers).toEqual([
      { address: '10.0.255.1', asn: 65000 },
      { address: 'fd00:0:255::1', port: 1179, asn: 65000, localAddress: 'fd99::1', password: 'pw' },
    ]);
    expect(planNodePeers('d', dual, cluster, () => 'pw').peers).toEqual([{ address: '10.0.255.1', asn: 65000 }]);
  });
});

describe('Calico nodes and blocks as BGP input', () => {
  it('reads the IPv6 address (canonical, without its prefix length) beside the IPv4 one', () => {
    expect(bgpNodes([{ name: 'x', spec: { bgp: { ipv4Address: '10.0.0.5/24', ipv6Address: 'fd99:0:0:0::5/64' } } }])).toEqual([
      { name: 'x', address: '10.0.0.5', address6: 'fd99::5', labels: {} },
    ]);
  });

  it('reads the address, AS and reflector cluster id from the Node spec', () => {
    const spec = { bgp: { ipv4Address: '10.0.0.5/24', asNumber: 65100, routeReflectorClusterID: '244.0.0.9' } };
    expect(bgpNodes([{ name: 'x', spec }, { name: 'y', spec: {} }], { x: { labels: { a: 'b' } } })).toEqual([
      { name: 'x', address: '10.0.0.5', asNumber: 65100, routeReflectorClusterId: '244.0.0.9', labels: { a: 'b' } },
    ]);
  });

  it('advertises own blocks of routed pools only, plus service CIDRs', () => {
    const block = (cidr: string, node?: string) => emptyBlock(Cidr.parse(cidr, 'x'), node, false);
    const pools = [resolvePool('routed', { cidr: '10.1.0.0/16' }), resolvePool('vx', { cidr: '10.2.0.0/16', vxlanMode: 'Always' }), resolvePool('off', { cidr: '10.3.0.0/16', disabled: true })];
    const blocks = [block('10.1.0.0/26', 'a'), block('10.1.0.64/26', 'b'), block('10.2.0.0/26', 'a'), block('10.3.0.0/26', 'a'), block('10.1.1.0/26')];
    expect(localAdvertisements('a', blocks, pools, ['10.96.0.0/12'])).toEqual(['10.1.0.0/26', '10.96.0.0/12']);
  });
});
