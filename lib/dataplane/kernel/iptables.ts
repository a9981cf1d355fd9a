import { AddressMatch, Family, Rule, RuleChain, RuleSet } from './types';

/**
 * The iptables rendering of a RuleSet, for hosts without nftables: one user chain per RuleChain,
 * named `<SET>-<CHAIN>` in upper case, jumped to from the built-in chain of its hook.
 * `iptables-restore --noflush` declares (and so flushes) our chains and refills them in one commit
 * per table; the built-in chains are only ever given one jump rule each, never flushed.
 */

const TABLE_OF: Record<RuleChain['type'], 'nat' | 'filter'> = { nat: 'nat', filter: 'filter' };
const VERDICT: Record<Rule['verdict'], string> = { accept: 'ACCEPT', drop: 'DROP', return: 'RETURN', masquerade: 'MASQUERADE' };

export function iptablesChainName(set: string, chain: string): string {
  const name = `${set}-${chain}`.toUpperCase();
  if (name.length > 28) throw new Error(`iptables chain name ${name} is longer than 28 characters; use a shorter rule set or chain name`);
  return name;
}

export function iptablesTools(family: Family): { restore: string; save: string } {
  return family === 6 ? { restore: 'ip6tables-restore', save: 'ip6tables-save' } : { restore: 'iptables-restore', save: 'iptables-save' };
}

/** The `iptables-restore --noflush` input that replaces the set's chains; `jumps` lists the jumps already present. */
export function renderIptablesRestore(set: RuleSet, presentJumps: ReadonlySet<string>): string {
  const out: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const chains = set.chains.filter((c) => TABLE_OF[c.type] === table);
    if (!chains.length) continue;
    out.push(`*${table}`);
    for (const chain of chains) out.push(`:${iptablesChainName(set.name, chain.name)} - [0:0]`);
    for (const chain of chains) {
      const name = iptablesChainName(set.name, chain.name);
      for (const rule of chain.rules) out.push(`-A ${name} ${renderRule(rule)}`);
      if (chain.policy === 'drop') out.push(`-A ${name} -j DROP`);
      const jump = `${table} ${chain.hook.toUpperCase()} ${name}`;
      if (!presentJumps.has(jump)) out.push(`-A ${chain.hook.toUpperCase()} -j ${name}`);
    }
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/** Removes our jumps, then flushes and deletes our chains. */
export function renderIptablesDelete(name: string, saved: string): string {
  const prefix = `${name}-`.toUpperCase();
  const out: string[] = [];
  for (const [table, lines] of tablesOf(saved)) {
    const ours = lines.filter((l) => l.startsWith(`:${prefix}`)).map((l) => l.slice(1).split(' ')[0]);
    if (!ours.length) continue;
    out.push(`*${table}`);
    for (const line of lines) {
      const jump = /^-A (\S+) -j (\S+)$/.exec(line);
      if (jump && ours.includes(jump[2]) && !ours.includes(jump[1])) out.push(`-D ${jump[1]} -j ${jump[2]}`);
    }
    for (const chain of ours) out.push(`-F ${chain}`);
    for (const chain of ours) out.push(`-X ${chain}`);
    out.push('COMMIT');
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** Jumps to our chains already in the built-in chains, as `<table> <BUILTIN> <CHAIN>`. */
export function presentJumps(saved: string): Set<string> {
  const jumps = new Set<string>();
  for (const [table, lines] of tablesOf(saved)) {
    for (const line of lines) {
      const m = /^-A (\S+) -j (\S+)$/.exec(line);
      if (m) jumps.add(`${table} ${m[1]} ${m[2]}`);
    }
  }
  return jumps;
}

/** Reads our chains back from `iptables-save` output; undefined when none of them exists. */
export function parseIptablesSave(saved: string, set: { name: string; family: Family; chains?: readonly RuleChain[] }): RuleSet | undefined {
  const prefix = `${set.name}-`.toUpperCase();
  const chains: RuleChain[] = [];
  for (const [table, lines] of tablesOf(saved)) {
    for (const decl of lines.filter((l) => l.startsWith(`:${prefix}`))) {
      const full = decl.slice(1).split(' ')[0];
      const short = full.slice(prefix.length).toLowerCase();
      const hookLine = lines.find((l) => new RegExp(`^-A (\\S+) -j ${full}$`).test(l));
      const hook = (hookLine?.split(' ')[1] ?? '').toLowerCase() as RuleChain['hook'];
      const rules = lines.filter((l) => l.startsWith(`-A ${full} `)).map((l) => parseRule(l.slice(`-A ${full} `.length)));
      const dropAll = rules.length > 0 && isBareDrop(rules[rules.length - 1]);
      chains.push({
        name: short, type: table === 'nat' ? 'nat' : 'filter', hook,
        policy: dropAll ? 'drop' : 'accept', rules: dropAll ? rules.slice(0, -1) : rules,
      });
    }
  }
  if (!chains.length) return undefined;
  // keep the caller's chain order and names (iptables upper-cases them)
  const order = set.chains?.map((c) => c.name) ?? [];
  chains.sort((a, b) => order.indexOf(a.name.toLowerCase()) - order.indexOf(b.name.toLowerCase()));
  return { name: set.name, family: set.family, chains: chains.map((c) => ({ ...c, name: set.chains?.find((d) => d.name.toLowerCase() === c.name)?.name ?? c.name })) };
}

function isBareDrop(rule: Rule): boolean {
  return rule.verdict === 'drop' && !rule.saddr && !rule.daddr && !rule.iifname && !rule.oifname && !rule.mark && !rule.comment;
}

function renderRule(rule: Rule): string {
  const parts: string[] = [];
  const addr = (flag: string, m: AddressMatch) => parts.push(`${m.not ? '! ' : ''}${flag} ${m.cidr}`);
  if (rule.saddr) addr('-s', rule.saddr);
  if (rule.daddr) addr('-d', rule.daddr);
  if (rule.iifname) parts.push(`-i ${rule.iifname}`);
  if (rule.oifname) parts.push(`-o ${rule.oifname}`);
  if (rule.mark) parts.push(`-m mark --mark 0x${rule.mark.value.toString(16)}/0x${rule.mark.mask.toString(16)}`);
  if (rule.comment) parts.push(`-m comment --comment ${JSON.stringify(rule.comment)}`);
  parts.push(`-j ${VERDICT[rule.verdict]}`);
  if (rule.verdict === 'masquerade' && rule.randomFully) parts.push('--random-fully');
  return parts.join(' ');
}

function parseRule(text: string): Rule {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  let rule: { -readonly [K in keyof Rule]: Rule[K] } = { verdict: 'accept' };
  const unknown: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    let not = false;
    if (tokens[i] === '!') {
      not = true;
      i++;
    }
    const t = tokens[i];
    const next = () => tokens[++i] ?? '';
    const cidr = (v: string) => (v.includes('/') ? v : `${v}/${v.includes(':') ? 128 : 32}`);
    if (t === '-s' || t === '-d') {
      const m: AddressMatch = not ? { cidr: cidr(next()), not: true } : { cidr: cidr(next()) };
      rule = t === '-s' ? { ...rule, saddr: m } : { ...rule, daddr: m };
    } else if (t === '-i') rule.iifname = next();
    else if (t === '-o') rule.oifname = next();
    else if (t === '-m') next(); // the match module's own options follow
    else if (t === '--mark') {
      const [value, mask] = next().split('/');
      rule.mark = { value: Number(value), mask: Number(mask ?? '0xffffffff') };
    } else if (t === '--comment') {
      const c = next();
      rule.comment = c.startsWith('"') ? (JSON.parse(c) as string) : c;
    }
    else if (t === '-j') {
      const target = next();
      const verdict = (Object.keys(VERDICT) as Rule['verdict'][]).find((v) => VERDICT[v] === target);
      if (verdict) rule.verdict = verdict;
      else unknown.push(`-j ${target}`);
    } else if (t === '--random-fully') rule.randomFully = true;
    else unknown.push(t);
  }
  return unknown.length ? { ...rule, comment: `unrecognised: ${unknown.join(' ')}` } : rule;
}

function tablesOf(saved: string): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of saved.split('\n')) {
    if (line.startsWith('*')) {
      current = [];
      tables.set(line.slice(1).trim(), current);
    } else if (line === 'COMMIT') current = undefined;
    else if (current && line && !line.startsWith('#')) current.push(line);
  }
  return tables;
}
