import { Cidr, IpFamily, addressToBigInt } from '../../model/cidr';
import { ValidationError } from '../../model/errors';

/**
 * Calico's IPAM resources (`crd.projectcalico.org/v1` specs, the same JSON in etcd) and the pure
 * allocation logic over them. Nothing here does I/O: `block-ipam.ts` reads, calls these
 * functions and writes back with compare-and-swap.
 */

export type EncapMode = 'Never' | 'Always' | 'CrossSubnet';

/** IPPool spec (the fields the dataplane uses). */
export interface IpPoolSpec {
  readonly cidr: string;
  /** @default 26 (IPv4) / 122 (IPv6) */
  readonly blockSize?: number;
  /** @default 'Never' */
  readonly ipipMode?: EncapMode;
  /** @default 'Never' */
  readonly vxlanMode?: EncapMode;
  /** @default false */
  readonly natOutgoing?: boolean;
  /** @default false */
  readonly disabled?: boolean;
  /** @default all() */
  readonly nodeSelector?: string;
  /** @default ['Workload', 'Tunnel'] */
  readonly allowedUses?: readonly string[];
}

/** An IPPool with its defaults applied and its CIDR parsed. */
export interface Pool {
  readonly name: string;
  readonly cidr: Cidr;
  readonly blockSize: number;
  readonly ipipMode: EncapMode;
  readonly vxlanMode: EncapMode;
  readonly natOutgoing: boolean;
  readonly disabled: boolean;
  readonly nodeSelector: string;
  readonly allowedUses: readonly string[];
}

/** One allocation's owner: `handle_id` plus free-form attributes (node, pod, namespace, type). */
export interface AllocationAttribute {
  readonly handle_id?: string;
  readonly secondary?: Readonly<Record<string, string>>;
}

/** IPAMBlock spec: `allocations[ordinal]` is an index into `attributes`, or null when free. */
export interface IpamBlockSpec {
  readonly cidr: string;
  /** `host:<node>` (or undefined/null for an unaffine block). */
  readonly affinity?: string | null;
  readonly strictAffinity: boolean;
  readonly allocations: readonly (number | null)[];
  readonly unallocated: readonly number[];
  readonly attributes: readonly AllocationAttribute[];
  readonly sequenceNumber?: number;
  readonly deleted: boolean;
}

export type AffinityState = 'pending' | 'confirmed' | 'pendingDeletion';

export interface BlockAffinitySpec {
  readonly node: string;
  readonly cidr: string;
  readonly state: AffinityState;
  readonly deleted: string;
}

/** IPAMHandle spec: how many addresses the handle holds in each block. */
export interface IpamHandleSpec {
  readonly handleID: string;
  readonly block: Readonly<Record<string, number>>;
  readonly deleted: boolean;
}

export interface IpamConfigSpec {
  /** @default false */
  readonly strictAffinity?: boolean;
  /** @default true */
  readonly autoAllocateBlocks?: boolean;
  /** 0 = the safeguard of 20. @default 0 */
  readonly maxBlocksPerHost?: number;
}

export interface IpReservationSpec {
  readonly reservedCIDRs: readonly string[];
}

/** Calico's hard-coded per-host block limit when `maxBlocksPerHost` is 0 (libcalico-go ipam.go). */
export const DEFAULT_MAX_BLOCKS_PER_HOST = 20;

export interface IpamConfig {
  readonly strictAffinity: boolean;
  readonly autoAllocateBlocks: boolean;
  readonly maxBlocksPerHost: number;
}

export function resolveIpamConfig(spec: IpamConfigSpec | undefined): IpamConfig {
  const max = spec?.maxBlocksPerHost ?? 0;
  return {
    strictAffinity: spec?.strictAffinity ?? false,
    autoAllocateBlocks: spec?.autoAllocateBlocks ?? true,
    maxBlocksPerHost: max > 0 ? max : DEFAULT_MAX_BLOCKS_PER_HOST,
  };
}

/** Parses an IPPool spec; a bad field is a ValidationError naming `ippools/<name>.<field>`. */
export function resolvePool(name: string, spec: IpPoolSpec): Pool {
  const field = `ippools/${name}`;
  const cidr = Cidr.parse(spec.cidr, `${field}.cidr`);
  const blockSize = spec.blockSize ?? (cidr.family === 4 ? 26 : 122);
  const [min, max] = cidr.family === 4 ? [20, 32] : [116, 128];
  if (!Number.isInteger(blockSize) || blockSize < Math.max(min, cidr.prefix) || blockSize > max) {
    throw new ValidationError(`${field}.blockSize`, spec.blockSize, `an integer between ${Math.max(min, cidr.prefix)} and ${max}`);
  }
  const mode = (key: 'ipipMode' | 'vxlanMode'): EncapMode => {
    const value = spec[key] ?? 'Never';
    if (!['Never', 'Always', 'CrossSubnet'].includes(value)) throw new ValidationError(`${field}.${key}`, value, 'Never, Always or CrossSubnet');
    return value;
  };
  return {
    name,
    cidr,
    blockSize,
    ipipMode: mode('ipipMode'),
    vxlanMode: mode('vxlanMode'),
    natOutgoing: spec.natOutgoing ?? false,
    disabled: spec.disabled ?? false,
    nodeSelector: spec.nodeSelector ?? 'all()',
    allowedUses: spec.allowedUses ?? ['Workload', 'Tunnel'],
  };
}

/** `10.0.0.64/26` → `10-0-0-64-26` (the IPAMBlock / BlockAffinity name part, as Calico). */
export function blockName(cidr: string): string {
  return cidr.replace(/[.:/]/g, '-');
}

export function affinityName(node: string, cidr: string): string {
  return `${node}-${blockName(cidr)}`;
}

export const hostAffinity = (node: string): string => `host:${node}`;

/** The node a block is affine to, or undefined. */
export function blockHost(block: IpamBlockSpec): string | undefined {
  return block.affinity?.startsWith('host:') ? block.affinity.slice(5) : undefined;
}

export function emptyBlock(cidr: Cidr, node: string | undefined, strictAffinity: boolean): IpamBlockSpec {
  const size = Number(cidr.size);
  return {
    cidr: cidr.toString(),
    affinity: node === undefined ? null : hostAffinity(node),
    strictAffinity,
    allocations: new Array<null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
    attributes: [],
    sequenceNumber: 0,
    deleted: false,
  };
}

/** Decides whether an address is excluded from new allocations (IPReservations). */
export type ReservedTest = (address: string) => boolean;

export function reservedTest(reservations: readonly IpReservationSpec[]): ReservedTest {
  const cidrs = reservations.flatMap((r) => r.reservedCIDRs.map((c) => parseLoose(c)));
  if (!cidrs.length) return () => false;
  return (address) => cidrs.some((c) => c.containsAddress(address));
}

/** True when every address of `cidr` is reserved (such blocks are never claimed). */
export function whollyReserved(cidr: Cidr, reservations: readonly IpReservationSpec[]): boolean {
  return reservations.some((r) => r.reservedCIDRs.some((c) => parseLoose(c).contains(cidr)));
}

/** A reservation may name a host address (`10.0.0.5/32`) or a CIDR with host bits; accept both. */
function parseLoose(text: string): Cidr {
  const [address, prefixText] = text.split('/');
  const family: IpFamily = address.includes(':') ? 6 : 4;
  const prefix = prefixText === undefined ? (family === 4 ? 32 : 128) : Number(prefixText);
  const value = addressToBigInt(address);
  if (value === undefined || !Number.isInteger(prefix)) throw new ValidationError('ipreservations.reservedCIDRs', text, 'a CIDR');
  return Cidr.fromBigInt(family, value, prefix);
}

/**
 * What the block's schema cannot say: its CIDR is a network address and the one its record name
 * stands for; `allocations` has one entry per address, each null or an index into `attributes`;
 * `unallocated` lists free ordinals of the block, each once. With `pools`, the block must also lie
 * inside one of them with that pool's blockSize as its prefix (a block outside every pool is
 * neither allocated from nor routed). Throws a ValidationError whose field is relative to the record.
 */
export function checkBlock(name: string, block: IpamBlockSpec, pools?: readonly Pool[]): void {
  const cidr = Cidr.parse(block.cidr, 'cidr');
  if (blockName(cidr.toString()) !== name) throw new ValidationError('cidr', block.cidr, `the CIDR its name ${name} stands for`);
  const size = Number(cidr.size);
  if (block.allocations.length !== size) {
    throw new ValidationError('allocations.length', block.allocations.length, `${size}, one entry per address of ${cidr}`);
  }
  block.allocations.forEach((a, ordinal) => {
    if (a !== null && a >= block.attributes.length) {
      throw new ValidationError(`allocations[${ordinal}]`, a, block.attributes.length ? `null or an index into attributes (0-${block.attributes.length - 1})` : 'null (attributes is empty)');
    }
  });
  const seen = new Set<number>();
  block.unallocated.forEach((ordinal, i) => {
    const field = `unallocated[${i}]`;
    if (ordinal >= size) throw new ValidationError(field, ordinal, `an ordinal below ${size}`);
    if (seen.has(ordinal)) throw new ValidationError(field, ordinal, 'an ordinal listed once');
    if (block.allocations[ordinal] !== null) throw new ValidationError(field, ordinal, `a free ordinal (allocations[${ordinal}] is ${block.allocations[ordinal]})`);
    seen.add(ordinal);
  });
  if (!pools) return;
  const pool = pools.find((p) => p.cidr.contains(cidr));
  if (!pool) throw new ValidationError('cidr', block.cidr, `a block inside one of the pools (${pools.map((p) => p.cidr.toString()).join(', ') || 'none'})`);
  if (cidr.prefix !== pool.blockSize) throw new ValidationError('cidr', block.cidr, `a /${pool.blockSize} block (blockSize of pool ${pool.name})`);
}

export function ordinalAddress(block: IpamBlockSpec, ordinal: number): string {
  return Cidr.parse(block.cidr, 'ipamblock.cidr').address(BigInt(ordinal));
}

export function addressOrdinal(block: IpamBlockSpec, address: string): number | undefined {
  const cidr = Cidr.parse(block.cidr, 'ipamblock.cidr');
  if (!cidr.containsAddress(address)) return undefined;
  return Number((addressToBigInt(address) ?? 0n) - cidr.network);
}

/** How many new allocations the block can still take (reserved addresses excluded). */
export function freeCount(block: IpamBlockSpec, reserved: ReservedTest): number {
  const cidr = Cidr.parse(block.cidr, 'ipamblock.cidr');
  return block.unallocated.filter((o) => !reserved(cidr.address(BigInt(o)))).length;
}

export interface Assignment {
  readonly block: IpamBlockSpec;
  readonly addresses: readonly string[];
}

/**
 * Takes up to `count` free, unreserved ordinals in free-list order for `handleId`. The returned
 * block has the next sequence number; fewer addresses than asked means the block ran out.
 */
export function assignFromBlock(
  block: IpamBlockSpec, count: number, handleId: string, secondary: Readonly<Record<string, string>>, reserved: ReservedTest,
): Assignment {
  const cidr = Cidr.parse(block.cidr, 'ipamblock.cidr');
  const picked: number[] = [];
  for (const ordinal of block.unallocated) {
    if (picked.length >= count) break;
    if (!reserved(cidr.address(BigInt(ordinal)))) picked.push(ordinal);
  }
  if (!picked.length) return { block, addresses: [] };
  const attributes = [...block.attributes];
  let attrIndex = attributes.findIndex((a) => a.handle_id === handleId && sameRecord(a.secondary, secondary));
  if (attrIndex < 0) {
    attributes.push({ handle_id: handleId, secondary: { ...secondary } });
    attrIndex = attributes.length - 1;
  }
  const allocations = [...block.allocations];
  for (const ordinal of picked) allocations[ordinal] = attrIndex;
  const taken = new Set(picked);
  return {
    block: {
      ...block,
      allocations,
      unallocated: block.unallocated.filter((o) => !taken.has(o)),
      attributes,
      sequenceNumber: (block.sequenceNumber ?? 0) + 1,
    },
    addresses: picked.map((o) => cidr.address(BigInt(o))),
  };
}

export interface Release {
  readonly block: IpamBlockSpec;
  readonly addresses: readonly string[];
}

/** Frees every ordinal matching `owns`, then drops attributes nobody points to any more. */
function releaseWhere(block: IpamBlockSpec, owns: (ordinal: number, attr: AllocationAttribute | undefined) => boolean): Release {
  const cidr = Cidr.parse(block.cidr, 'ipamblock.cidr');
  const freed: number[] = [];
  const allocations = block.allocations.map((attrIndex, ordinal) => {
    if (attrIndex === null || !owns(ordinal, block.attributes[attrIndex])) return attrIndex;
    freed.push(ordinal);
    return null;
  });
  if (!freed.length) return { block, addresses: [] };
  return {
    block: compactAttributes({
      ...block,
      allocations,
      unallocated: [...block.unallocated, ...freed],
      sequenceNumber: (block.sequenceNumber ?? 0) + 1,
    }),
    addresses: freed.map((o) => cidr.address(BigInt(o))),
  };
}

export function releaseHandle(block: IpamBlockSpec, handleId: string): Release {
  return releaseWhere(block, (_o, attr) => attr?.handle_id === handleId);
}

export function releaseAddresses(block: IpamBlockSpec, addresses: readonly string[]): Release {
  const ordinals = new Set(addresses.map((a) => addressOrdinal(block, a)).filter((o): o is number => o !== undefined));
  return releaseWhere(block, (o) => ordinals.has(o));
}

/** Renumbers attributes so that only referenced ones remain (as Calico's block.releaseIPs does). */
function compactAttributes(block: IpamBlockSpec): IpamBlockSpec {
  const used = [...new Set(block.allocations.filter((a): a is number => a !== null))].sort((a, b) => a - b);
  const remap = new Map(used.map((old, i) => [old, i]));
  return {
    ...block,
    attributes: used.map((old) => block.attributes[old]),
    allocations: block.allocations.map((a) => (a === null ? null : remap.get(a) ?? null)),
  };
}

export interface BlockAllocation {
  readonly address: string;
  readonly handleId?: string;
  readonly attributes: Readonly<Record<string, string>>;
}

/** Every allocated address of the block with its owner. */
export function blockAllocations(block: IpamBlockSpec): BlockAllocation[] {
  const cidr = Cidr.parse(block.cidr, 'ipamblock.cidr');
  const out: BlockAllocation[] = [];
  block.allocations.forEach((attrIndex, ordinal) => {
    if (attrIndex === null) return;
    const attr = block.attributes[attrIndex];
    out.push({ address: cidr.address(BigInt(ordinal)), handleId: attr?.handle_id, attributes: attr?.secondary ?? {} });
  });
  return out;
}

export function isEmptyBlock(block: IpamBlockSpec): boolean {
  return block.allocations.every((a) => a === null);
}

/**
 * Candidate blocks of a pool not yet claimed, starting at a random block and wrapping around
 * (Calico's randomBlockGenerator), so racing nodes rarely go for the same block.
 */
export function* freeBlockCandidates(pool: Pool, taken: ReadonlySet<string>, random: () => number): Generator<Cidr> {
  const count = pool.cidr.subnetCount(pool.blockSize);
  const limit = count > 1_000_000n ? 1_000_000n : count;
  const start = BigInt(Math.floor(random() * Number(limit)));
  for (let i = 0n; i < limit; i++) {
    const cidr = pool.cidr.subnet(pool.blockSize, (start + i) % limit);
    if (!taken.has(cidr.toString())) yield cidr;
  }
}

/** Patch helper for handles: adds `delta` addresses in `blockCidr` (removing the entry at 0). */
export function adjustHandle(handle: IpamHandleSpec | undefined, handleId: string, blockCidr: string, delta: number): IpamHandleSpec {
  const block = { ...(handle?.block ?? {}) };
  const next = (block[blockCidr] ?? 0) + delta;
  if (next > 0) block[blockCidr] = next;
  else delete block[blockCidr];
  return { handleID: handleId, block, deleted: false };
}

function sameRecord(a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>>): boolean {
  const x = a ?? {};
  const keys = Object.keys(x);
  return keys.length === Object.keys(b).length && keys.every((k) => x[k] === b[k]);
}
