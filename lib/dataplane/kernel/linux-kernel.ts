import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ExecResult, inNetns, iprouteArgv, run, runChecked } from './exec';
import { batchFailures, commandLines, isAlreadyGone, isAlreadyThere, toolOf } from './ip-commands';
import { parseAddresses, parseFdb, parseLinks, parseNeighbours, parseRoutes } from './ip-json';
import { iptablesTools, parseIptablesSave, presentJumps, renderIptablesDelete, renderIptablesRestore } from './iptables';
import { parseNftJson, renderDeleteScript, renderNftScript, nftFamily } from './nft';
import { assertValidOps } from './normalize';
import { assertOwned, ownsRuleSet, ownsSysctl } from './ownership';
import {
  Address, Family, FdbEntry, Kernel, KernelApplyError, KernelOp, LinkDetails, LinkState, Neighbour, OpFailure, Ownership, Route,
  RouteFilter, RuleSet,
} from './types';

export interface LinuxKernelOptions {
  /** A name under /var/run/netns or a path (e.g. a CNI_NETNS); undefined means this process's namespace. */
  readonly netns?: string;
  readonly ownership: Ownership;
  /** How rule sets are programmed. @default 'nftables' when `nft` is installed, else 'iptables' */
  readonly ruleBackend?: 'nftables' | 'iptables';
}

/**
 * The real kernel through iproute2 and nftables: every `apply` is one `ip -force -batch -` (plus
 * one `bridge -batch -` for FDB entries), every listing is one `-j` dump, rule sets are one
 * `nft -f -` transaction. A process per batch costs ~2–3 ms; a process per route would cost
 * that per route (see performance.md §3–4), and Node has no AF_NETLINK socket without a native addon.
 */
export class LinuxKernel implements Kernel {
  readonly netns?: string;
  readonly ownership: Ownership;
  readonly ruleBackend: 'nftables' | 'iptables';

  constructor(options: LinuxKernelOptions) {
    this.netns = options.netns;
    this.ownership = options.ownership;
    this.ruleBackend = options.ruleBackend ?? (findNft() ? 'nftables' : 'iptables');
  }

  private ip(args: readonly string[], input?: string) {
    return runChecked(iprouteArgv('ip', this.netns, args), input);
  }

  async links(): Promise<LinkState[]> {
    return parseLinks(await this.ip(['-j', '-d', 'link', 'show']));
  }

  async link(name: string): Promise<LinkDetails | undefined> {
    const result = await run(iprouteArgv('ip', this.netns, ['-j', '-d', 'addr', 'show', 'dev', name]));
    if (result.code !== 0) {
      if (/does not exist|Cannot find device/.test(result.stderr)) return undefined;
      throw new Error(`ip addr show dev ${name}: ${result.stderr.trim()}`);
    }
    const [link] = parseLinks(result.stdout);
    return link ? { ...link, addresses: parseAddresses(result.stdout) } : undefined;
  }

  async addresses(dev?: string): Promise<Address[]> {
    return parseAddresses(await this.ip(['-j', 'addr', 'show', ...(dev ? ['dev', dev] : [])]));
  }

  async routes(filter: RouteFilter = {}): Promise<Route[]> {
    const args = ['-N', '-j'];
    if (filter.family) args.push(`-${filter.family}`);
    // Without a family, only `table all` dumps both families; the table is then filtered here.
    const table = filter.table ?? 254;
    args.push('route', 'show', 'table', filter.family ? String(table) : 'all');
    if (filter.protocol !== undefined) args.push('proto', String(filter.protocol));
    if (filter.dev) args.push('dev', filter.dev);
    // ip(8) leaves out the fields the filter fixes (protocol, dev, table); put them back.
    const routes = parseRoutes(await this.ip(args), filter.family).map((r) => ({
      ...r,
      ...(filter.family && typeof table === 'number' ? { table } : {}),
      ...(filter.protocol !== undefined ? { protocol: filter.protocol } : {}),
      ...(filter.dev && !r.dev && !r.nexthops && r.type === 'unicast' ? { dev: filter.dev } : {}),
    }));
    return filter.family || table === 'all' ? routes : routes.filter((r) => r.table === table);
  }

  async neighbours(dev?: string): Promise<Neighbour[]> {
    return parseNeighbours(await this.ip(['-j', 'neigh', 'show', 'nud', 'permanent', ...(dev ? ['dev', dev] : [])]), dev);
  }

  async fdb(dev?: string): Promise<FdbEntry[]> {
    return parseFdb(await runChecked(iprouteArgv('bridge', this.netns, ['-j', 'fdb', 'show', ...(dev ? ['dev', dev] : [])])), dev);
  }

  async apply(ops: readonly KernelOp[]): Promise<void> {
    await this.applyAndRead(ops, undefined);
  }

  async applyAndRead(ops: readonly KernelOp[], link: string | undefined): Promise<LinkDetails | undefined> {
    assertValidOps(ops);
    assertOwned(this.ownership, ops);
    const failures: OpFailure[] = [];
    let shown: string | undefined;
    let start = 0;
    while (start < ops.length || (link !== undefined && shown === undefined)) {
      const tool = start < ops.length ? toolOf(ops[start]) : 'ip';
      let end = start;
      while (end < ops.length && toolOf(ops[end]) === tool) end++;
      // the read rides on the last ip batch
      const read = tool === 'ip' && link !== undefined && !ops.slice(end).some((op) => toolOf(op) === 'ip') ? link : undefined;
      const batch = await this.runBatch(tool, ops.slice(start, end), read);
      failures.push(...batch.failures);
      if (read !== undefined) shown = batch.stdout;
      start = end;
    }
    if (failures.length) throw new KernelApplyError(failures, this.netns);
    if (link === undefined || !shown?.trim()) return undefined;
    const [state] = parseLinks(shown);
    return state ? { ...state, addresses: parseAddresses(shown) } : undefined;
  }

  private async runBatch(tool: 'ip' | 'bridge', ops: readonly KernelOp[], read?: string): Promise<{ failures: OpFailure[]; stdout: string }> {
    const lines: string[] = [];
    const opOfLine: number[] = [];
    ops.forEach((op, i) => {
      for (const line of commandLines(op)) {
        lines.push(line);
        opOfLine.push(i);
      }
    });
    if (read !== undefined) lines.push(`addr show dev ${read}`);
    if (!lines.length) return { failures: [], stdout: '' };
    const flags = read !== undefined ? ['-j', '-d', '-force', '-batch', '-'] : ['-force', '-batch', '-'];
    const result = await run(iprouteArgv(tool, this.netns, flags), lines.join('\n') + '\n');
    return { failures: result.code === 0 ? [] : this.failuresOf(tool, ops, opOfLine, result), stdout: result.stdout };
  }

  private failuresOf(tool: string, ops: readonly KernelOp[], opOfLine: readonly number[], result: ExecResult): OpFailure[] {
    const byLine = batchFailures(result.stderr);
    if (!ops.length) return [];
    if (!byLine.size) return [{ op: ops[0], message: result.stderr.trim() || `${tool} exited ${result.code}` }];
    const failures: OpFailure[] = [];
    const seen = new Set<number>();
    for (const [line, message] of byLine) {
      if (line > opOfLine.length) continue; // the trailing read: a missing link reads as undefined
      const index = opOfLine[line - 1] ?? 0;
      const op = ops[index];
      if (op.op.endsWith('.del') && isAlreadyGone(message)) continue;
      if (op.op === 'link.add' && op.mayExist && isAlreadyThere(message)) continue;
      if (seen.has(index)) continue;
      seen.add(index);
      failures.push({ op, message });
    }
    return failures;
  }

  async sysctl(key: string): Promise<string | undefined> {
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    if (this.netns === undefined) {
      try {
        return readFileSync(path, 'utf8').trim();
      } catch {
        return undefined;
      }
    }
    const result = await run(inNetns(this.netns, ['cat', path]));
    return result.code === 0 ? result.stdout.trim() : undefined;
  }

  async setSysctls(values: Readonly<Record<string, string>>): Promise<void> {
    const entries = Object.entries(values);
    for (const [key] of entries) {
      if (!ownsSysctl(this.ownership, key)) throw new Error(`kernel: refusing to write sysctl ${key}: not owned`);
    }
    if (!entries.length) return;
    if (this.netns === undefined) {
      for (const [key, value] of entries) writeFileSync(`/proc/sys/${key.replace(/\./g, '/')}`, value);
      return;
    }
    // One shell for all keys: arguments come in (path, value) pairs, nothing is interpolated.
    const script = 'while [ $# -gt 0 ]; do printf %s "$2" > "$1" || exit 1; shift 2; done';
    const args = entries.flatMap(([key, value]) => [`/proc/sys/${key.replace(/\./g, '/')}`, value]);
    await runChecked(inNetns(this.netns, ['sh', '-c', script, 'sh', ...args]));
  }

  async ruleSet(name: string, family: Family): Promise<RuleSet | undefined> {
    if (this.ruleBackend === 'iptables') {
      return parseIptablesSave(await runChecked(inNetns(this.netns, [iptablesTools(family).save])), { name, family });
    }
    const result = await run(inNetns(this.netns, [nftBinary(), '-j', 'list', 'table', nftFamily(family), name]));
    if (result.code !== 0) {
      if (/No such file or directory/.test(result.stderr)) return undefined;
      throw new Error(`nft list table ${nftFamily(family)} ${name}: ${result.stderr.trim()}`);
    }
    return parseNftJson(result.stdout, name, family);
  }

  async replaceRuleSet(set: RuleSet): Promise<void> {
    if (!ownsRuleSet(this.ownership, set.name)) throw new Error(`kernel: refusing to replace rule set ${set.name}: not owned`);
    if (this.ruleBackend === 'iptables') {
      const tools = iptablesTools(set.family);
      const saved = await runChecked(inNetns(this.netns, [tools.save]));
      // chains of the set that are no longer wanted go first, then one restore per table refills the rest
      const current = parseIptablesSave(saved, set);
      const gone = (current?.chains ?? []).filter((c) => !set.chains.some((d) => d.name === c.name));
      if (gone.length) await this.deleteRuleSet(set.name, set.family);
      const jumps = gone.length ? new Set<string>() : presentJumps(saved);
      await runChecked(inNetns(this.netns, [tools.restore, '--noflush']), renderIptablesRestore(set, jumps));
      return;
    }
    await runChecked(inNetns(this.netns, [nftBinary(), '-f', '-']), renderNftScript(set));
  }

  async deleteRuleSet(name: string, family: Family): Promise<void> {
    if (!ownsRuleSet(this.ownership, name)) throw new Error(`kernel: refusing to delete rule set ${name}: not owned`);
    if (this.ruleBackend === 'iptables') {
      const tools = iptablesTools(family);
      const script = renderIptablesDelete(name, await runChecked(inNetns(this.netns, [tools.save])));
      if (script) await runChecked(inNetns(this.netns, [tools.restore, '--noflush']), script);
      return;
    }
    await runChecked(inNetns(this.netns, [nftBinary(), '-f', '-']), renderDeleteScript(name, family));
  }
}

function findNft(): string | undefined {
  return ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((path) => existsSync(path));
}

function nftBinary(): string {
  const nft = findNft();
  if (!nft) throw new Error('kernel: rule sets need nftables (`nft`, Debian package nftables) or ruleBackend "iptables"; nft was not found');
  return nft;
}
