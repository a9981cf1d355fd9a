import { IpamGarbageCollector, StoreClusterSource } from '../../lib/dataplane/calico/controllers';
import { StoreNodeRegistry } from '../../lib/dataplane/calico/node-registry';
import { workloadEndpointRecord } from '../../lib/dataplane/calico/workload-endpoint';
import { EtcdStore } from '../../lib/dataplane/datastore';
import { BlockIpam } from '../../lib/dataplane/ipam/block-ipam';
import { CALICO_ETCD_PREFIX, prefixedStore } from '../../lib/dataplane/ipam/calico-store';
import { EtcdServer, startEtcd } from '../support/etcd';

const MIN = 60_000;

/** kube-controllers' IPAM GC on a real etcd, with the clock passed in. */
describe('Calico-style controllers: IPAM garbage collection', () => {
  let etcd: EtcdServer;
  let client: EtcdStore;

  beforeAll(async () => {
    etcd = await startEtcd();
    client = EtcdStore.connect({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    await client?.close();
    await etcd?.stop();
  });

  test('a leaked allocation is freed after the grace period and not before; a deleted node loses its blocks', async () => {
    const store = prefixedStore(client, `/gc${CALICO_ETCD_PREFIX}`);
    await store.put('ippools/p', JSON.stringify({ cidr: '10.70.0.0/16', blockSize: 28 }));
    const ipam = new BlockIpam(store);
    const registry = new StoreNodeRegistry(store);
    for (const name of ['n1', 'gone']) await registry.register({ name, spec: { bgp: { ipv4Address: `10.0.0.${name === 'n1' ? 1 : 2}/24` } } });

    const pod = async (node: string, id: string, withRecord: boolean) => {
      const [ip] = await ipam.autoAssign({ node, handleId: `k8s-pod-network.${id}`, family: 4, attributes: { node, namespace: 'ns', pod: id } });
      if (withRecord) {
        const rec = workloadEndpointRecord({ node, namespace: 'ns', pod: id, containerId: id, ifname: 'eth0', netns: '', mtu: 1450, addresses: [ip], podMac: '' });
        await store.put(`workloadendpoints/ns/${rec.metadata.name}`, JSON.stringify(rec));
      }
      return ip;
    };
    const live = await pod('n1', 'alive', true);
    const leak = await pod('n1', 'leaked', false);
    const [tunnel] = await ipam.autoAssign({ node: 'n1', handleId: 'vxlan-tunnel-addr-n1', family: 4, use: 'Tunnel', attributes: { node: 'n1', type: 'vxlanTunnelAddress' } });
    const onGone = await pod('gone', 'elsewhere', true);
    await ipam.autoAssign({ node: 'gone', handleId: 'k8s-pod-network.elsewhere', family: 4, count: 20, attributes: { node: 'gone' } });

    const gc = new IpamGarbageCollector(ipam, new StoreClusterSource(store), { leakGracePeriodMs: 15 * MIN });
    const t0 = 1_000_000;
    expect(await gc.run(t0)).toEqual({ leaked: [], orphaned: [], nodesCleaned: [], candidates: 1 });
    expect(await gc.run(t0 + 15 * MIN - 1)).toMatchObject({ leaked: [], candidates: 1 });
    expect(await ipam.addressesOf('k8s-pod-network.leaked')).toEqual([leak]);
    expect(await gc.run(t0 + 15 * MIN)).toMatchObject({ leaked: [leak], candidates: 0 });
    expect(await ipam.handle('k8s-pod-network.leaked')).toBeUndefined();
    expect(await ipam.addressesOf('k8s-pod-network.alive')).toEqual([live]);
    expect(await ipam.addressesOf('vxlan-tunnel-addr-n1')).toEqual([tunnel]);

    // The node is deleted: its pods' addresses, affinities and (now empty) blocks go at once.
    expect((await ipam.affinities('gone')).length).toBe(2);
    await registry.remove('gone');
    const result = await gc.run(t0 + 16 * MIN);
    expect(result.orphaned).toContain(onGone);
    expect(result.orphaned).toHaveLength(21);
    expect(result.nodesCleaned).toEqual(['gone']);
    expect(await ipam.affinities('gone')).toEqual([]);
    expect((await ipam.blocks()).every((b) => b.affinity === 'host:n1')).toBe(true);
  });

  test('a workload that comes back within the grace period is not freed; grace 0 disables leak collection', async () => {
    const store = prefixedStore(client, `/gc2${CALICO_ETCD_PREFIX}`);
    await store.put('ippools/p', JSON.stringify({ cidr: '10.71.0.0/16', blockSize: 28 }));
    const ipam = new BlockIpam(store);
    const registry = new StoreNodeRegistry(store);
    await registry.register({ name: 'n1', spec: {} });
    const [ip] = await ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.slow', family: 4, attributes: { node: 'n1' } });
    const gc = new IpamGarbageCollector(ipam, new StoreClusterSource(store));
    await gc.run(0);
    const rec = workloadEndpointRecord({ node: 'n1', namespace: 'ns', pod: 'slow', containerId: 'slow', ifname: 'eth0', netns: '', mtu: 0, addresses: [ip], podMac: '' });
    await store.put(`workloadendpoints/ns/${rec.metadata.name}`, JSON.stringify(rec));
    expect(await gc.run(20 * MIN)).toMatchObject({ leaked: [], candidates: 0 });
    await store.delete(`workloadendpoints/ns/${rec.metadata.name}`);
    const off = new IpamGarbageCollector(ipam, new StoreClusterSource(store), { leakGracePeriodMs: 0 });
    await off.run(0);
    expect(await off.run(10_000 * MIN)).toMatchObject({ leaked: [], candidates: 1 });
  });
});
