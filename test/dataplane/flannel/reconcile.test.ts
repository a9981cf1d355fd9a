import { MemoryNetwork } from '../../../lib/dataplane/kernel';
import { ExternalInterface, FLANNEL_ROUTE_PROTOCOL } from '../../../lib/dataplane/flannel/backend';
import { HostGwBackend, parseVxlanOptions, VxlanBackend } from '../../../lib/dataplane/flannel/backends';
import { forwardingOps, Reconciler } from '../../../lib/dataplane/flannel/reconcile';
import { flannelRuleSet, reconcileRuleSet } from '../../../lib/dataplane/flannel/reconcile-rules';
import { Cidr } from '../../../lib/model/cidr';
import { lease } from './backend-fixtures';

const external: ExternalInterface = { name: 'eth0', address: '10.99.0.11', prefixes: ['10.99.0.11/24'], mtu: 1500 };
const ownership = { linkPrefixes: ['flannel.'], routeProtocol: FLANNEL_ROUTE_PROTOCOL, ruleSetPrefixes: ['flannel'] };

function setup() {
  const net = new MemoryNetwork();
  const ns = net.namespace('node');
  ns.addLink({ name: 'eth0', kind: 'veth', mtu: 1500, up: true });
  ns.addresses.set('eth0|10.99.0.11/24', { dev: 'eth0', cidr: '10.99.0.11/24' });
  // A route someone else owns (the default route, protocol boot): must never be touched.
  ns.routes.set('254|0.0.0.0/0|0', { dst: '0.0.0.0/0', via: '10.99.0.1', dev: 'eth0', protocol: 3 });
  const kernel = net.kernel(ownership, 'node');
  return { ns, kernel, reconciler: new Reconciler(kernel, FLANNEL_ROUTE_PROTOCOL) };
}

describe('Reconciler (host-gw on the in-memory kernel)', () => {
  const own = lease('10.244.1.0/24', '10.99.0.11', 'host-gw');
  const peers = [lease('10.244.2.0/24', '10.99.0.12', 'host-gw'), lease('10.244.3.0/24', '10.99.0.13', 'host-gw')];
  const backend = new HostGwBackend(external);

  it('programs the routes, then changes nothing on the next pass', async () => {
    const { ns, kernel, reconciler } = setup();
    const first = await reconciler.reconcile(backend.desired(own, [own, ...peers]));
    expect(first.ops.map((o) => o.op)).toEqual(['route.replace', 'route.replace']);
    expect(first.failures).toEqual([]);
    const before = kernel.applyCount;
    const second = await reconciler.reconcile(backend.desired(own, [own, ...peers]));
    expect(second.ops).toEqual([]);
    expect(kernel.applyCount).toBe(before);
    expect(ns.routes.has('254|0.0.0.0/0|0')).toBe(true);
  });

  it('removes the route of a peer whose lease went away, and repairs a deleted route', async () => {
    const { ns, reconciler } = setup();
    await reconciler.reconcile(backend.desired(own, [own, ...peers]));
    ns.routes.delete('254|10.244.2.0/24|0'); // drift: someone deleted a route
    const repaired = await reconciler.reconcile(backend.desired(own, [own, ...peers]));
    expect(repaired.ops).toEqual([{ op: 'route.replace', route: expect.objectContaining({ dst: '10.244.2.0/24' }) }]);
    const removed = await reconciler.reconcile(backend.desired(own, [own, peers[0]]));
    expect(removed.ops).toEqual([{ op: 'route.del', route: expect.objectContaining({ dst: '10.244.3.0/24' }) }]);
    expect([...ns.routes.keys()].sort()).toEqual(['254|0.0.0.0/0|0', '254|10.244.2.0/24|0']);
  });

  it('changes only the route whose next hop moved', () => {
    const current = backend.desired(own, [own, ...peers]);
    const moved = backend.desired(own, [own, peers[0], lease('10.244.3.0/24', '10.99.0.33', 'host-gw')]);
    const ops = forwardingOps(moved, { routes: current.routes, neighbours: [], fdb: [] });
    expect(ops).toEqual([{ op: 'route.replace', route: expect.objectContaining({ dst: '10.244.3.0/24', via: '10.99.0.33' }) }]);
  });
});

describe('Reconciler (vxlan on the in-memory kernel)', () => {
  const mac = '0a:00:00:00:00:01';
  const own = lease('10.244.1.0/24', '10.99.0.11', 'vxlan', mac);
  const peerA = lease('10.244.2.0/24', '10.99.0.12', 'vxlan', '0a:00:00:00:00:02');
  const peerB = lease('10.244.3.0/24', '10.99.0.13', 'vxlan', '0a:00:00:00:00:03');
  const backend = new VxlanBackend(external, parseVxlanOptions({}), mac);

  it('creates the device with its address, then neighbours, FDB entries and routes per peer', async () => {
    const { ns, reconciler } = setup();
    const result = await reconciler.reconcile(backend.desired(own, [own, peerA, peerB]));
    expect(result.failures).toEqual([]);
    const dev = ns.links.get('flannel.1');
    expect(dev).toMatchObject({ kind: 'vxlan', mtu: 1450, mac, up: true, vxlan: expect.objectContaining({ vni: 1, port: 8472, learning: false, local: '10.99.0.11' }) });
    expect([...ns.addresses.values()].filter((a) => a.dev === 'flannel.1')).toEqual([{ dev: 'flannel.1', cidr: '10.244.1.0/32' }]);
    expect(ns.neighbours.size).toBe(2);
    expect(ns.fdb.size).toBe(2);
    expect(result.routes).toBe(2);
    expect((await reconciler.reconcile(backend.desired(own, [own, peerA, peerB]))).ops).toEqual([]);
  });

  it('drops a removed peer completely and fixes a drifted MTU without recreating the device', async () => {
    const { ns, reconciler } = setup();
    await reconciler.reconcile(backend.desired(own, [own, peerA, peerB]));
    const index = ns.links.get('flannel.1')!.index;
    ns.links.get('flannel.1')!.mtu = 1500;
    const result = await reconciler.reconcile(backend.desired(own, [own, peerA]));
    expect(result.ops.map((o) => o.op).sort()).toEqual(['fdb.del', 'link.set', 'neigh.del', 'route.del']);
    expect(ns.links.get('flannel.1')).toMatchObject({ index, mtu: 1450 });
    expect([...ns.fdb.values()].map((f) => f.dst)).toEqual(['10.99.0.12']);
  });

  it('recreates an incompatible device (other port) and reprograms everything on it', async () => {
    const { ns, reconciler } = setup();
    await reconciler.reconcile(backend.desired(own, [own, peerA]));
    const other = new VxlanBackend(external, parseVxlanOptions({ Port: 4789 }), mac);
    const result = await reconciler.reconcile(other.desired(own, [own, peerA]));
    expect(result.ops.slice(0, 2).map((o) => o.op)).toEqual(['link.del', 'link.add']);
    expect(ns.links.get('flannel.1')?.vxlan?.port).toBe(4789);
    expect(ns.neighbours.size).toBe(1);
    expect(ns.routes.has('254|10.244.2.0/24|0')).toBe(true);
  });
});

describe('flannel rule set', () => {
  const network = Cidr.parse('10.244.0.0/16', 'n', 4);
  const podCidr = Cidr.parse('10.244.1.0/24', 'p', 4);

  it('has flannel\'s masquerade and forward rules in order', () => {
    const set = flannelRuleSet({ network, podCidr, ipMasq: true })!;
    expect(set.name).toBe('flannel-ipv4');
    const [post, fwd] = set.chains;
    expect(post.rules.map((r) => `${r.saddr ? (r.saddr.not ? '!' : '') + r.saddr.cidr : '*'}>${r.daddr ? (r.daddr.not ? '!' : '') + r.daddr.cidr : '*'} ${r.verdict}`)).toEqual([
      '*>* return',
      '10.244.1.0/24>10.244.0.0/16 return',
      '10.244.0.0/16>10.244.1.0/24 return',
      '!10.244.1.0/24>10.244.0.0/16 return',
      '10.244.0.0/16>!224.0.0.0/4 masquerade',
      '!10.244.0.0/16>10.244.0.0/16 masquerade',
    ]);
    expect(post.rules[0].mark).toEqual({ value: 0x4000, mask: 0x4000 });
    expect(fwd).toMatchObject({ type: 'filter', hook: 'forward', policy: 'accept' });
    expect(flannelRuleSet({ network, podCidr, ipMasq: false })!.chains.map((c) => c.name)).toEqual(['forward']);
  });

  it('is written once and left alone while it matches', async () => {
    const { kernel } = setup();
    const desired = flannelRuleSet({ network, podCidr, ipMasq: true });
    expect(await reconcileRuleSet(kernel, desired)).toBe(true);
    expect(await reconcileRuleSet(kernel, desired)).toBe(false);
    expect(await reconcileRuleSet(kernel, undefined)).toBe(true);
    expect(await kernel.ruleSet('flannel-ipv4', 4)).toBeUndefined();
  });
});
