import { IpamGarbageCollector, StoreClusterSource } from '../../lib/dataplane/calico/controllers';
import { StoreNodeRegistry } from '../../lib/dataplane/calico/node-registry';
import { workloadEndpointRecord } from '../../lib/dataplane/calico/workload-endpoint';
import { EtcdStore } from '../../lib/dataplane/datastore';
import { BadRecordError } from '../../lib/dataplane/datastore/records';
import { KeyValueStore } from '../../lib/dataplane/datastore/types';
import { BlockIpam } from '../../lib/dataplane/ipam/block-ipam';
import { blockName } from '../../lib/dataplane/ipam/block-model';
import { CALICO_ETCD_PREFIX, CALICO_KEYS, prefixedStore } from '../../lib/dataplane/ipam/calico-store';
import { EtcdServer, startEtcd } from '../support/etcd';

const MIN = 60_000;

/**
 * Deliver 2 for kube-controllers' IPAM garbage collector on a real etcd: a corrupt record never makes
 * it free an address in use or clean up a block (lose nothing), and does not stop it collecting the
 * rest. Before, a corrupt node or block record failed every pass (SyntaxError, `forEach is not a
 * function`), so nothing was collected any more, and a WorkloadEndpoint without a container ID made
 * its pod's address look leaked and freed it.
 */
describe('fault: corrupt Calico records under the IPAM garbage collector', () => {
  let etcd: EtcdServer;
  let client: EtcdStore;
  let n = 0;

  beforeAll(async () => {
    etcd = await startEtcd();
    client = EtcdStore.connect({ endpoints: [etcd.endpoint] });
  });
  afterAll(async () => {
    await client?.close();
    await etcd?.stop();
  });

  async function cluster(): Promise<{ store: KeyValueStore; ipam: BlockIpam; refused: string[]; pod(node: string, id: string): Promise<string> }> {
    const store = prefixedStore(client, `/gcfault${n++}${CALICO_ETCD_PREFIX}`);
    await store.put('ippools/p', JSON.stringify({ cidr: '10.72.0.0/16', blockSize: 28 }));
    const refused: string[] = [];
    const ipam = new BlockIpam(store, { onBadRecord: (e) => refused.push(e.message) });
    const registry = new StoreNodeRegistry(store);
    for (const name of ['n1', 'n2']) await registry.register({ name, spec: { bgp: { ipv4Address: `10.0.0.${name.slice(1)}/24` } } });
    const pod = async (node: string, id: string) => {
      const [ip] = await ipam.autoAssign({ node, handleId: `k8s-pod-network.${id}`, family: 4, attributes: { node, namespace: 'ns', pod: id } });
      const rec = workloadEndpointRecord({ node, namespace: 'ns', pod: id, containerId: id, ifname: 'eth0', netns: '', mtu: 1450, addresses: [ip], podMac: '' });
      await store.put(`workloadendpoints/ns/${rec.metadata.name}`, JSON.stringify(rec));
      return ip;
    };
    return { store, ipam, refused, pod };
  }

  /** An allocation on n1 with no workload: a real leak, freed after the grace period. */
  const leak = async (ipam: BlockIpam) => (await ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.leak', family: 4, attributes: { node: 'n1' } }))[0];

  test('a node whose record is corrupt still exists: nothing on it is freed, its blocks stay', async () => {
    const { store, ipam, pod } = await cluster();
    const ip = await pod('n2', 'web');
    const leaked = await leak(ipam);
    await store.put(`${CALICO_KEYS.nodes}n2`, '{"bgp": ');
    const gc = new IpamGarbageCollector(ipam, new StoreClusterSource(store), { leakGracePeriodMs: 15 * MIN });
    expect(await gc.run(0)).toEqual({ leaked: [], orphaned: [], nodesCleaned: [], candidates: 1 });
    expect(await gc.run(20 * MIN)).toEqual({ leaked: [leaked], orphaned: [], nodesCleaned: [], candidates: 0 });
    expect(await ipam.addressesOf('k8s-pod-network.web')).toEqual([ip]);
    expect((await ipam.affinities('n2')).length).toBe(1);
  });

  test('a corrupt block is neither collected from nor cleaned up, even when its node is gone', async () => {
    const { store, ipam, refused } = await cluster();
    await ipam.autoAssign({ node: 'n2', handleId: 'k8s-pod-network.orphan', family: 4, attributes: { node: 'n2' } });
    const [affinity] = await ipam.affinities('n2');
    const key = CALICO_KEYS.blocks + blockName(affinity.spec.cidr);
    const bad = JSON.stringify({ ...JSON.parse((await store.get(key))!.value), allocations: 'x' });
    await store.put(key, bad);
    await store.delete(`${CALICO_KEYS.nodes}n2`);
    const leaked = await leak(ipam);
    const gc = new IpamGarbageCollector(ipam, new StoreClusterSource(store), { leakGracePeriodMs: 15 * MIN });
    await gc.run(0);
    expect(await gc.run(20 * MIN)).toMatchObject({ leaked: [leaked], orphaned: [] });
    expect((await store.get(key))?.value).toBe(bad);
    expect((await ipam.affinities('n2')).map((a) => a.spec.cidr)).toEqual([affinity.spec.cidr]);
    expect(refused).toEqual([`${key}: allocations "x" is not valid; expected an array`]);
  });

  test('a WorkloadEndpoint without a container ID fails the pass: its pod\'s address is not taken for a leak', async () => {
    const { store, ipam, pod } = await cluster();
    const ip = await pod('n1', 'db');
    const [wep] = (await store.list('workloadendpoints/')).items;
    await store.put(wep.key, JSON.stringify({ ...JSON.parse(wep.value), spec: {} }));
    const gc = new IpamGarbageCollector(ipam, new StoreClusterSource(store), { leakGracePeriodMs: 15 * MIN });
    await expect(gc.run(0)).rejects.toThrow(BadRecordError);
    await expect(gc.run(20 * MIN)).rejects.toThrow(`${wep.key}: spec.containerID (unset) is not valid; expected the container ID of the workload`);
    expect(await ipam.addressesOf('k8s-pod-network.db')).toEqual([ip]);
  });
});
