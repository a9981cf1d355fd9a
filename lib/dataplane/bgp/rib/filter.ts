import { parsePrefix } from '../wire/address';

/**
 * Calico's BGPFilter (projectcalico.org/v3) rules, evaluated in order: the first rule that
 * matches decides; a route no rule matches is accepted.
 */
export type FilterMatchOperator = 'Equal' | 'NotEqual' | 'In' | 'NotIn';

export interface BgpFilterRule {
  /** @default matches every prefix */
  readonly cidr?: string;
  /** @default 'In' when cidr is set */
  readonly matchOperator?: FilterMatchOperator;
  /** Only with In/NotIn: bounds on the route's prefix length. @default none */
  readonly prefixLength?: { readonly min?: number; readonly max?: number };
  /** 'RemotePeers' matches only routes learned from BGP peers (not this node's own). @default any source */
  readonly source?: 'RemotePeers';
  readonly action: 'Accept' | 'Reject';
}

export interface BgpFilterSpec {
  readonly name: string;
  readonly exportV4?: readonly BgpFilterRule[];
  readonly importV4?: readonly BgpFilterRule[];
  readonly exportV6?: readonly BgpFilterRule[];
  readonly importV6?: readonly BgpFilterRule[];
}

/** Whether `prefix` lies inside `cidr` (equal counts). */
export function prefixWithin(prefix: string, cidr: string): boolean {
  const p = parsePrefix(prefix);
  const c = parsePrefix(cidr);
  if (!p || !c || p.family !== c.family || p.length < c.length) return false;
  for (let bit = 0; bit < c.length; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((p.bytes[byte] & mask) !== (c.bytes[byte] & mask)) return false;
  }
  return true;
}

function ruleMatches(rule: BgpFilterRule, prefix: string, learned: boolean): boolean {
  if (rule.source === 'RemotePeers' && !learned) return false;
  if (rule.cidr === undefined) return true;
  const op = rule.matchOperator ?? 'In';
  const length = parsePrefix(prefix)?.length ?? -1;
  const canonicalCidr = parsePrefix(rule.cidr);
  const equal = canonicalCidr !== undefined && prefixWithin(prefix, rule.cidr) && length === canonicalCidr.length;
  if (op === 'Equal') return equal;
  if (op === 'NotEqual') return !equal;
  const inside = prefixWithin(prefix, rule.cidr)
    && (rule.prefixLength?.min === undefined || length >= rule.prefixLength.min)
    && (rule.prefixLength?.max === undefined || length <= rule.prefixLength.max);
  return op === 'In' ? inside : !inside;
}

/** Applies filters in order (each filter's rules in order); the first matching rule decides. */
export function filterAccepts(
  filters: readonly BgpFilterSpec[], direction: 'import' | 'export', prefix: string, learned: boolean,
): boolean {
  const v6 = prefix.includes(':');
  for (const f of filters) {
    const rules = direction === 'import' ? (v6 ? f.importV6 : f.importV4) : (v6 ? f.exportV6 : f.exportV4);
    for (const rule of rules ?? []) {
      if (ruleMatches(rule, prefix, learned)) return rule.action === 'Accept';
    }
  }
  return true;
}
