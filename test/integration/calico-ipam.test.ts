import { EtcdStore } from '../../lib/dataplane/datastore';
import { KeyValueStore } from '../../lib/dataplane/datastore/types';
import { BlockIpam } from '../../lib/dataplane/ipam/block-ipam';
import { InProcessLock } from '../../lib/dataplane/ipam/calico-host-lock';
import { BlockAffinitySpec, IpamBlockSpec, blockAllocations } from '../../lib/dataplane/ipam/block-model';
import { CALICO_ETCD_PREFIX, CALICO_KEYS, prefixedStore } from '../../lib/dataplane/ipam/calico-store';
import { EtcdServer, startEtcd } from '../support/etcd';

/** Block IPAM on a real etcd: every node has its own client, as separate machines would. */
describe('block IPAM on real etcd', () => {
  let etcd: EtcdServer;
  const clients: EtcdStore[] = [];
  let prefix = 0;

  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await etcd?.stop();
  });

  /** A fresh key space per test, as its own Calico cluster. */
  async function cluster(setup: Record<string, unknown>, nodes = 1): Promise<BlockIpam[]> {
    return (await stores(setup, nodes)).map((store) => new BlockIpam(store));
  }

  /** The key space's stores, one client per node. */
  async function stores(setup: Record<string, unknown>, nodes = 1): Promise<KeyValueStore[]> {
    const root = `/t${prefix++}${CALICO_ETCD_PREFIX}`;
    const admin = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    clients.push(admin);
    for (const [key, value] of Object.entries(setup)) await admin.put(root + key, JSON.stringify(value));
    return Array.from({ length: nodes }, () => {
      const client = EtcdStore.connect({ endpoints: [etcd.endpoint] });
      clients.push(client);
      return prefixedStore(client, root);
    });
  }

  test('200 ADDs over 3 nodes at once: 200 distinct addresses, no block claimed twice', async () => {
    const ipams = await cluster({ 'ippools/default': { cidr: '10.10.0.0/16', blockSize: 26 } }, 3);
    const nodes = ['node-0', 'node-1', 'node-2'];
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => ipams[i % 3].autoAssign({
      node: nodes[i % 3], handleId: `k8s-pod-network.c${i}`, family: 4, attributes: { node: nodes[i % 3], pod: `p${i}` },
    })));
    const addresses = results.flat();
    expect(addresses).toHaveLength(200);
    expect(new Set(addresses).size).toBe(200);

    const blocks = await ipams[0].blocks();
    const affinities = (await Promise.all(nodes.map((n) => ipams[0].affinities(n)))).flat().map((a) => a.spec as BlockAffinitySpec);
    // One affinity per block, all confirmed, none pending, each block affine to the node of its affinity.
    expect(new Set(affinities.map((a) => a.cidr)).size).toBe(affinities.length);
    expect(affinities.every((a) => a.state === 'confirmed')).toBe(true);
    expect(affinities.map((a) => a.cidr).sort()).toEqual(blocks.map((b) => b.cidr).sort());
    for (const a of affinities) expect(blocks.find((b) => b.cidr === a.cidr)?.affinity).toBe(`host:${a.node}`);
    // The blocks hold exactly the handed-out addresses, each recorded once, with its handle.
    const recorded = blocks.flatMap((b) => blockAllocations(b));
    expect(recorded.map((r) => r.address).sort()).toEqual([...addresses].sort());
    // Each node allocated from its own blocks (≥ 67 addresses → 2 blocks of 64 per node).
    for (const n of nodes) expect(affinities.filter((a) => a.node === n).length).toBe(2);
    for (let i = 0; i < 200; i += 37) {
      expect(await ipams[1].addressesOf(`k8s-pod-network.c${i}`)).toEqual(results[i]);
    }
  });

  test('without any host lock (every ADD racing), compare-and-swap alone keeps addresses and blocks unique', async () => {
    const root = `/t${prefix++}${CALICO_ETCD_PREFIX}`;
    const admin = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    clients.push(admin);
    await admin.put(`${root}ippools/p`, JSON.stringify({ cidr: '10.11.0.0/16', blockSize: 28 }));
    const noLock = { run: <T>(fn: () => Promise<T>) => fn() };
    const ipams = [0, 1, 2].map(() => new BlockIpam(prefixedStore(admin, root), { hostLock: noLock }));
    const results = await Promise.all(Array.from({ length: 45 }, (_, i) => ipams[i % 3].autoAssign({ node: `n${i % 3}`, handleId: `h${i}`, family: 4 })));
    expect(new Set(results.flat()).size).toBe(45);
    const blocks = await ipams[0].blocks();
    const affinities = (await Promise.all([0, 1, 2].map((n) => ipams[0].affinities(`n${n}`)))).flat();
    expect(new Set(affinities.map((a) => a.spec.cidr)).size).toBe(affinities.length);
    expect(blocks.map((b) => b.cidr).sort()).toEqual(affinities.map((a) => a.spec.cidr).sort());
    expect(blocks.flatMap((b) => blockAllocations(b)).length).toBe(45);
  });

  test('a burst of releases on one node takes turns of the host lock: each handle read and each block written once per release, no conflict retried', async () => {
    const [store] = await stores({ 'ippools/default': { cidr: '10.30.0.0/16', blockSize: 26 } });
    const lock = new InProcessLock();
    let turns = 0;
    const ipam = new BlockIpam(store, { hostLock: { run: (fn) => { turns++; return lock.run(fn); } } });
    const handles = Array.from({ length: 40 }, (_, i) => `k8s-pod-network.r${i}`);
    for (const handleId of handles) await ipam.autoAssign({ node: 'n1', handleId, family: 4 });
    let blockWrites = 0;
    let handleReads = 0;
    const counting: KeyValueStore = Object.assign(Object.create(store) as KeyValueStore, {
      update: (key: string, value: string, revision: string) => {
        if (key.startsWith(CALICO_KEYS.blocks)) blockWrites++;
        return store.update(key, value, revision);
      },
      get: (key: string) => {
        if (key.startsWith(CALICO_KEYS.handles)) handleReads++;
        return store.get(key);
      },
    });
    const releasing = new BlockIpam(counting, { hostLock: { run: (fn) => { turns++; return lock.run(fn); } } });
    turns = 0;
    const freed = await Promise.all([...handles, 'k8s-pod-network.never-assigned'].map((h) => releasing.releaseByHandle(h)));
    // one handle read per release (the 41st: the handle that was never assigned, which takes no turn)
    expect({ freed: freed.flat().length, blockWrites, turns, handleReads }).toEqual({ freed: 40, blockWrites: 40, turns: 40, handleReads: 41 });
    expect(blockAllocations((await ipam.blocks())[0])).toEqual([]);
  });

  test('a release whose one block write fails ends its turn only when the other block write has settled', async () => {
    const [store] = await stores({ 'ippools/v4': { cidr: '10.21.0.0/24', blockSize: 26 }, 'ippools/v6': { cidr: 'fd00:21::/120', blockSize: 122 } });
    const ipam = new BlockIpam(store);
    await ipam.autoAssignAll([{ node: 'n1', handleId: 'h', family: 4 }, { node: 'n1', handleId: 'h', family: 6 }]);
    const events: string[] = [];
    const failing: KeyValueStore = Object.assign(Object.create(store) as KeyValueStore, {
      update: async (key: string, value: string, revision: string) => {
        if (!key.startsWith(CALICO_KEYS.blocks)) return store.update(key, value, revision);
        if (key.includes('10-21-')) throw new Error('datastore unavailable');
        await new Promise((r) => setTimeout(r, 50));
        const written = await store.update(key, value, revision);
        events.push('v6 block written');
        return written;
      },
    });
    const releasing = new BlockIpam(failing, { hostLock: { run: (fn) => fn().finally(() => events.push('turn ended')) } });
    await expect(releasing.releaseByHandle('h')).rejects.toThrow('datastore unavailable');
    expect(events).toEqual(['v6 block written', 'turn ended']);
    // the handle is kept: a later release frees what is left
    expect(await ipam.releaseByHandle('h')).toHaveLength(1);
  });

  test('release by handle frees the address and deletes the handle; a second release is a no-op', async () => {
    const [ipam] = await cluster({ 'ippools/p': { cidr: '10.20.0.0/28', blockSize: 28 } });
    const [a] = await ipam.autoAssign({ node: 'n1', handleId: 'net.c1', family: 4 });
    expect(await ipam.handle('net.c1')).toEqual({ handleID: 'net.c1', block: { '10.20.0.0/28': 1 }, deleted: false });
    expect(await ipam.releaseByHandle('net.c1')).toEqual([a]);
    expect(await ipam.handle('net.c1')).toBeUndefined();
    expect(await ipam.releaseByHandle('net.c1')).toEqual([]);
    const [again] = await ipam.autoAssign({ node: 'n1', handleId: 'net.c2', family: 4 });
    // A freed ordinal goes to the end of the free list: the next pod gets a different address.
    expect([a, again]).toEqual(['10.20.0.0', '10.20.0.1']);
  });

  test('borrowing from another node when the pool has no free block, refused under strict affinity', async () => {
    const setup = { 'ippools/p': { cidr: '10.30.0.0/27', blockSize: 28 } };
    const [ipam] = await cluster(setup);
    // Two /28 blocks: n1 and n2 claim one each; n3 can only borrow.
    await ipam.autoAssign({ node: 'n1', handleId: 'h1', family: 4 });
    await ipam.autoAssign({ node: 'n2', handleId: 'h2', family: 4 });
    const [borrowed] = await ipam.autoAssign({ node: 'n3', handleId: 'h3', family: 4, attributes: { node: 'n3' } });
    const owner = (await ipam.blocks()).find((b) => blockAllocations(b).some((x) => x.address === borrowed));
    expect(owner?.affinity).not.toBe('host:n3');
    expect(blockAllocations(owner as IpamBlockSpec).find((x) => x.address === borrowed)?.attributes).toEqual({ node: 'n3' });
    expect(await ipam.affinities('n3')).toEqual([]);

    const [strict] = await cluster({ ...setup, [CALICO_KEYS.config]: { strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 0 } });
    await strict.autoAssign({ node: 'n1', handleId: 'h1', family: 4 });
    await strict.autoAssign({ node: 'n2', handleId: 'h2', family: 4 });
    await expect(strict.autoAssign({ node: 'n3', handleId: 'h3', family: 4 })).rejects.toThrow('strictAffinity forbids borrowing');
  });

  test('per-host block limit fails the request without borrowing', async () => {
    const [ipam] = await cluster({
      'ippools/p': { cidr: '10.40.0.0/24', blockSize: 30 },
      [CALICO_KEYS.config]: { strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 2 },
    });
    await ipam.autoAssign({ node: 'n1', handleId: 'h1', family: 4, count: 8 });
    await expect(ipam.autoAssign({ node: 'n1', handleId: 'h2', family: 4 })).rejects.toThrow(
      'cannot allocate new block due to per host block limit (2 blocks on node n1)');
  });

  test('reserved addresses are never handed out; wholly reserved blocks are not claimed', async () => {
    const [ipam] = await cluster({
      'ippools/p': { cidr: '10.50.0.0/27', blockSize: 28 },
      'ipreservations/r': { reservedCIDRs: ['10.50.0.0/28', '10.50.0.16/30'] },
    });
    const got = await ipam.autoAssign({ node: 'n1', handleId: 'h', family: 4, count: 12 });
    expect(got[0]).toBe('10.50.0.20');
    expect(got).toHaveLength(12);
    await expect(ipam.autoAssign({ node: 'n1', handleId: 'h2', family: 4 })).rejects.toThrow('no free address left');
    expect((await ipam.blocks()).map((b) => b.cidr)).toEqual(['10.50.0.16/28']);
  });

  test('a deleted node: empty blocks and affinities go, blocks still in use lose their affinity', async () => {
    const [ipam] = await cluster({ 'ippools/p': { cidr: '10.60.0.0/24', blockSize: 28 } });
    await ipam.autoAssign({ node: 'gone', handleId: 'h1', family: 4, count: 17 });
    await ipam.releaseByHandle('h1');
    await ipam.autoAssign({ node: 'gone', handleId: 'h2', family: 4 });
    const released = await ipam.releaseNodeBlocks('gone');
    expect(released).toHaveLength(2);
    expect(await ipam.affinities('gone')).toEqual([]);
    const blocks = await ipam.blocks();
    expect(blocks).toHaveLength(1);
    expect(blocks[0].affinity).toBeNull();
  });

  test('IPv6 pools give /122 blocks', async () => {
    const [ipam] = await cluster({ 'ippools/v6': { cidr: 'fd00:10::/64' } });
    const [a] = await ipam.autoAssign({ node: 'n1', handleId: 'h', family: 6 });
    expect(a.startsWith('fd00:10::')).toBe(true);
    expect((await ipam.blocks())[0].cidr).toMatch(/\/122$/);
    await expect(ipam.autoAssign({ node: 'n1', handleId: 'h4', family: 4 })).rejects.toThrow('no enabled IPv4 pool');
  });

  test('a dual-stack pod takes one turn of the host lock, one read of pools and affinities, no read of its handle', async () => {
    const [store] = await stores({ 'ippools/v4': { cidr: '10.20.0.0/16' }, 'ippools/v6': { cidr: 'fd00:20::/64' } });
    const reads = { pools: 0, affinities: 0, handles: 0 };
    let turns = 0;
    const counting: KeyValueStore = Object.assign(Object.create(store) as KeyValueStore, {
      list: (prefix: string) => {
        if (prefix === CALICO_KEYS.pools) reads.pools++;
        if (prefix.startsWith(CALICO_KEYS.affinities)) reads.affinities++;
        return store.list(prefix);
      },
      get: (key: string) => {
        if (key.startsWith(CALICO_KEYS.handles)) reads.handles++;
        return store.get(key);
      },
    });
    const ipam = new BlockIpam(counting, { hostLock: { run: (fn) => { turns++; return fn(); } } });
    const pod = (handleId: string) => ipam.autoAssignAll([{ node: 'n1', handleId, family: 4 }, { node: 'n1', handleId, family: 6 }]);
    await pod('first'); // claims the node's blocks
    Object.assign(reads, { pools: 0, affinities: 0, handles: 0 });
    turns = 0;
    const [v4, v6] = await pod('h');
    expect({ turns, reads, v4: v4[0].startsWith('10.20.'), v6: v6[0].startsWith('fd00:20::') })
      .toEqual({ turns: 1, reads: { pools: 1, affinities: 1, handles: 0 }, v4: true, v6: true });
    expect((await ipam.addressesOf('h')).sort()).toEqual([...v4, ...v6].sort());
    // the handle records both families, and release by handle frees both
    expect(await ipam.releaseByHandle('h')).toHaveLength(2);
  });
});
