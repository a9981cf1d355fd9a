import { Cidr } from '../../../lib/model/cidr';
import {
  adjustHandle, affinityName, assignFromBlock, blockAllocations, blockName, emptyBlock, freeBlockCandidates, freeCount,
  releaseAddresses, releaseHandle, reservedTest, resolveIpamConfig, resolvePool, whollyReserved,
} from '../../../lib/dataplane/ipam/block-model';

const block26 = () => emptyBlock(Cidr.parse('10.0.0.64/26', 'x'), 'node-a', false);
const none = () => false;

describe('block model', () => {
  test('names follow Calico (dots and slashes become dashes)', () => {
    expect(blockName('10.0.0.64/26')).toBe('10-0-0-64-26');
    expect(blockName('fd00::/122')).toBe('fd00---122');
    expect(affinityName('node-a', '10.0.0.64/26')).toBe('node-a-10-0-0-64-26');
  });

  test('an empty block has every ordinal free and the host affinity', () => {
    const b = block26();
    expect(b.affinity).toBe('host:node-a');
    expect(b.unallocated).toHaveLength(64);
    expect(b.allocations.every((a) => a === null)).toBe(true);
  });

  test('assign takes free ordinals in order, skips reserved ones, and bumps the sequence number', () => {
    const reserved = reservedTest([{ reservedCIDRs: ['10.0.0.64/31'] }]);
    const r = assignFromBlock(block26(), 2, 'net.c1', { node: 'node-a' }, reserved);
    expect(r.addresses).toEqual(['10.0.0.66', '10.0.0.67']);
    expect(r.block.sequenceNumber).toBe(1);
    expect(r.block.attributes).toEqual([{ handle_id: 'net.c1', secondary: { node: 'node-a' } }]);
    expect(freeCount(r.block, reserved)).toBe(60);
  });

  test('release by handle frees only that handle and compacts attributes', () => {
    let b = assignFromBlock(block26(), 1, 'h1', {}, none).block;
    b = assignFromBlock(b, 2, 'h2', {}, none).block;
    b = assignFromBlock(b, 1, 'h3', {}, none).block;
    const r = releaseHandle(b, 'h2');
    expect(r.addresses).toEqual(['10.0.0.65', '10.0.0.66']);
    expect(r.block.attributes.map((a) => a.handle_id)).toEqual(['h1', 'h3']);
    expect(blockAllocations(r.block).map((a) => [a.address, a.handleId])).toEqual([['10.0.0.64', 'h1'], ['10.0.0.67', 'h3']]);
    expect(releaseHandle(r.block, 'h2').addresses).toEqual([]);
    expect(releaseAddresses(r.block, ['10.0.0.67']).addresses).toEqual(['10.0.0.67']);
  });

  test('a full block gives nothing', () => {
    const full = assignFromBlock(block26(), 64, 'h', {}, none);
    expect(full.addresses).toHaveLength(64);
    expect(assignFromBlock(full.block, 1, 'h2', {}, none).addresses).toEqual([]);
  });

  test('free block candidates cover the pool once, skipping taken blocks', () => {
    const pool = resolvePool('p', { cidr: '10.0.0.0/24' });
    const got = [...freeBlockCandidates(pool, new Set(['10.0.0.64/26']), () => 0.6)].map(String);
    expect(got.sort()).toEqual(['10.0.0.0/26', '10.0.0.128/26', '10.0.0.192/26']);
    expect(whollyReserved(Cidr.parse('10.0.0.0/26', 'x'), [{ reservedCIDRs: ['10.0.0.0/25'] }])).toBe(true);
  });

  test('pool and config defaults and errors', () => {
    expect(resolvePool('p', { cidr: 'fd00::/48' }).blockSize).toBe(122);
    expect(() => resolvePool('p', { cidr: '10.0.0.0/16', blockSize: 40 })).toThrow('ippools/p.blockSize: 40 is not valid; expected an integer between 20 and 32');
    expect(() => resolvePool('p', { cidr: '10.0.0.1/16' })).toThrow('ippools/p.cidr');
    expect(resolveIpamConfig(undefined)).toEqual({ strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 20 });
    expect(resolveIpamConfig({ maxBlocksPerHost: 3, strictAffinity: true }).maxBlocksPerHost).toBe(3);
  });

  test('handles count addresses per block', () => {
    let h = adjustHandle(undefined, 'h', '10.0.0.0/26', 2);
    h = adjustHandle(h, 'h', '10.0.0.64/26', 1);
    expect(h.block).toEqual({ '10.0.0.0/26': 2, '10.0.0.64/26': 1 });
    expect(adjustHandle(h, 'h', '10.0.0.0/26', -2).block).toEqual({ '10.0.0.64/26': 1 });
  });
});
