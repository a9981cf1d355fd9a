import { Action, ALLOW_MARK, CompiledChain, CompiledMap, CompiledRule, CompiledRuleSet, CompiledSet, Match, PASS_MARK, VERDICT_MARKS_CLEARED } from './ruleset';

const FAMILY = 'inet';
const hex = (n: number) => `0x${n.toString(16)}`;
const addr = (family: 4 | 6) => (family === 4 ? 'ip' : 'ip6');
const field = (side: 'source' | 'destination') => (side === 'source' ? 'saddr' : 'daddr');
const portField = (side: 'source' | 'destination') => (side === 'source' ? 'sport' : 'dport');
const anon = (items: readonly string[]) => (items.length === 1 ? items[0] : `{ ${items.join(', ')} }`);
const neg = (not: true | undefined) => (not ? '!= ' : '');

function renderMatch(m: Match): string {
  switch (m.kind) {
    case 'ct': return `ct state ${m.states.join(',')}`;
    case 'family': return `meta nfproto ${m.family === 4 ? 'ipv4' : 'ipv6'}`;
    case 'protocol': return `meta l4proto ${neg(m.not)}${m.protocol}`;
    case 'address':
      return `${addr(m.family)} ${field(m.side)} ${neg(m.not)}${m.set !== undefined ? `@${m.set}` : anon(m.cidrs ?? [])}`;
    case 'port': return `th ${portField(m.side)} ${neg(m.not)}${anon(m.ports)}`;
    case 'namedPort': return `${addr(m.family)} ${field(m.side)} . meta l4proto . th ${portField(m.side)} ${neg(m.not)}@${m.set}`;
    case 'icmp': {
      const proto = m.family === 4 ? 'icmp' : 'icmpv6';
      if (m.code === undefined) return `${proto} type ${neg(m.not)}${m.type}`;
      return m.not ? `${proto} type . ${proto} code != { ${m.type} . ${m.code} }` : `${proto} type ${m.type} ${proto} code ${m.code}`;
    }
    case 'mark': return `meta mark & ${hex(m.bits)} == ${hex(m.bits)}`;
    case 'protocolPort': return `meta l4proto . th dport { ${m.pairs.map((p) => `${p.protocol} . ${p.port}`).join(', ')} }`;
    case 'inInterfacePrefix': return `iifname ${JSON.stringify(`${m.prefix}*`)}`;
  }
}

function renderAction(a: Action): string {
  switch (a.kind) {
    case 'accept': case 'drop': case 'return': return a.kind;
    case 'jump': return `jump ${a.chain}`;
    case 'allow': return `meta mark set meta mark | ${hex(ALLOW_MARK)} return`;
    case 'pass': return `meta mark set meta mark | ${hex(PASS_MARK)} return`;
    case 'clearMark': return `meta mark set meta mark & ${hex(VERDICT_MARKS_CLEARED)}`;
    case 'log': return `log prefix ${JSON.stringify(a.prefix)}`;
    case 'dispatch': {
      const key = a.key === 'iifname' || a.key === 'oifname' ? a.key : `${a.key.endsWith('6') ? 'ip6' : 'ip'} ${a.key.slice(0, 5)}`;
      return `${key} vmap @${a.map}`;
    }
  }
}

export function renderRule(r: CompiledRule): string {
  return [...r.matches.map(renderMatch), renderAction(r.action)].join(' ');
}

const setDecl = (table: string, s: CompiledSet) => `add set ${FAMILY} ${table} ${s.name} { type ${s.type};${s.interval ? ' flags interval;' : ''} }`;
const mapDecl = (table: string, m: CompiledMap) => `add map ${FAMILY} ${table} ${m.name} { type ${m.keyType} : verdict; }`;
function chainDecl(table: string, c: CompiledChain): string {
  return c.hook ? `add chain ${FAMILY} ${table} ${c.name} { type filter hook ${c.hook} priority 0; policy accept; }` : `add chain ${FAMILY} ${table} ${c.name}`;
}
const mapKey = (m: CompiledMap, k: string) => (m.keyType === 'ifname' ? JSON.stringify(k) : k);
function elements(table: string, verb: 'add' | 'delete', name: string, items: readonly string[]): string[] {
  const out: string[] = [];
  // Chunked so that one huge set does not make one huge line.
  for (let i = 0; i < items.length; i += 1000) out.push(`${verb} element ${FAMILY} ${table} ${name} { ${items.slice(i, i + 1000).join(', ')} }`);
  return out;
}
const mapItems = (m: CompiledMap, keys: readonly string[]) => keys.map((k) => `${mapKey(m, k)} : jump ${m.elements[k]}`);
function chainBody(table: string, c: CompiledChain): string[] {
  return c.rules.map((r) => `add rule ${FAMILY} ${table} ${c.name} ${renderRule(r)}`);
}

/**
 * The whole table as one `nft -f` transaction: create-then-delete makes the delete valid when the
 * table does not exist yet, and the new table replaces the old one atomically.
 */
export function renderNftFull(rs: CompiledRuleSet): string {
  const t = rs.table;
  const lines = [`add table ${FAMILY} ${t}`, `delete table ${FAMILY} ${t}`, `add table ${FAMILY} ${t}`];
  for (const s of rs.sets) lines.push(setDecl(t, s), ...elements(t, 'add', s.name, s.elements));
  for (const c of rs.chains) lines.push(chainDecl(t, c));
  for (const m of rs.maps) lines.push(mapDecl(t, m), ...elements(t, 'add', m.name, mapItems(m, Object.keys(m.elements).sort())));
  for (const c of rs.chains) lines.push(...chainBody(t, c));
  return lines.join('\n') + '\n';
}

export function renderNftDelete(table: string): string {
  return `add table ${FAMILY} ${table}\ndelete table ${FAMILY} ${table}\n`;
}

/** What changed between two compiled rule sets: sets and their elements, chains, map entries. */
export interface RuleSetDiff {
  readonly addedSets: readonly CompiledSet[];
  readonly deletedSets: readonly string[];
  readonly elements: readonly { readonly set: string; readonly add: readonly string[]; readonly delete: readonly string[] }[];
  readonly addedChains: readonly CompiledChain[];
  /** Existing chains whose rules changed (flushed and refilled). */
  readonly changedChains: readonly CompiledChain[];
  readonly deletedChains: readonly string[];
  readonly mapEntries: readonly { readonly map: string; readonly add: readonly string[]; readonly delete: readonly string[] }[];
  /** The base structure (table, maps, base chains' hooks) changed: only a full reload will do. */
  readonly structural: boolean;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export function diffRuleSets(before: CompiledRuleSet, after: CompiledRuleSet): RuleSetDiff {
  const structural = before.table !== after.table
    || !same(before.maps.map((m) => [m.name, m.keyType]), after.maps.map((m) => [m.name, m.keyType]))
    || !same(before.chains.filter((c) => c.hook).map((c) => [c.name, c.hook]), after.chains.filter((c) => c.hook).map((c) => [c.name, c.hook]));
  const oldSets = new Map(before.sets.map((s) => [s.name, s]));
  const newSets = new Map(after.sets.map((s) => [s.name, s]));
  const elementsDiff: { set: string; add: string[]; delete: string[] }[] = [];
  for (const s of after.sets) {
    const old = oldSets.get(s.name);
    if (!old) continue;
    const was = new Set(old.elements);
    const now = new Set(s.elements);
    const add = s.elements.filter((e) => !was.has(e));
    const del = old.elements.filter((e) => !now.has(e));
    if (add.length || del.length) elementsDiff.push({ set: s.name, add, delete: del });
  }
  const oldChains = new Map(before.chains.map((c) => [c.name, c]));
  const newChains = new Set(after.chains.map((c) => c.name));
  const mapEntries: { map: string; add: string[]; delete: string[] }[] = [];
  for (const m of after.maps) {
    const old = before.maps.find((o) => o.name === m.name);
    const was = old?.elements ?? {};
    const add = Object.keys(m.elements).filter((k) => was[k] !== m.elements[k]).sort();
    const del = Object.keys(was).filter((k) => was[k] !== m.elements[k]).sort();
    if (add.length || del.length) mapEntries.push({ map: m.name, add, delete: del });
  }
  return {
    structural,
    addedSets: after.sets.filter((s) => !oldSets.has(s.name)),
    deletedSets: before.sets.filter((s) => !newSets.has(s.name)).map((s) => s.name),
    elements: elementsDiff,
    addedChains: after.chains.filter((c) => !oldChains.has(c.name)),
    changedChains: after.chains.filter((c) => oldChains.has(c.name) && !same(oldChains.get(c.name)?.rules, c.rules)),
    deletedChains: before.chains.filter((c) => !newChains.has(c.name)).map((c) => c.name),
    mapEntries,
  };
}

export function isEmptyDiff(d: RuleSetDiff): boolean {
  return !d.structural && [d.addedSets, d.deletedSets, d.elements, d.addedChains, d.changedChains, d.deletedChains, d.mapEntries].every((l) => l.length === 0);
}

/**
 * The incremental transaction: new sets and chains first, rewritten chains, map entries and set
 * elements next, and what is no longer referenced last. One `nft -f` run applies it atomically.
 */
export function renderNftDiff(after: CompiledRuleSet, d: RuleSetDiff): string {
  if (d.structural) return renderNftFull(after);
  const t = after.table;
  const lines: string[] = [];
  for (const s of d.addedSets) lines.push(setDecl(t, s), ...elements(t, 'add', s.name, s.elements));
  for (const c of d.addedChains) lines.push(chainDecl(t, c));
  for (const c of d.changedChains) lines.push(`flush chain ${FAMILY} ${t} ${c.name}`);
  for (const c of [...d.addedChains, ...d.changedChains]) lines.push(...chainBody(t, c));
  const maps = new Map(after.maps.map((m) => [m.name, m]));
  for (const e of d.mapEntries) {
    const m = maps.get(e.map) as CompiledMap;
    lines.push(...elements(t, 'delete', e.map, e.delete.map((k) => mapKey(m, k))), ...elements(t, 'add', e.map, mapItems(m, e.add)));
  }
  for (const e of d.elements) lines.push(...elements(t, 'delete', e.set, e.delete), ...elements(t, 'add', e.set, e.add));
  for (const c of d.deletedChains) lines.push(`flush chain ${FAMILY} ${t} ${c}`);
  for (const c of d.deletedChains) lines.push(`delete chain ${FAMILY} ${t} ${c}`);
  for (const s of d.deletedSets) lines.push(`delete set ${FAMILY} ${t} ${s}`);
  return lines.join('\n') + (lines.length ? '\n' : '');
}
