import { createHash } from 'crypto';
import { Action, ALLOW_MARK, CompiledChain, CompiledRule, CompiledRuleSet, Match, PASS_MARK, VERDICT_MARKS_CLEARED } from './ruleset';

/**
 * The fallback where nftables is missing: the same compiled rule set as an `ipset restore` payload
 * and one `iptables-restore` payload per family. Selector sets become `hash:net` ipsets, named-port
 * sets `hash:ip,port`, literal CIDR lists anonymous-by-hash `hash:net` sets (iptables matches one
 * address per rule); verdict maps become one dispatch rule per endpoint. It is a full reload each
 * time (the bench compares the nft incremental path against it).
 */
export interface IptablesPayloads {
  readonly ipset: string;
  readonly v4: string;
  readonly v6: string;
}

const PROTO_NAMES: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp', 136: 'udplite', 1: 'icmp', 58: 'ipv6-icmp' };
const hash = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 12);

/** iptables chain names: at most 28 characters. */
export function iptablesChainName(name: string): string {
  if (name === 'forward') return 'cnk-FORWARD';
  if (name === 'input') return 'cnk-INPUT';
  const full = `cnk-${name}`;
  return full.length <= 28 ? full : `cnk-${name.slice(0, 2)}-${hash(name)}`;
}

/** ipset names: at most 31 characters. */
export function ipsetName(name: string): string {
  return `cnk-${name}`.slice(0, 31);
}

/** The fallback's content as data: ipsets with their `ipset add` members, and each family's chains and rules. */
export interface IptablesContent {
  readonly sets: readonly { readonly name: string; readonly type: 'hash:net' | 'hash:ip,port'; readonly family: 'inet' | 'inet6'; readonly members: readonly string[] }[];
  readonly chains: readonly string[];
  readonly rules: Readonly<Record<4 | 6, readonly string[]>>;
}

export function iptablesContent(rs: CompiledRuleSet): IptablesContent {
  const sets: { name: string; type: 'hash:net' | 'hash:ip,port'; family: 'inet' | 'inet6'; members: string[] }[] = rs.sets.map((s) => {
    const named = s.type.includes('inet_service');
    return {
      name: ipsetName(s.name), type: named ? 'hash:ip,port' : 'hash:net', family: s.type.startsWith('ipv6') ? 'inet6' : 'inet',
      members: s.elements.map((e) => {
        if (!named) return e;
        const [ip, proto, port] = e.split(' . ');
        return `${ip},${PROTO_NAMES[Number(proto)] ?? proto}:${port}`;
      }),
    };
  });
  const literal = new Map<string, { family: 4 | 6; cidrs: readonly string[] }>();
  const cidrSet = (family: 4 | 6, cidrs: readonly string[]) => {
    const name = `cnk-c${family}-${hash(cidrs.join(','))}`;
    literal.set(name, { family, cidrs });
    return name;
  };
  const rules = { 4: [] as string[], 6: [] as string[] };
  for (const family of [4, 6] as const) {
    for (const c of rs.chains) for (const r of expandChain(rs, c, family)) {
      const rendered = renderRule(r, family, cidrSet);
      if (rendered) rules[family].push(...rendered.map((x) => `-A ${iptablesChainName(c.name)} ${x}`));
    }
  }
  for (const [name, { family, cidrs }] of literal) sets.push({ name, type: 'hash:net', family: family === 6 ? 'inet6' : 'inet', members: [...cidrs] });
  return { sets, chains: rs.chains.map((c) => iptablesChainName(c.name)), rules };
}

/** Payloads for a fresh namespace: every set, every chain, the jumps from the built-in chains. */
export function renderIptables(rs: CompiledRuleSet): IptablesPayloads {
  const content = iptablesContent(rs);
  const ipset = content.sets.flatMap((s) => [`create ${s.name} ${s.type} family ${s.family} -exist`, `flush ${s.name}`, ...s.members.map((m) => `add ${s.name} ${m}`)]);
  const table = (family: 4 | 6) => ['*filter', ...content.chains.map((c) => `:${c} - [0:0]`), '-A FORWARD -j cnk-FORWARD', '-A INPUT -j cnk-INPUT', ...content.rules[family], 'COMMIT'];
  return { ipset: ipset.join('\n') + '\n', v4: table(4).join('\n') + '\n', v6: table(6).join('\n') + '\n' };
}

/**
 * Payloads that replace what `previous` loaded with `rs` in a namespace others also use: each set
 * refilled through a temporary set and `ipset swap` (never seen empty), our chains refilled by
 * `iptables-restore --noflush` (other chains untouched), chains and sets no longer used removed
 * last. The jumps from FORWARD / INPUT are ensured separately (`iptables -C`, then `-I`).
 */
export function renderIptablesUpdate(rs: CompiledRuleSet, previous?: CompiledRuleSet): IptablesPayloads & { readonly ipsetCleanup: string } {
  const now = iptablesContent(rs);
  const before = previous ? iptablesContent(previous) : { sets: [], chains: [], rules: { 4: [], 6: [] } };
  const ipset = now.sets.flatMap((s) => {
    const tmp = `${s.name.slice(0, 29)}-t`;
    return [`create ${tmp} ${s.type} family ${s.family} -exist`, `flush ${tmp}`, ...s.members.map((m) => `add ${tmp} ${m}`),
      `create ${s.name} ${s.type} family ${s.family} -exist`, `swap ${tmp} ${s.name}`, `destroy ${tmp}`];
  });
  const staleChains = before.chains.filter((c) => !now.chains.includes(c));
  const table = (family: 4 | 6) => ['*filter', ...[...now.chains, ...staleChains].map((c) => `:${c} - [0:0]`), ...now.rules[family], ...staleChains.map((c) => `-X ${c}`), 'COMMIT'];
  const staleSets = before.sets.filter((s) => !now.sets.some((n) => n.name === s.name));
  return {
    ipset: ipset.join('\n') + '\n', v4: table(4).join('\n') + '\n', v6: table(6).join('\n') + '\n',
    ipsetCleanup: staleSets.map((s) => `destroy ${s.name}`).join('\n') + (staleSets.length ? '\n' : ''),
  };
}

interface DispatchMatch {
  readonly kind: 'dispatch-key';
  readonly key: string;
  readonly value: string;
}
type IptMatch = Exclude<Match, { kind: 'protocolPort' }> | DispatchMatch;
interface IptRule {
  readonly matches: readonly IptMatch[];
  readonly action: Action;
}

/**
 * Dispatch rules become one rule per map element (iptables has no verdict maps); a
 * (protocol, port) pair list becomes one multiport rule per protocol.
 */
function expandChain(rs: CompiledRuleSet, c: CompiledChain, family: 4 | 6): IptRule[] {
  return c.rules.flatMap((r: CompiledRule): IptRule[] => {
    if (r.action.kind === 'dispatch') {
      const { key, map } = r.action;
      const m = rs.maps.find((x) => x.name === map);
      if (!m || (key.endsWith('4') && family !== 4) || (key.endsWith('6') && family !== 6)) return [];
      return Object.entries(m.elements).sort().map(([k, chain]) => ({ matches: [{ kind: 'dispatch-key', key, value: k }], action: { kind: 'jump', chain } }));
    }
    const pp = r.matches.find((m) => m.kind === 'protocolPort');
    const rest = r.matches.filter((m): m is Exclude<Match, { kind: 'protocolPort' }> => m.kind !== 'protocolPort');
    if (!pp || pp.kind !== 'protocolPort') return splitPorts({ matches: rest, action: r.action });
    const byProto = new Map<number, string[]>();
    for (const p of pp.pairs) byProto.set(p.protocol, [...(byProto.get(p.protocol) ?? []), String(p.port)]);
    return [...byProto].map(([protocol, ports]) => ({
      matches: [...rest, { kind: 'protocol', protocol }, { kind: 'port', side: 'destination', ports }], action: r.action,
    }));
  });
}

/**
 * `multiport` takes 15 slots (a range takes 2): a longer positive list becomes several rules (OR),
 * a longer negated list several matches in one rule (AND of negations).
 */
const PORT_CHUNK = 7;
function chunks<T>(list: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += PORT_CHUNK) out.push(list.slice(i, i + PORT_CHUNK));
  return out;
}
function splitPorts(rule: IptRule): IptRule[] {
  let variants: IptMatch[][] = [[]];
  for (const m of rule.matches) {
    if (m.kind !== 'port' || m.ports.length <= PORT_CHUNK) variants = variants.map((v) => [...v, m]);
    else if (m.not) variants = variants.map((v) => [...v, ...chunks(m.ports).map((ports): IptMatch => ({ ...m, ports }))]);
    else variants = variants.flatMap((v) => chunks(m.ports).map((ports) => [...v, { ...m, ports }]));
  }
  return variants.map((matches) => ({ matches, action: rule.action }));
}

function renderRule(r: IptRule, family: 4 | 6, cidrSet: (f: 4 | 6, c: readonly string[]) => string): string[] | undefined {
  const parts: string[] = [];
  for (const m of r.matches) {
    const text = renderMatch(m, family, cidrSet);
    if (text === undefined) return undefined; // another family's rule
    if (text) parts.push(text);
  }
  const m = parts.join(' ');
  const j = (a: string) => (m ? `${m} ${a}` : a);
  const a: Action = r.action;
  switch (a.kind) {
    case 'accept': return [j('-j ACCEPT')];
    case 'drop': return [j('-j DROP')];
    case 'return': return [j('-j RETURN')];
    case 'jump': return [j(`-j ${iptablesChainName(a.chain)}`)];
    case 'allow': return [j(`-j MARK --or-mark 0x${ALLOW_MARK.toString(16)}`), j(`-m mark --mark 0x${ALLOW_MARK.toString(16)}/0x${ALLOW_MARK.toString(16)} -j RETURN`)];
    case 'pass': return [j(`-j MARK --or-mark 0x${PASS_MARK.toString(16)}`), j(`-m mark --mark 0x${PASS_MARK.toString(16)}/0x${PASS_MARK.toString(16)} -j RETURN`)];
    case 'clearMark': return [j(`-j MARK --and-mark 0x${VERDICT_MARKS_CLEARED.toString(16)}`)];
    case 'log': return [j(`-j LOG --log-prefix ${JSON.stringify(a.prefix.slice(0, 29))}`)];
    case 'dispatch': return undefined;
  }
}

function renderMatch(m: IptMatch, family: 4 | 6, cidrSet: (f: 4 | 6, c: readonly string[]) => string): string | undefined {
  const not = (n: true | undefined) => (n ? '! ' : '');
  const dir = (side: 'source' | 'destination') => (side === 'source' ? 'src' : 'dst');
  switch (m.kind) {
    case 'dispatch-key':
      return m.key === 'iifname' ? `-i ${m.value}` : m.key === 'oifname' ? `-o ${m.value}` : `${m.key.startsWith('saddr') ? '-s' : '-d'} ${m.value}`;
    case 'ct': return `-m conntrack --ctstate ${m.states.map((s) => s.toUpperCase()).join(',')}`;
    case 'family': return m.family === family ? '' : undefined;
    case 'protocol': return `${not(m.not)}-p ${PROTO_NAMES[m.protocol] ?? m.protocol}`;
    case 'address':
      if (m.family !== family) return undefined;
      return `-m set ${not(m.not)}--match-set ${m.set !== undefined ? ipsetName(m.set) : cidrSet(family, m.cidrs ?? [])} ${dir(m.side)}`;
    case 'port': return `-m multiport ${not(m.not)}--${m.side === 'source' ? 's' : 'd'}ports ${m.ports.map((p) => p.replace('-', ':')).join(',')}`;
    case 'namedPort':
      if (m.family !== family) return undefined;
      return `-m set ${not(m.not)}--match-set ${ipsetName(m.set)} ${dir(m.side)},${dir(m.side)}`;
    case 'icmp':
      if (m.family !== family) return undefined;
      return family === 4 ? `-m icmp ${not(m.not)}--icmp-type ${m.type}${m.code !== undefined ? `/${m.code}` : ''}`
        : `-m icmp6 ${not(m.not)}--icmpv6-type ${m.type}${m.code !== undefined ? `/${m.code}` : ''}`;
    case 'mark': return `-m mark --mark 0x${m.bits.toString(16)}/0x${m.bits.toString(16)}`;
    case 'inInterfacePrefix': return `-i ${m.prefix}+`;
  }
}
