import { run } from '../../lib/lab/exec';
import { formatTruthTable, mismatches, PolicyLab } from '../../lib/lab/policy-lab';
import { DEFAULT_CASES, MATRIX, SCENARIOS } from '../dataplane/policy/scenarios';
import { canCreateNetns } from '../support/netns';

const maybe = canCreateNetns() ? describe : describe.skip;

/** The ipset + iptables fallback driving the same policy lab: kernel = evaluator, changes refill only our chains and sets. */
maybe('policy engine on the iptables fallback (real kernel, calico-style stack)', () => {
  let lab: PolicyLab;
  beforeAll(async () => {
    lab = await PolicyLab.create(MATRIX, { stack: 'calico', backend: 'iptables' });
    // someone else's rule in the same table must survive every refill
    await run(['ip', 'netns', 'exec', lab.nodeNetns, 'iptables', '-A', 'FORWARD', '-p', 'tcp', '--dport', '9', '-j', 'DROP']);
  }, 60_000);
  afterAll(async () => {
    await lab?.destroy();
  });

  for (const s of SCENARIOS) {
    it(s.name, async () => {
      await lab.setPolicies(s.policies, s.networkSets ?? [], s.tiers ?? []);
      const tables = await lab.truthTables(s.cases ?? DEFAULT_CASES, 700);
      const bad = tables.filter((t) => mismatches(t) > 0);
      if (bad.length) throw new Error(`observed ≠ expected:\n${bad.map(formatTruthTable).join('\n')}`);
    }, 30_000);
  }

  it('leaves other rules alone, keeps one jump per hook and removes what it no longer uses', async () => {
    await lab.setPolicies([]);
    const saved = (await run(['ip', 'netns', 'exec', lab.nodeNetns, 'iptables-save', '-t', 'filter'])).stdout;
    expect(saved).toContain('-A FORWARD -p tcp -m tcp --dport 9 -j DROP');
    expect(saved.match(/-A FORWARD -j cnk-FORWARD/g)).toHaveLength(1);
    expect(saved).not.toMatch(/^:cnk-(tw|fw|pi|po)/m);
    expect((await run(['ip', 'netns', 'exec', lab.nodeNetns, 'ipset', 'list', '-n'])).stdout.trim()).toBe('');
    await lab.engine.remove();
    expect((await run(['ip', 'netns', 'exec', lab.nodeNetns, 'iptables-save', '-t', 'filter'])).stdout).not.toContain('cnk-');
  });
});
