import { EtcdStore } from '../../../lib/dataplane/datastore';
import { BlockIpam } from '../../../lib/dataplane/ipam/block-ipam';
import { CALICO_ETCD_PREFIX, prefixedStore } from '../../../lib/dataplane/ipam/calico-store';
import { StoreNodeRegistry } from '../../../lib/dataplane/calico/node-registry';
import { MemoryNetwork } from '../../../lib/dataplane/kernel';
import { BgpNodeService } from '../../../lib/dataplane/bgp/node-service';
import { OutageLog, observedStore } from '../../../lib/dataplane/datastore/outage';
import { KeyValueStore, WatchOptions } from '../../../lib/dataplane/datastore/types';
import { EtcdServer, startEtcd } from '../../support/etcd';
import { until } from './harness';

/**
 * The datastore glue on real etcd: nodes registered and blocks claimed the way the Calico-style
 * agent and IPAM do it; each node's BGP service (real TCP on 127.0.0.x) meshes with the others,
 * advertises its blocks and programs the others' into its kernel twin; nodes joining and leaving
 * the registry change the mesh without restarting anything.
 */
describe('BgpNodeService on etcd', () => {
  let etcd: EtcdServer;
  const clients: EtcdStore[] = [];
  const services: BgpNodeService[] = [];
  const network = new MemoryNetwork();
  const port = 21000 + (process.pid % 20000);

  beforeAll(async () => {
    etcd = await startEtcd();
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.stop()));
    await Promise.all(clients.map((c) => c.close()));
    await etcd?.stop();
  });

  it('mesh from the registry, blocks from IPAM, routes into the kernel; a node leaving is unpeered and its routes go', async () => {
    const root = `/bgp${process.pid}${CALICO_ETCD_PREFIX}`;
    const client = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    clients.push(client);
    const store = prefixedStore(client, root);
    await store.put('ippools/routed', JSON.stringify({ cidr: '10.77.0.0/16', blockSize: 26 }));
    await store.put('ippools/tunnelled', JSON.stringify({ cidr: '10.78.0.0/16', blockSize: 26, vxlanMode: 'Always' }));
    // BGP resources as Calico stores them (spec with Calico's field names); one BGPPeer is invalid.
    await store.put('bgpconfigurations/default', JSON.stringify({ listenPort: port, nodeMeshMaxRestartTime: '90s', serviceClusterIPs: [{ cidr: '10.96.0.0/12' }] }));
    await store.put('bgppeers/broken', JSON.stringify({ peerIP: '300.1.1.1', asNumber: 65000 }));
    const ipam = new BlockIpam(store);
    const registry = new StoreNodeRegistry(store);
    const names = ['n31', 'n32', 'n33'];
    const logs: string[] = [];
    for (const [i, name] of names.entries()) {
      await registry.register({ name, spec: { bgp: { ipv4Address: `127.0.0.${31 + i}/8` } } });
      await ipam.autoAssign({ node: name, handleId: `pod-${name}`, family: 4, pools: ['routed'] });
      await ipam.autoAssign({ node: name, handleId: `vx-${name}`, family: 4, pools: ['tunnelled'] });
      const ns = network.namespace(name);
      ns.links.get('lo')!.up = true;
      await network.kernel({ everything: true }, name).apply([{ op: 'addr.replace', address: { dev: 'lo', cidr: `127.0.0.${31 + i}/8` } }]);
    }
    const blocks = await ipam.blocks();
    const blockOf = (name: string) => blocks.find((b) => b.affinity === `host:${name}` && b.cidr.startsWith('10.77.'))!.cidr;
    const routes = (name: string) => [...network.namespace(name).routes.values()].filter((r) => r.protocol === 186).map((r) => `${r.dst} via ${r.via}`).sort();

    for (const [i, name] of names.entries()) {
      const service = new BgpNodeService({
        node: name, store, registry,
        kernel: network.kernel({ routeProtocol: 186 }, name),
        speaker: { listenAddress: `127.0.0.${31 + i}`, connectRetryTime: 1, families: ['ipv4'], kernelBatchMs: 5 },
        log: (l) => logs.push(`[${name}] ${l}`),
      });
      services.push(service);
      await service.start();
    }
    const detail = () => [logs.join('\n'), JSON.stringify(services.map((s) => s.bgp?.status())), JSON.stringify(services.map((s) => s.bgp?.config.peers)), routes('n31').join(',')].join('\n');
    await until('n31 learns n32 and n33 blocks', () => routes('n31').length === 2 && routes('n31'), 20000, detail);
    // The VXLAN pool's blocks are not advertised (Felix routes them); the service CIDR is, by every node,
    // and each node keeps its own (local) path for it, so it is not programmed as a learned route.
    expect(routes('n31')).toEqual([`${blockOf('n32')} via 127.0.0.32`, `${blockOf('n33')} via 127.0.0.33`].sort());
    // Sessions are up: ready (calico-node's -bird-ready).
    expect(services.map((s) => s.notReady())).toEqual([undefined, undefined, undefined]);
    expect(services[0].bgp!.rib.best('10.96.0.0/12').map((p) => p.peer?.id ?? 'local')).toEqual(['local']);
    expect(services[0].bgp!.rib.adjRibIn('127.0.0.32').map((p) => p.prefix).sort()).toEqual([blockOf('n32'), '10.96.0.0/12']);

    // n33 leaves the registry: the others drop the peer and its block.
    await registry.remove('n33');
    await until('n31 forgets n33', () => !routes('n31').some((r) => r.includes('127.0.0.33')), 20000, detail);
    expect(services[0].bgp!.status().map((p) => p.address)).toEqual(['127.0.0.32']);
    expect(services[0].bgp!.config.peers[0]).toMatchObject({ port, maxRestartTime: 90 });
    expect(logs.filter((l) => l.startsWith('[n31] bgp: datastore record refused: bgppeers/broken: peerIp "300.1.1.1" is not valid'))).toHaveLength(1);

    // A BGPPeer added to the datastore reaches the running speakers (an external router nobody runs: it stays Active).
    await store.put('bgppeers/tor', JSON.stringify({ peerIP: '127.0.0.99', asNumber: 65000, nodeSelector: 'all()' }));
    await until('new peer configured', () => services[0].bgp!.status().some((p) => p.address === '127.0.0.99'), 10000, detail);
    // One Established session is enough: the dead router does not make the node unready.
    expect(services[0].notReady()).toBeUndefined();
    // Without any Established session it is not ready, and says which peers it waits for.
    await services[1].stop();
    await until('n31 loses its last session', () => !services[0].bgp!.status().some((p) => p.state === 'Established'), 20000, detail);
    expect(services[0].notReady()).toMatch(/^no BGP session Established yet \(peers 127\.0\.0\.32 \w+, 127\.0\.0\.99 \w+\)$/);
  });

  it('dual stack: Nodes with an IPv6 address get an IPv6 session between those addresses beside the IPv4 one', async () => {
    const root = `/bgp6${process.pid}${CALICO_ETCD_PREFIX}`;
    const client = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    clients.push(client);
    const store = prefixedStore(client, root);
    await store.put('bgpconfigurations/default', JSON.stringify({ listenPort: port + 1 }));
    const registry = new StoreNodeRegistry(store);
    // As the agent registers them (IP6=autodetect), the address as written, not canonical; n43 has no IPv6 address.
    await registry.register({ name: 'n41', spec: { bgp: { ipv4Address: '127.0.0.41/8', ipv6Address: 'fd99:0:0:0::41/64' } } });
    await registry.register({ name: 'n42', spec: { bgp: { ipv4Address: '127.0.0.42/8', ipv6Address: 'fd99::42/64' } } });
    await registry.register({ name: 'n43', spec: { bgp: { ipv4Address: '127.0.0.43/8' } } });
    const service = new BgpNodeService({ node: 'n41', store, registry, speaker: { listenAddress: '127.0.0.41', connectRetryTime: 1 } });
    services.push(service);
    await service.start();
    expect(service.bgp!.status().map((p) => `${p.address} ${p.families.join('+')}`)).toEqual(['127.0.0.42 ipv4', 'fd99::42 ipv6', '127.0.0.43 ipv4']);
    // From n41's own IPv6 address (canonical); 'fd99::41' < 'fd99::42' as text, so n41 waits for n42 to connect.
    expect(service.bgp!.config.peers.find((p) => p.address === 'fd99::42')).toMatchObject({ localAddress: 'fd99::41', passive: true });
    expect(service.bgp!.config.routerId).toBe('127.0.0.41');
  });

  it('datastore away: the service logs nothing per failed watch; the outage log says lost and regained once', async () => {
    const root = `/bgpq${process.pid}${CALICO_ETCD_PREFIX}`;
    const client = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    clients.push(client);
    const base = prefixedStore(client, root);
    // The options each watch was opened with, as the store below sees them: their onError is what a
    // lost connection calls (once per watch, per reconnect attempt).
    const opened: WatchOptions[] = [];
    const capturing: KeyValueStore = { ...base, watch: (p, on, o) => {
      if (o) opened.push(o);
      return base.watch(p, on, o);
    } };
    const logs: string[] = [];
    const outage = new OutageLog({ warn: (msg) => logs.push(msg), info: (msg) => logs.push(msg) });
    const store = observedStore(capturing, outage);
    const registry = new StoreNodeRegistry(store);
    await registry.register({ name: 'n51', spec: { bgp: { ipv4Address: '127.0.0.51/8' } } });
    const service = new BgpNodeService({
      node: 'n51', store, registry, outage,
      kernel: network.kernel({ routeProtocol: 186 }, 'n51'),
      cluster: { listenPort: port + 2 },
      speaker: { listenAddress: '127.0.0.51', families: ['ipv4'] },
      log: (l) => logs.push(l),
    });
    services.push(service);
    await service.start();
    expect(opened.length).toBeGreaterThan(3);
    for (let attempt = 0; attempt < 5; attempt++) {
      for (const o of opened) o.onError?.(new Error('14 UNAVAILABLE: keepalive watchdog timeout'));
    }
    opened[0].onConnected?.();
    expect(logs).toEqual(['datastore lost: 14 UNAVAILABLE: keepalive watchdog timeout', expect.stringMatching(/^datastore regained after /)]);
  });
});
