import {
  decodeAffinity, decodeBlock, decodeCalicoNode, decodeHandle, decodeIpamConfig, decodePool, decodeReservation,
} from '../../../lib/dataplane/datastore/calico-records';
import { BadRecordError, RecordReader } from '../../../lib/dataplane/datastore/records';
import { readClusterBgpConfig } from '../../../lib/dataplane/bgp/datastore-config';
import { KeyValue, KeyValueStore, ListResult } from '../../../lib/dataplane/datastore/types';
import { emptyBlock } from '../../../lib/dataplane/ipam/block-model';
import { Cidr } from '../../../lib/model/cidr';

const rec = (key: string, value: unknown): { key: string; value: string } => ({ key, value: typeof value === 'string' ? value : JSON.stringify(value) });
const error = (f: () => unknown): BadRecordError => {
  try {
    f();
  } catch (e) {
    if (e instanceof BadRecordError) return e;
    throw e;
  }
  throw new Error('no error');
};

const pool = decodePool(rec('ippools/p', { cidr: '10.66.0.0/16', blockSize: 26 }));
const good = emptyBlock(Cidr.parse('10.66.1.0/26', 'cidr'), 'n1', false);
const KEY = 'ipamblocks/10-66-1-0-26';

describe('decodeBlock', () => {
  it('accepts a consistent block, with and without the pool check', () => {
    expect(decodeBlock(rec(KEY, good), [pool])).toEqual(good);
    const allocated = { ...good, allocations: [0, ...good.allocations.slice(1)], unallocated: good.unallocated.slice(1), attributes: [{ handle_id: 'h', secondary: { node: 'n1' } }] };
    expect(decodeBlock(rec(KEY, allocated))).toEqual(allocated);
  });

  it.each([
    ['a CIDR its name does not stand for', { ...good, cidr: '10.66.2.0/26' }, 'cidr', 'the CIDR its name 10-66-1-0-26 stands for'],
    ['a CIDR with host bits', { ...good, cidr: '10.66.1.1/26' }, 'cidr', 'a network address (host bits zero), e.g. 10.66.1.0/26'],
    ['too few allocations', { ...good, allocations: [], unallocated: [] }, 'allocations.length', '64, one entry per address of 10.66.1.0/26'],
    ['an allocation past the attributes', { ...good, allocations: [3, ...good.allocations.slice(1)], unallocated: good.unallocated.slice(1) }, 'allocations[0]', 'null (attributes is empty)'],
    ['a free ordinal out of range', { ...good, unallocated: [...good.unallocated, 64] }, 'unallocated[64]', 'an ordinal below 64'],
    ['a free ordinal twice', { ...good, unallocated: [...good.unallocated, 5] }, 'unallocated[64]', 'an ordinal listed once'],
    ['a free ordinal that is allocated', {
      ...good, allocations: [0, ...good.allocations.slice(1)], attributes: [{ handle_id: 'h' }],
    }, 'unallocated[0]', 'a free ordinal (allocations[0] is 0)'],
    ['allocations "x"', { ...good, allocations: 'x' }, 'allocations', 'an array'],
    ['a negative allocation', { ...good, allocations: [-1] }, 'allocations[0]', 'a number >= 0'],
    ['no strictAffinity', { ...good, strictAffinity: undefined }, 'strictAffinity', 'a value (the field is required)'],
  ])('refuses %s', (_what, block, field, expected) => {
    expect(error(() => decodeBlock(rec(KEY, block)))).toMatchObject({ key: KEY, field, expected });
  });

  it('with pools: refuses a block outside every pool, or not of its pool\'s blockSize', () => {
    const outside = emptyBlock(Cidr.parse('192.168.77.0/26', 'cidr'), 'n1', false);
    expect(error(() => decodeBlock(rec('ipamblocks/192-168-77-0-26', outside), [pool])).message)
      .toBe('ipamblocks/192-168-77-0-26: cidr "192.168.77.0/26" is not valid; expected a block inside one of the pools (10.66.0.0/16)');
    const small = emptyBlock(Cidr.parse('10.66.1.0/27', 'cidr'), 'n1', false);
    expect(error(() => decodeBlock(rec('ipamblocks/10-66-1-0-27', small), [pool])).expected).toBe('a /26 block (blockSize of pool p)');
    // Without pools (release paths): a block whose pool was deleted can still be released into.
    expect(decodeBlock(rec('ipamblocks/192-168-77-0-26', outside))).toEqual(outside);
  });
});

describe('the other Calico IPAM records', () => {
  it('IPPool: schema, then the model (field relative to the record)', () => {
    expect(pool).toMatchObject({ name: 'p', blockSize: 26 });
    expect(error(() => decodePool(rec('ippools/q', { cidr: '10.0.0.0/16', vxlanMode: 'Sometimes' }))).field).toBe('vxlanMode');
    expect(error(() => decodePool(rec('ippools/q', { cidr: '10.0.0.0/16', blockSize: 12 }))).message)
      .toBe('ippools/q: blockSize 12 is not valid; expected a number >= 20');
    expect(error(() => decodePool(rec('ippools/q', { cidr: '10.0.0.0/16', blockSize: 21.5 }))).field).toBe('blockSize');
    expect(error(() => decodePool(rec('ippools/q', { cidr: '10.0.0.0/24', blockSize: 22 }))).message)
      .toBe('ippools/q: blockSize 22 is not valid; expected an integer between 24 and 32');
  });

  it('BlockAffinity: its CIDR parses', () => {
    expect(error(() => decodeAffinity(rec('blockaffinities/n1-x', { node: 'n1', cidr: '10.66.1.0/99', state: 'confirmed', deleted: 'false' }))))
      .toMatchObject({ key: 'blockaffinities/n1-x', field: 'cidr' });
    expect(error(() => decodeAffinity(rec('blockaffinities/n1-x', { node: 'n1', cidr: '10.66.1.0/26', state: 'mine', deleted: 'false' }))).field).toBe('state');
  });

  it('IPAMHandle: block keys are CIDRs, counts non-negative integers', () => {
    expect(error(() => decodeHandle(rec('ipamhandles/h', { handleID: 'h', block: { nonsense: 1 } }))).field).toBe('block["nonsense"]');
    expect(error(() => decodeHandle(rec('ipamhandles/h', { handleID: 'h', block: { '10.66.1.0/26': -1 } }))).field).toBe('block["10.66.1.0/26"]');
  });

  it('IPAMConfig: required fields as the CRD says; IPReservation: CIDRs', () => {
    expect(decodeIpamConfig(rec('ipamconfigs/default', { strictAffinity: true, autoAllocateBlocks: true }))).toMatchObject({ strictAffinity: true, maxBlocksPerHost: 20 });
    expect(error(() => decodeIpamConfig(rec('ipamconfigs/default', { strictAffinity: 'yes', autoAllocateBlocks: true }))).field).toBe('strictAffinity');
    expect(error(() => decodeReservation(rec('ipreservations/r', { reservedCIDRs: ['10.0.0.0/8', 'ten'] }))).message)
      .toBe('ipreservations/r: reservedCIDRs "ten" is not valid; expected a CIDR');
  });

  it('Calico Node: addresses and MACs', () => {
    expect(decodeCalicoNode(rec('nodes/a', { bgp: { ipv4Address: '10.0.0.1/24' }, vxlanTunnelMACAddr: '66:00:00:00:00:01' }))).toBeDefined();
    expect(error(() => decodeCalicoNode(rec('nodes/a', { bgp: { ipv4Address: '10.0.0.300/24' } }))).field).toBe('bgp.ipv4Address');
    expect(error(() => decodeCalicoNode(rec('nodes/a', { ipv4VXLANTunnelAddr: '10.0.0.1/32' }))).field).toBe('ipv4VXLANTunnelAddr');
    expect(error(() => decodeCalicoNode(rec('nodes/a', { vxlanTunnelMACAddr: 'zz' }))).field).toBe('vxlanTunnelMACAddr');
    expect(error(() => decodeCalicoNode(rec('nodes/a', { labels: { a: 1 } }))).field).toBe('labels.a');
  });
});

/** Only what readClusterBgpConfig reads: get and list over a fixed set of records. */
function readOnlyStore(records: Record<string, string>, revision: string): KeyValueStore {
  const kv = (key: string): KeyValue => ({ key, value: records[key], revision, expires: false });
  const unsupported = () => {
    throw new Error('not in this test');
  };
  return {
    kind: 'test',
    get: async (key) => (key in records ? kv(key) : undefined),
    list: async (prefix): Promise<ListResult> => ({ items: Object.keys(records).filter((k) => k.startsWith(prefix)).sort().map(kv), revision }),
    put: unsupported, create: unsupported, update: unsupported, delete: unsupported, watch: unsupported, close: async () => undefined,
  };
}

describe('BGP records', () => {
  it('a BGPPeer corrupted in place keeps its last good version; the refusal is reported once', async () => {
    const reports: string[] = [];
    const records = new RecordReader((e, standIn) => reports.push(`${standIn}: ${e.message}`));
    const tor = JSON.stringify({ peerIP: '192.0.2.1', asNumber: 65000 });
    const first = await readClusterBgpConfig(readOnlyStore({ 'bgppeers/tor': tor }, '1'), records);
    expect(first.cluster.peers?.map((p) => p.peerIp)).toEqual(['192.0.2.1']);
    const broken = readOnlyStore({ 'bgppeers/tor': JSON.stringify({ peerIP: '192.0.2.1', asNumber: 99999999999 }) }, '2');
    for (let pass = 0; pass < 3; pass++) {
      const again = await readClusterBgpConfig(broken, records);
      expect(again.cluster.peers?.map((p) => p.peerIp)).toEqual(['192.0.2.1']);
    }
    expect(reports).toEqual(['true: bgppeers/tor: asNumber 99999999999 is not valid; expected a number <= 4294967295']);
  });

  it('a BGPConfiguration that fails its schema is not read as the defaults', async () => {
    const records = new RecordReader(() => undefined);
    const config = { 'bgpconfigurations/default': JSON.stringify({ asNumber: 64600, nodeToNodeMeshEnabled: false }) };
    await readClusterBgpConfig(readOnlyStore(config, '1'), records);
    const bad = { 'bgpconfigurations/default': JSON.stringify({ asNumber: 64600, nodeToNodeMeshEnabled: 'no' }) };
    const read = await readClusterBgpConfig(readOnlyStore(bad, '2'), records);
    expect(read.cluster).toMatchObject({ asNumber: 64600, nodeToNodeMeshEnabled: false });
  });
});
