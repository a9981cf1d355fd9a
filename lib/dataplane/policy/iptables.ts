import { inNetns, run } from '../kernel/exec';
import { iptablesContent, renderIptablesUpdate } from './render-iptables';
import { CompiledRuleSet } from './ruleset';

/** The fallback's edge: ipset and iptables-restore in a namespace (or the caller's own). */
export interface IptablesRunner {
  /** Replaces what `previous` loaded with `rs` (full refill of our sets and chains; others' rules untouched). */
  apply(rs: CompiledRuleSet, previous?: CompiledRuleSet): Promise<string>;
  /** Removes our jumps, chains and sets. */
  remove(rs: CompiledRuleSet): Promise<void>;
}

const JUMPS = [['FORWARD', 'cnk-FORWARD'], ['INPUT', 'cnk-INPUT']] as const;

export function iptablesRunner(netns?: string): IptablesRunner {
  const exec = async (argv: string[], input?: string, allowFailure = false): Promise<number> => {
    const r = await run(inNetns(netns, argv), input);
    if (r.code !== 0 && !allowFailure) throw new Error(`${argv[0]}: ${r.stderr.trim().split('\n').slice(0, 4).join(' | ')}`);
    return r.code;
  };
  return {
    async apply(rs, previous) {
      const p = renderIptablesUpdate(rs, previous);
      await exec(['ipset', 'restore'], p.ipset);
      await exec(['iptables-restore', '--noflush'], p.v4);
      await exec(['ip6tables-restore', '--noflush'], p.v6);
      for (const tool of ['iptables', 'ip6tables']) {
        for (const [hook, chain] of JUMPS) {
          if (await exec([tool, '-C', hook, '-j', chain], undefined, true) !== 0) await exec([tool, '-I', hook, '1', '-j', chain]);
        }
      }
      if (p.ipsetCleanup) await exec(['ipset', 'restore'], p.ipsetCleanup);
      return [p.ipset, p.v4, p.v6, p.ipsetCleanup].join('');
    },
    async remove(rs) {
      const content = iptablesContent(rs);
      for (const tool of ['iptables', 'ip6tables']) {
        for (const [hook, chain] of JUMPS) await exec([tool, '-D', hook, '-j', chain], undefined, true);
        await exec([`${tool}-restore`, '--noflush'], ['*filter', ...content.chains.map((c) => `:${c} - [0:0]`), ...content.chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n'), true);
      }
      await exec(['ipset', 'restore'], content.sets.map((s) => `destroy ${s.name}`).join('\n') + '\n', true);
    },
  };
}
