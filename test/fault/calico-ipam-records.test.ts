import { EtcdStore } from '../../lib/dataplane/datastore';
import { BadRecordError } from '../../lib/dataplane/datastore/records';
import { KeyValueStore } from '../../lib/dataplane/datastore/types';
import { BlockIpam, IpamExhaustedError } from '../../lib/dataplane/ipam/block-ipam';
import { blockAllocations, blockName } from '../../lib/dataplane/ipam/block-model';
import { CALICO_ETCD_PREFIX, CALICO_KEYS, prefixedStore } from '../../lib/dataplane/ipam/calico-store';
import { Cidr } from '../../lib/model/cidr';
import { EtcdServer, startEtcd } from '../support/etcd';

/**
 * Issue 14 rows 4–6 at the IPAM level, on a real etcd: a node's IPAM block corrupted in place —
 * rewritten with a CIDR outside its pool (IPAM used to hand out 192.168.77.2 from it), with
 * `allocations: "x"` (ADD used to succeed and rewrite it), or not JSON at all (every ADD failed
 * with a SyntaxError naming no key). Now IPAM allocates elsewhere, never twice, never from the bad
 * block, and leaves the record byte for byte as it was.
 */
const POOL = '10.66.0.0/16';
const CORRUPTIONS: readonly { readonly row: string; readonly value: (good: string) => string; readonly field: string }[] = [
  { row: 'row 4: CIDR outside its pool', value: (good) => JSON.stringify({ ...JSON.parse(good), cidr: '192.168.77.0/26' }), field: 'cidr' },
  { row: 'row 5: allocations "x"', value: (good) => JSON.stringify({ ...JSON.parse(good), allocations: 'x' }), field: 'allocations' },
  { row: 'row 6: not JSON', value: () => '{"cidr": "10.66.', field: 'value' },
];

describe('fault: corrupt Calico IPAM blocks in etcd', () => {
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

  async function cluster(setup: Record<string, unknown>): Promise<{ store: KeyValueStore; ipam: BlockIpam; refused: BadRecordError[] }> {
    const client = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    clients.push(client);
    const store = prefixedStore(client, `/fault${prefix++}${CALICO_ETCD_PREFIX}`);
    for (const [key, value] of Object.entries(setup)) await store.put(key, JSON.stringify(value));
    const refused: BadRecordError[] = [];
    return { store, ipam: new BlockIpam(store, { onBadRecord: (e) => refused.push(e) }), refused };
  }

  /** Every address recorded in a good block. */
  async function recorded(ipam: BlockIpam): Promise<string[]> {
    return (await ipam.blocks(undefined, false)).flatMap((b) => blockAllocations(b).map((a) => a.address));
  }

  for (const corruption of CORRUPTIONS) {
    test(`${corruption.row}: ADD allocates elsewhere, never twice, and leaves the record as it was`, async () => {
      const { store, ipam, refused } = await cluster({ 'ippools/default': { cidr: POOL, blockSize: 26 } });
      const first = await ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.a', family: 4 });
      const [affinity] = await ipam.affinities('n1');
      const key = CALICO_KEYS.blocks + blockName(affinity.spec.cidr);
      const good = (await store.get(key))!.value;
      const bad = corruption.value(good);
      await store.put(key, bad);

      const second = await ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.b', family: 4 });
      const third = await ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.c', family: 4 });

      const corrupt = Cidr.parse(affinity.spec.cidr, 'cidr');
      for (const address of [...second, ...third]) {
        expect(Cidr.parse(POOL, 'pool').containsAddress(address)).toBe(true);
        expect(corrupt.containsAddress(address)).toBe(false);
        expect(address.startsWith('192.168.77.')).toBe(false);
      }
      expect(new Set([...first, ...second, ...third]).size).toBe(3);
      // The new addresses are recorded in a good block, each once.
      const inGoodBlocks = await recorded(ipam);
      expect(inGoodBlocks.sort()).toEqual([...second, ...third].sort());
      expect((await store.get(key))!.value).toBe(bad);
      expect(refused.length).toBeGreaterThanOrEqual(1);
      expect(refused[0]).toMatchObject({ key, field: corruption.field });
      expect(refused[0].message).toMatch(new RegExp(`^${key}: ${corruption.field} .* is not valid; expected `));
    });

    test(`${corruption.row}: DEL of an address in it is refused with the key named; nothing is rewritten`, async () => {
      const { store, ipam } = await cluster({ 'ippools/default': { cidr: POOL, blockSize: 26 } });
      await ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.a', family: 4 });
      const [affinity] = await ipam.affinities('n1');
      const key = CALICO_KEYS.blocks + blockName(affinity.spec.cidr);
      const bad = corruption.value((await store.get(key))!.value);
      await store.put(key, bad);
      const handle = (await store.get(`${CALICO_KEYS.handles}k8s-pod-network.a`))!.value;

      await expect(ipam.releaseByHandle('k8s-pod-network.a')).rejects.toThrow(BadRecordError);
      await expect(ipam.releaseByHandle('k8s-pod-network.a')).rejects.toThrow(`${key}: ${corruption.field} `);
      expect((await store.get(key))!.value).toBe(bad);
      // The handle stays, so the address can still be released once the block is repaired.
      expect((await store.get(`${CALICO_KEYS.handles}k8s-pod-network.a`))!.value).toBe(handle);
    });
  }

  test('when the bad block is the only candidate, ADD fails with its BadRecordError (not exhaustion, not a SyntaxError)', async () => {
    const { store, ipam } = await cluster({
      'ippools/default': { cidr: '10.67.0.0/26', blockSize: 26 },
      [CALICO_KEYS.config]: { strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 0 },
    });
    await ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.a', family: 4 });
    const key = `${CALICO_KEYS.blocks}10-67-0-0-26`;
    await store.put(key, 'not json');
    const error = await ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.b', family: 4 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRecordError);
    expect(error).toMatchObject({ key, field: 'value', message: `${key}: value "not json" is not valid; expected a JSON object` });
    expect((await store.get(key))!.value).toBe('not json');
  });

  test('another node\'s bad block is skipped when borrowing: a full pool is still IpamExhaustedError, not that block\'s error', async () => {
    const { store, ipam, refused } = await cluster({ 'ippools/default': { cidr: '10.68.0.0/26', blockSize: 26 } });
    await ipam.autoAssign({ node: 'n2', handleId: 'k8s-pod-network.a', family: 4 });
    const key = `${CALICO_KEYS.blocks}10-68-0-0-26`;
    await store.put(key, '[]');
    await expect(ipam.autoAssign({ node: 'n1', handleId: 'k8s-pod-network.b', family: 4 })).rejects.toThrow(IpamExhaustedError);
    expect(refused.map((e) => e.message)).toEqual([`${key}: value [] is not valid; expected a JSON object`]);
    expect((await store.get(key))!.value).toBe('[]');
  });
});
