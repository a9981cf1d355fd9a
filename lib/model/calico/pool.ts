import { Cidr, IpFamily } from '../cidr';
import { checkKnownKeys } from '../checks';
import { ValidationError } from '../errors';
import { Selector } from './selector';
import { parseSelector } from './selector-parser';

/** When a pool's traffic between nodes is encapsulated (`ipipMode` / `vxlanMode`). */
export enum EncapsulationMode {
  /** Never encapsulate: pod routes are plain routes (BGP or host routes). */
  NEVER = 'Never',
  /** Always encapsulate. */
  ALWAYS = 'Always',
  /** Encapsulate only towards nodes in another IP subnet. */
  CROSS_SUBNET = 'CrossSubnet',
}

/** What addresses of a pool may be used for (`allowedUses`). */
export enum PoolUse {
  WORKLOAD = 'Workload',
  TUNNEL = 'Tunnel',
  LOAD_BALANCER = 'LoadBalancer',
}

/** One IP pool, as a user writes it. */
export interface IpPoolSpec {
  /** Resource name, e.g. `default-ipv4-ippool`. */
  readonly name: string;
  /** The pool's range; a network address. Immutable once created. */
  readonly cidr: string;
  /**
   * Prefix length of the per-node blocks carved from the pool.
   * @default 26 for IPv4 (20–32 allowed), 122 for IPv6 (116–128 allowed)
   */
  readonly blockSize?: number;
  /** @default EncapsulationMode.NEVER */
  readonly ipipMode?: EncapsulationMode;
  /** @default EncapsulationMode.NEVER */
  readonly vxlanMode?: EncapsulationMode;
  /**
   * Masquerade traffic from pods to destinations outside every pool.
   * @default true for IPv4, false for IPv6 (as upstream)
   */
  readonly natOutgoing?: boolean;
  /**
   * Which nodes may take blocks from this pool.
   * @default Selector.all()
   */
  readonly nodeSelector?: Selector | string;
  /** No new addresses are handed out from a disabled pool. @default false */
  readonly disabled?: boolean;
  /** Keep the pool's routes out of BGP. @default false */
  readonly disableBgpExport?: boolean;
  /** @default [PoolUse.WORKLOAD, PoolUse.TUNNEL] */
  readonly allowedUses?: readonly PoolUse[];
}

/** A pool with every default applied and every field checked. */
export interface ResolvedIpPool {
  readonly name: string;
  readonly cidr: Cidr;
  readonly family: IpFamily;
  readonly blockSize: number;
  readonly ipipMode: EncapsulationMode;
  readonly vxlanMode: EncapsulationMode;
  readonly natOutgoing: boolean;
  readonly nodeSelector: Selector;
  readonly disabled: boolean;
  readonly disableBgpExport: boolean;
  readonly allowedUses: readonly PoolUse[];
}

const POOL_KEYS: Record<keyof IpPoolSpec, true> = {
  name: true, cidr: true, blockSize: true, ipipMode: true, vxlanMode: true, natOutgoing: true,
  nodeSelector: true, disabled: true, disableBgpExport: true, allowedUses: true,
};

export const BLOCK_SIZE = {
  4: { min: 20, max: 32, default: 26 },
  6: { min: 116, max: 128, default: 122 },
} as const;

const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Checks a Kubernetes object name (DNS subdomain). */
export function checkObjectName(field: string, name: string): string {
  if (typeof name !== 'string' || name.length > 253 || !DNS_NAME.test(name)) {
    throw new ValidationError(field, name, 'a lower-case DNS subdomain name such as default-ipv4-ippool');
  }
  return name;
}

/** Accepts a selector object or its text; text is parsed so a typo fails here, not on the node. */
export function toSelector(field: string, value: Selector | string | undefined, fallback: Selector): Selector {
  if (value === undefined) return fallback;
  return typeof value === 'string' ? parseSelector(value, field) : value;
}

function checkEnum<T extends string>(field: string, value: T | undefined, values: Record<string, T>, fallback: T): T {
  if (value === undefined) return fallback;
  const allowed = Object.values(values);
  if (!allowed.includes(value)) throw new ValidationError(field, value, `one of ${allowed.join(', ')}`);
  return value;
}

/** Applies defaults to one pool and validates it on its own. */
export function resolvePool(spec: IpPoolSpec, field: string): ResolvedIpPool {
  checkKnownKeys(field, spec, Object.keys(POOL_KEYS), 'an IP pool');
  const name = checkObjectName(`${field}.name`, spec.name);
  const cidr = Cidr.parse(spec.cidr, `${field}.cidr`);
  const family = cidr.family;
  const bounds = BLOCK_SIZE[family];
  const blockSize = spec.blockSize ?? bounds.default;
  if (!Number.isInteger(blockSize) || blockSize < bounds.min || blockSize > bounds.max) {
    throw new ValidationError(`${field}.blockSize`, blockSize,
      `an integer from ${bounds.min} to ${bounds.max} for an IPv${family} pool`);
  }
  if (blockSize < cidr.prefix) {
    throw new ValidationError(`${field}.blockSize`, blockSize,
      `a block no larger than the pool ${cidr.toString()} (at least /${cidr.prefix})`);
  }
  const ipipMode = checkEnum(`${field}.ipipMode`, spec.ipipMode, EncapsulationMode, EncapsulationMode.NEVER);
  const vxlanMode = checkEnum(`${field}.vxlanMode`, spec.vxlanMode, EncapsulationMode, EncapsulationMode.NEVER);
  if (ipipMode !== EncapsulationMode.NEVER && vxlanMode !== EncapsulationMode.NEVER) {
    throw new ValidationError(`${field}.vxlanMode`, vxlanMode,
      `Never when ipipMode is ${ipipMode} (a pool uses IPIP or VXLAN, not both)`);
  }
  if (family === 6 && ipipMode !== EncapsulationMode.NEVER) {
    throw new ValidationError(`${field}.ipipMode`, ipipMode, 'Never for an IPv6 pool (IPIP carries IPv4 only)');
  }
  const allowedUses = spec.allowedUses ?? [PoolUse.WORKLOAD, PoolUse.TUNNEL];
  if (allowedUses.length === 0) throw new ValidationError(`${field}.allowedUses`, allowedUses, 'at least one use');
  allowedUses.forEach((u, i) => checkEnum(`${field}.allowedUses[${i}]`, u, PoolUse, PoolUse.WORKLOAD));
  if (allowedUses.includes(PoolUse.LOAD_BALANCER)) {
    if (allowedUses.length > 1) {
      throw new ValidationError(`${field}.allowedUses`, allowedUses, 'LoadBalancer on its own (it excludes Workload and Tunnel)');
    }
    if (ipipMode !== EncapsulationMode.NEVER || vxlanMode !== EncapsulationMode.NEVER) {
      throw new ValidationError(`${field}.allowedUses`, allowedUses, 'no encapsulation on a LoadBalancer pool');
    }
  }
  return {
    name,
    cidr,
    family,
    blockSize,
    ipipMode,
    vxlanMode,
    natOutgoing: spec.natOutgoing ?? family === 4,
    nodeSelector: toSelector(`${field}.nodeSelector`, spec.nodeSelector, Selector.all()),
    disabled: spec.disabled ?? false,
    disableBgpExport: spec.disableBgpExport ?? false,
    allowedUses: [...allowedUses],
  };
}

/**
 * Resolves every pool and checks them together: unique names, no overlap between pools,
 * no overlap with the service networks.
 */
export function resolvePools(specs: readonly IpPoolSpec[], field: string, serviceNetworks: readonly Cidr[]): ResolvedIpPool[] {
  if (specs.length === 0) throw new ValidationError(field, [], 'at least one IP pool');
  const pools = specs.map((spec, i) => resolvePool(spec, `${field}[${i}]`));
  pools.forEach((pool, i) => {
    for (let j = 0; j < i; j++) {
      const other = pools[j];
      if (other.name === pool.name) {
        throw new ValidationError(`${field}[${i}].name`, pool.name, `a name not already used by ${field}[${j}]`);
      }
      if (other.cidr.overlaps(pool.cidr)) {
        throw new ValidationError(`${field}[${i}].cidr`, pool.cidr.toString(),
          `a range that does not overlap ${field}[${j}] (${other.name}, ${other.cidr.toString()})`);
      }
    }
    for (const service of serviceNetworks) {
      if (service.overlaps(pool.cidr)) {
        throw new ValidationError(`${field}[${i}].cidr`, pool.cidr.toString(),
          `a range that does not overlap the service network ${service.toString()}`);
      }
    }
  });
  return pools;
}

/** Kubernetes-safe name of an IPAM block: `10.244.3.0/26` → `10-244-3-0-26` (as Calico names IPAMBlocks). */
export function blockName(block: Cidr): string {
  return block.toString().replace(/[.:/]/g, '-');
}
