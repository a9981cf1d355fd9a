/**
 * The compiled policy as pure data: what the nftables table (or the iptables/ipset fallback) must
 * hold. Nothing here knows about nft syntax; render-nft.ts and render-iptables.ts do.
 */
export type Side = 'source' | 'destination';

export type Match =
  | { readonly kind: 'ct'; readonly states: readonly ('established' | 'related' | 'invalid')[] }
  | { readonly kind: 'family'; readonly family: 4 | 6 }
  | { readonly kind: 'protocol'; readonly protocol: number; readonly not?: true }
  /** Address in a named set (`set`) or in literal CIDRs (`cidrs`). */
  | { readonly kind: 'address'; readonly side: Side; readonly family: 4 | 6; readonly set?: string; readonly cidrs?: readonly string[]; readonly not?: true }
  /** Transport port in numbers / `first-last` ranges; needs a protocol match before it. */
  | { readonly kind: 'port'; readonly side: Side; readonly ports: readonly string[]; readonly not?: true }
  /** (address, protocol, port) in a named-port set. */
  | { readonly kind: 'namedPort'; readonly side: Side; readonly family: 4 | 6; readonly set: string; readonly not?: true }
  | { readonly kind: 'icmp'; readonly family: 4 | 6; readonly type: number; readonly code?: number; readonly not?: true }
  | { readonly kind: 'mark'; readonly bits: number }
  /** (protocol, destination port) pairs, e.g. failsafe ports. */
  | { readonly kind: 'protocolPort'; readonly pairs: readonly { readonly protocol: number; readonly port: number }[] }
  /** Arrived on an interface whose name starts with `prefix` (workload veths: `cali`). */
  | { readonly kind: 'inInterfacePrefix'; readonly prefix: string };

export type Action =
  | { readonly kind: 'accept' | 'drop' | 'return' }
  | { readonly kind: 'jump'; readonly chain: string }
  /** Marks the packet allowed (Allow) and returns to the endpoint chain. */
  | { readonly kind: 'allow' }
  /** Marks the packet passed (Pass: on to the next tier) and returns to the tier's chain. */
  | { readonly kind: 'pass' }
  /** Clears both verdict bits (ALLOW_MARK, PASS_MARK). */
  | { readonly kind: 'clearMark' }
  | { readonly kind: 'log'; readonly prefix: string }
  /** Dispatches to per-endpoint chains through a verdict map keyed by interface or address. */
  | { readonly kind: 'dispatch'; readonly key: DispatchKey; readonly map: string };

export type DispatchKey = 'iifname' | 'oifname' | 'saddr4' | 'daddr4' | 'saddr6' | 'daddr6';

export interface CompiledRule {
  readonly matches: readonly Match[];
  readonly action: Action;
  readonly comment?: string;
}

export interface CompiledChain {
  readonly name: string;
  /** Base chains hook into netfilter; regular chains are jumped to. */
  readonly hook?: 'forward' | 'input';
  readonly rules: readonly CompiledRule[];
}

export type SetType = 'ipv4_addr' | 'ipv6_addr' | 'ipv4_addr . inet_proto . inet_service' | 'ipv6_addr . inet_proto . inet_service';

export interface CompiledSet {
  readonly name: string;
  readonly type: SetType;
  /** Address sets are interval sets (they may hold network-set CIDRs beside pod addresses). */
  readonly interval: boolean;
  /** Sorted, canonical: `10.0.0.1`, `10.1.0.0/16`, `10.0.0.1 . 6 . 80`. */
  readonly elements: readonly string[];
  /** What it holds, for people reading `nft list`. */
  readonly comment: string;
}

export interface CompiledMap {
  readonly name: string;
  readonly keyType: 'ifname' | 'ipv4_addr' | 'ipv6_addr';
  /** key → chain to jump to. */
  readonly elements: Readonly<Record<string, string>>;
}

export interface CompiledRuleSet {
  readonly table: string;
  readonly sets: readonly CompiledSet[];
  readonly maps: readonly CompiledMap[];
  readonly chains: readonly CompiledChain[];
}

/** The mark bit an Allow verdict sets for the endpoint chain (Calico keeps its bits in 0xffff0000 too). */
export const ALLOW_MARK = 0x10000;
/** The mark bit a Pass verdict sets: the rest of the tier is skipped. */
export const PASS_MARK = 0x20000;
/** What `clearMark` keeps of the packet's mark. */
export const VERDICT_MARKS_CLEARED = ~(ALLOW_MARK | PASS_MARK) >>> 0;
