import { compilePolicy, CompileOptions } from './compile';
import { IptablesRunner, iptablesRunner } from './iptables';
import { findDrift, NftRunner, nftRunner, parseKernelView } from './nft';
import { diffRuleSets, isEmptyDiff, renderNftDelete, renderNftDiff, renderNftFull, RuleSetDiff } from './render-nft';
import { CompiledRuleSet } from './ruleset';
import { PolicyWorld } from './types';

export interface PolicyEngineOptions extends CompileOptions {
  /** Namespace to enforce in (the node's). @default - the caller's own */
  readonly netns?: string;
  /** @default nftRunner(netns) */
  readonly runner?: NftRunner;
  /**
   * `nft` (incremental transactions) or `iptables` (ipset + iptables-restore, a full refill of our
   * sets and chains on every change) where nftables is missing. @default 'nft'
   */
  readonly backend?: 'nft' | 'iptables';
  /** @default iptablesRunner(netns) */
  readonly iptables?: IptablesRunner;
}

export interface SyncResult {
  /** True when the whole table was (re)written, false for an incremental transaction. */
  readonly full: boolean;
  /** The incremental change (undefined after a full write). */
  readonly diff?: RuleSetDiff;
  /** The nft script applied ('' when nothing changed). */
  readonly script: string;
}

/**
 * The reconciler: compiles the world, diffs it against what it last applied and applies only the
 * difference (sets' elements, the affected chains, map entries) in one nft transaction. The first
 * sync and `resync()` after drift write the whole table, also in one transaction.
 */
export class PolicyEngine {
  private applied: CompiledRuleSet | undefined;
  private readonly runner: NftRunner;
  private readonly iptables: IptablesRunner;

  constructor(private options: PolicyEngineOptions) {
    this.runner = options.runner ?? nftRunner(options.netns);
    this.iptables = options.iptables ?? iptablesRunner(options.netns);
  }

  /** Compile options that changed while running (FelixConfiguration); they take effect with the next sync. */
  public reconfigure(change: Pick<CompileOptions, 'endpointToHostAction'>): void {
    this.options = { ...this.options, ...change };
  }

  public get current(): CompiledRuleSet | undefined {
    return this.applied;
  }

  /** Enforces `world`; `localEndpoints` (namespace/name) overrides the option when the node's pods change. */
  public async sync(world: PolicyWorld, localEndpoints?: readonly string[]): Promise<SyncResult> {
    const desired = compilePolicy(world, localEndpoints ? { ...this.options, localEndpoints } : this.options);
    if (this.options.backend === 'iptables') {
      const script = await this.iptables.apply(desired, this.applied);
      this.applied = desired;
      return { full: true, script };
    }
    if (!this.applied) {
      const script = renderNftFull(desired);
      await this.runner.apply(script);
      this.applied = desired;
      return { full: true, script };
    }
    const diff = diffRuleSets(this.applied, desired);
    if (isEmptyDiff(diff)) return { full: false, diff, script: '' };
    const script = renderNftDiff(desired, diff);
    try {
      await this.runner.apply(script);
    } catch {
      // The transaction was refused as a whole: the kernel still holds the old table, which may
      // have drifted from what we believe. A full write repairs both.
      const full = renderNftFull(desired);
      await this.runner.apply(full);
      this.applied = desired;
      return { full: true, script: full };
    }
    this.applied = desired;
    return { full: diff.structural, diff, script };
  }

  /** Compares the kernel's table with what was applied; rewrites the table when they differ. Returns the differences found. */
  public async resync(): Promise<string[]> {
    if (!this.applied) return [];
    if (this.options.backend === 'iptables') {
      // No read-back comparison on this path: the periodic refill is the repair.
      await this.iptables.apply(this.applied, this.applied);
      return [];
    }
    const json = await this.runner.listTable(this.applied.table);
    const drift = json === undefined ? ['table missing'] : findDrift(parseKernelView(json), this.applied);
    if (drift.length) await this.runner.apply(renderNftFull(this.applied));
    return drift;
  }

  public async remove(): Promise<void> {
    if (this.options.backend === 'iptables') {
      if (this.applied) await this.iptables.remove(this.applied);
      this.applied = undefined;
      return;
    }
    await this.runner.apply(renderNftDelete(this.options.table ?? this.applied?.table ?? 'cnikit-policy'));
    this.applied = undefined;
  }
}
