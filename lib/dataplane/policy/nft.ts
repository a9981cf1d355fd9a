import { inNetns, run } from '../kernel/exec';
import { CompiledRuleSet } from './ruleset';

/** The one place the policy engine talks to nftables: `nft -f -` and `nft -j list table`. */
export interface NftRunner {
  /** Applies a script as one transaction; throws with nft's message when it is refused. */
  apply(script: string): Promise<void>;
  /** `nft -j list table inet <table>` output, or undefined when the table does not exist. */
  listTable(table: string): Promise<string | undefined>;
}

/** Runs nft in `netns` (a name under /var/run/netns or a path), or in the caller's namespace. */
export function nftRunner(netns?: string): NftRunner {
  return {
    async apply(script: string): Promise<void> {
      const r = await run(inNetns(netns, ['nft', '-f', '-']), script);
      if (r.code !== 0) throw new Error(`nft -f: ${r.stderr.trim().split('\n').slice(0, 6).join(' | ')}`);
    },
    async listTable(table: string): Promise<string | undefined> {
      const r = await run(inNetns(netns, ['nft', '-j', 'list', 'table', 'inet', table]));
      if (r.code !== 0) {
        if (/No such file or directory/.test(r.stderr)) return undefined;
        throw new Error(`nft list table: ${r.stderr.trim()}`);
      }
      return r.stdout;
    },
  };
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const PROTO_NUMBERS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, 'ipv6-icmp': 58, sctp: 132, udplite: 136 };

function element(e: unknown): string {
  if (typeof e === 'string' || typeof e === 'number') return String(PROTO_NUMBERS[String(e)] ?? e);
  const o = obj(e);
  if (o.prefix) {
    const p = obj(o.prefix);
    return `${String(p.addr)}/${String(p.len)}`;
  }
  if (Array.isArray(o.concat)) return o.concat.map(element).join(' . ');
  if (o.elem) return element(obj(o.elem).val);
  return JSON.stringify(e);
}

/** What the kernel holds, reduced to what drift detection compares. */
export interface KernelView {
  readonly sets: Readonly<Record<string, readonly string[]>>;
  readonly maps: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly ruleCounts: Readonly<Record<string, number>>;
}

export function parseKernelView(json: string): KernelView {
  const sets: Record<string, string[]> = {};
  const maps: Record<string, Record<string, string>> = {};
  const ruleCounts: Record<string, number> = {};
  for (const item of (obj(JSON.parse(json)).nftables as unknown[] | undefined) ?? []) {
    const it = obj(item);
    if (it.set) {
      const s = obj(it.set);
      sets[String(s.name)] = ((s.elem as unknown[] | undefined) ?? []).map(element).sort();
    } else if (it.map) {
      const m = obj(it.map);
      maps[String(m.name)] = Object.fromEntries(((m.elem as unknown[] | undefined) ?? []).map((pair) => {
        const [k, v] = pair as [unknown, unknown];
        return [element(k), String(obj(obj(v).jump).target)];
      }));
    } else if (it.chain) {
      ruleCounts[String(obj(it.chain).name)] = 0;
    } else if (it.rule) {
      const chain = String(obj(it.rule).chain);
      ruleCounts[chain] = (ruleCounts[chain] ?? 0) + 1;
    }
  }
  return { sets, maps, ruleCounts };
}

/** Differences between the kernel and the compiled rule set, one line each (empty: no drift). */
export function findDrift(view: KernelView, rs: CompiledRuleSet): string[] {
  const drift: string[] = [];
  const host = (e: string) => e.replace(/\/(32|128)$/, '');
  for (const s of rs.sets) {
    const got = view.sets[s.name];
    if (!got) drift.push(`set ${s.name} missing`);
    else if (JSON.stringify(got.map(host).sort()) !== JSON.stringify([...s.elements].sort())) drift.push(`set ${s.name} elements differ`);
  }
  for (const name of Object.keys(view.sets)) if (!rs.sets.some((s) => s.name === name)) drift.push(`set ${name} unexpected`);
  for (const m of rs.maps) {
    if (JSON.stringify(view.maps[m.name] ?? null) !== JSON.stringify(Object.fromEntries(Object.entries(m.elements).sort()))
      && JSON.stringify(Object.fromEntries(Object.entries(view.maps[m.name] ?? {}).sort())) !== JSON.stringify(Object.fromEntries(Object.entries(m.elements).sort()))) {
      drift.push(`map ${m.name} differs`);
    }
  }
  for (const c of rs.chains) {
    if (view.ruleCounts[c.name] === undefined) drift.push(`chain ${c.name} missing`);
    else if (view.ruleCounts[c.name] !== c.rules.length) drift.push(`chain ${c.name} has ${view.ruleCounts[c.name]} rules, expected ${c.rules.length}`);
  }
  for (const name of Object.keys(view.ruleCounts)) if (!rs.chains.some((c) => c.name === name)) drift.push(`chain ${name} unexpected`);
  return drift;
}
