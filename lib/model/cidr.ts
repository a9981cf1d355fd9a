import { Address4, Address6 } from 'ip-address';
import { ValidationError } from './errors';

export type IpFamily = 4 | 6;

/**
 * A parsed, network-aligned CIDR. Address arithmetic is done on BigInt values that come from
 * the `ip-address` library; nothing here parses or formats addresses by hand.
 */
export class Cidr {
  /** Parses `text` (e.g. `10.244.0.0/16`, `fd00:10:244::/56`); throws a ValidationError naming `field`. */
  public static parse(text: string, field: string, family?: IpFamily): Cidr {
    return Cidr.read(text, field, family, false);
  }

  private static read(text: string, field: string, family: IpFamily | undefined, masked: boolean): Cidr {
    const expected = family === 6 ? 'an IPv6 CIDR such as fd00:10:244::/56'
      : family === 4 ? 'an IPv4 CIDR such as 10.244.0.0/16'
        : 'a CIDR such as 10.244.0.0/16 or fd00:10:244::/56';
    if (typeof text !== 'string' || !text.includes('/')) throw new ValidationError(field, text, expected);
    const isV6 = text.includes(':');
    if ((family === 4 && isV6) || (family === 6 && !isV6)) throw new ValidationError(field, text, expected);
    const prefixText = text.slice(text.lastIndexOf('/') + 1);
    if (!/^\d{1,3}$/.test(prefixText)) throw new ValidationError(field, text, expected);
    let address: Address4 | Address6;
    try {
      address = isV6 ? new Address6(text) : new Address4(text);
    } catch {
      throw new ValidationError(field, text, expected);
    }
    const bits = isV6 ? 128 : 32;
    const prefix = Number(prefixText);
    if (prefix > bits) throw new ValidationError(field, text, expected);
    const cidr = new Cidr(isV6 ? 6 : 4, address.bigInt(), prefix);
    if (cidr.network !== address.bigInt() && !masked) {
      throw new ValidationError(field, text, `a network address (host bits zero), e.g. ${cidr.toString()}`);
    }
    return cidr;
  }

  /**
   * Parses `text` as Go's `net.ParseCIDR` reads it, which is how the Kubernetes API server and Calico
   * read a NetworkPolicy's ipBlock: host bits are allowed and cleared (`10.66.0.2/4` is `0.0.0.0/4`).
   */
  public static parseMasked(text: string, field: string, family?: IpFamily): Cidr {
    return Cidr.read(text, field, family, true);
  }

  /** True when `text` parses as a CIDR of the given family. */
  public static isValid(text: string, family?: IpFamily): boolean {
    try {
      Cidr.parse(text, 'cidr', family);
      return true;
    } catch {
      return false;
    }
  }

  public static fromBigInt(family: IpFamily, value: bigint, prefix: number): Cidr {
    return new Cidr(family, value, prefix);
  }

  /** The network address as a BigInt (host bits cleared). */
  public readonly network: bigint;

  private constructor(public readonly family: IpFamily, address: bigint, public readonly prefix: number) {
    const hostBits = BigInt(this.bits - prefix);
    this.network = (address >> hostBits) << hostBits;
  }

  /** Address width of the family: 32 or 128. */
  public get bits(): number {
    return this.family === 6 ? 128 : 32;
  }

  /** Number of addresses in the range. */
  public get size(): bigint {
    return 1n << BigInt(this.bits - this.prefix);
  }

  /** The last address of the range, as a BigInt. */
  public get last(): bigint {
    return this.network + this.size - 1n;
  }

  /** How many subnets of `prefix` length this range holds (0 when `prefix` is shorter). */
  public subnetCount(prefix: number): bigint {
    return prefix < this.prefix ? 0n : 1n << BigInt(prefix - this.prefix);
  }

  /** The `index`-th subnet of the given prefix length inside this range. */
  public subnet(prefix: number, index: bigint): Cidr {
    if (prefix < this.prefix || index < 0n || index >= this.subnetCount(prefix)) {
      throw new RangeError(`subnet /${prefix} #${index} is outside ${this.toString()}`);
    }
    return new Cidr(this.family, this.network + index * (1n << BigInt(this.bits - prefix)), prefix);
  }

  public contains(other: Cidr): boolean {
    return other.family === this.family && other.network >= this.network && other.last <= this.last;
  }

  public containsAddress(address: string): boolean {
    const value = addressToBigInt(address);
    return value !== undefined && (address.includes(':') ? 6 : 4) === this.family
      && value >= this.network && value <= this.last;
  }

  public overlaps(other: Cidr): boolean {
    return other.family === this.family && other.network <= this.last && this.network <= other.last;
  }

  public equals(other: Cidr): boolean {
    return other.family === this.family && other.network === this.network && other.prefix === this.prefix;
  }

  /** The `offset`-th address of the range (0 = network address), as text. */
  public address(offset: bigint = 0n): string {
    return bigIntToAddress(this.family, this.network + offset);
  }

  public toString(): string {
    return `${this.address()}/${this.prefix}`;
  }
}

export function addressToBigInt(address: string): bigint | undefined {
  try {
    return address.includes(':') ? new Address6(address).bigInt() : new Address4(address).bigInt();
  } catch {
    return undefined;
  }
}

export function bigIntToAddress(family: IpFamily, value: bigint): string {
  return family === 6 ? Address6.fromBigInt(value).correctForm() : Address4.fromBigInt(value).address;
}

/** True when `address` is a single valid IP address of the given family (no prefix). */
export function isIpAddress(address: string, family?: IpFamily): boolean {
  if (typeof address !== 'string' || address.includes('/')) return false;
  const isV6 = address.includes(':');
  if ((family === 4 && isV6) || (family === 6 && !isV6)) return false;
  return addressToBigInt(address) !== undefined;
}
