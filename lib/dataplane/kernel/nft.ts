import { normalizeDst } from './normalize';
import { AddressMatch, Family, Rule, RuleChain, RuleSet } from './types';

const PRIORITY: Record<RuleChain['hook'], string> = {
  postrouting: 'srcnat', prerouting: 'dstnat', forward: 'filter', input: 'filter', output: 'filter',
};

export function nftFamily(family: Family): 'ip' | 'ip6' {
  return family === 6 ? 'ip6' : 'ip';
}

/**
 * An `nft -f` script that creates or replaces the whole table in one transaction: the empty
 * `table` line makes the `delete` valid when the table does not exist yet.
 */
export function renderNftScript(set: RuleSet): string {
  const fam = nftFamily(set.family);
  const lines = [`table ${fam} ${set.name}`, `delete table ${fam} ${set.name}`, `table ${fam} ${set.name} {`];
  for (const chain of set.chains) {
    const priority = chain.type === 'nat' ? PRIORITY[chain.hook] : 'filter';
    lines.push(`  chain ${chain.name} {`);
    lines.push(`    type ${chain.type} hook ${chain.hook} priority ${priority}; policy ${chain.policy ?? 'accept'};`);
    for (const rule of chain.rules) lines.push(`    ${renderRule(rule, fam)}`);
    lines.push('  }');
  }
  lines.push('}');
  return lines.join('\n') + '\n';
}

export function renderDeleteScript(name: string, family: Family): string {
  const fam = nftFamily(family);
  return `table ${fam} ${name}\ndelete table ${fam} ${name}\n`;
}

function renderRule(rule: Rule, fam: 'ip' | 'ip6'): string {
  const parts: string[] = [];
  if (rule.mark) parts.push(`meta mark & 0x${rule.mark.mask.toString(16)} == 0x${rule.mark.value.toString(16)}`);
  if (rule.iifname) parts.push(`iifname ${JSON.stringify(rule.iifname)}`);
  if (rule.oifname) parts.push(`oifname ${JSON.stringify(rule.oifname)}`);
  const match = (field: string, m: AddressMatch) => `${fam} ${field} ${m.not ? '!= ' : ''}${m.cidr}`;
  if (rule.saddr) parts.push(match('saddr', rule.saddr));
  if (rule.daddr) parts.push(match('daddr', rule.daddr));
  parts.push(rule.verdict === 'masquerade' && rule.randomFully ? 'masquerade fully-random' : rule.verdict);
  if (rule.comment) parts.push(`comment ${JSON.stringify(rule.comment)}`);
  return parts.join(' ');
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});

/**
 * Reads back `nft -j list table …` into a RuleSet. Expressions this layer never writes (e.g. a
 * rule someone added by hand) make the rule come back with `verdict` of what it does and a
 * `comment` starting with `unrecognised:`, so a comparison with the desired set fails and the
 * reconciler replaces the table.
 */
export function parseNftJson(text: string, name: string, family: Family): RuleSet | undefined {
  const items = (obj(JSON.parse(text)).nftables as unknown[] | undefined) ?? [];
  const chains: { name: string; type: RuleChain['type']; hook: RuleChain['hook']; policy?: 'accept' | 'drop'; rules: Rule[] }[] = [];
  let found = false;
  for (const item of items) {
    const it = obj(item);
    if (it.table) found = true;
    if (it.chain) {
      const c = obj(it.chain);
      chains.push({
        name: String(c.name),
        type: c.type === 'nat' ? 'nat' : 'filter',
        hook: (c.hook as RuleChain['hook']) ?? 'forward',
        policy: c.policy === 'drop' ? 'drop' : 'accept',
        rules: [],
      });
    }
    if (it.rule) {
      const r = obj(it.rule);
      const chain = chains.find((c) => c.name === r.chain);
      if (chain) chain.rules.push(parseRule(r));
    }
  }
  return found ? { name, family, chains } : undefined;
}

function parseRule(r: Json): Rule {
  let rule: { -readonly [K in keyof Rule]: Rule[K] } = { verdict: 'accept' };
  const unknown: string[] = [];
  for (const e of (r.expr as unknown[] | undefined) ?? []) {
    const expr = obj(e);
    if (expr.match) {
      const m = obj(expr.match);
      const left = obj(m.left);
      const not = m.op === '!=';
      const payload = obj(left.payload);
      const meta = obj(left.meta);
      if (payload.field === 'saddr' || payload.field === 'daddr') {
        const right = m.right;
        const prefix = obj(obj(right).prefix);
        const cidr = typeof right === 'string' ? normalizeDst(right) : `${String(prefix.addr)}/${String(prefix.len)}`;
        rule = { ...rule, [payload.field]: not ? { cidr, not: true } : { cidr } };
      } else if (meta.key === 'iifname' || meta.key === 'oifname') {
        rule = { ...rule, [meta.key]: String(m.right) };
      } else if (Array.isArray(left['&']) && obj(left['&'][0]).meta && obj(obj(left['&'][0]).meta).key === 'mark') {
        rule = { ...rule, mark: { value: Number(m.right), mask: Number(left['&'][1]) } };
      } else {
        unknown.push(JSON.stringify(expr));
      }
    } else if ('accept' in expr || 'drop' in expr || 'return' in expr) {
      rule.verdict = ('accept' in expr ? 'accept' : 'drop' in expr ? 'drop' : 'return');
    } else if ('masquerade' in expr) {
      rule.verdict = 'masquerade';
      const flags = obj(expr.masquerade).flags;
      if (flags === 'fully-random' || (Array.isArray(flags) && flags.includes('fully-random'))) rule.randomFully = true;
    } else if (!('counter' in expr)) {
      unknown.push(JSON.stringify(expr));
    }
  }
  const comment = unknown.length ? `unrecognised: ${unknown.join(' ')}` : typeof r.comment === 'string' ? r.comment : undefined;
  return comment ? { ...rule, comment } : rule;
}

/** Compares rule sets by value (chain order, field order and absent-vs-default differences ignored; rule order matters). */
export function ruleSetsEqual(a: RuleSet | undefined, b: RuleSet | undefined): boolean {
  if (!a || !b) return a === b;
  const canon = (s: RuleSet) => JSON.stringify({
    name: s.name,
    family: s.family,
    chains: [...s.chains].sort((x, y) => x.name.localeCompare(y.name)).map((c) => ({
      name: c.name, type: c.type, hook: c.hook, policy: c.policy ?? 'accept',
      rules: c.rules.map((r) => ({
        saddr: r.saddr ? { cidr: normalizeDst(r.saddr.cidr), not: !!r.saddr.not } : null,
        daddr: r.daddr ? { cidr: normalizeDst(r.daddr.cidr), not: !!r.daddr.not } : null,
        iifname: r.iifname ?? null, oifname: r.oifname ?? null, mark: r.mark ?? null,
        verdict: r.verdict, randomFully: !!r.randomFully, comment: r.comment ?? null,
      })),
    })),
  });
  return canon(a) === canon(b);
}
