import { formatTruthTable, mismatches, PolicyLab, PolicyLabStack, TruthTable } from '../../lib/lab/policy-lab';
import { DEFAULT_CASES, MATRIX, SCENARIOS } from '../dataplane/policy/scenarios';
import { canCreateNetns } from '../support/netns';

/**
 * Every scenario of the feature matrix on the real kernel: 9 pods in 3 namespaces, every pair
 * probed over TCP, UDP, SCTP (and ICMP where the scenario is about ICMP) with real packets,
 * observed verdicts compared with the reference evaluator's, plus the scenario's own expectations.
 */
export function policyMatrixSuite(stack: PolicyLabStack): void {
  const maybe = canCreateNetns() ? describe : describe.skip;
  maybe(`policy feature matrix on the ${stack}-style stack (real kernel)`, () => {
    let lab: PolicyLab;
    beforeAll(async () => {
      lab = await PolicyLab.create(MATRIX, { stack });
    }, 60_000);
    afterAll(async () => {
      await lab?.destroy();
    });

    for (const s of SCENARIOS) {
      it(s.name, async () => {
        await lab.setPolicies(s.policies, s.networkSets ?? [], s.tiers ?? []);
        const tables: TruthTable[] = await lab.truthTables(s.cases ?? DEFAULT_CASES, 700);
        const bad = tables.filter((t) => mismatches(t) > 0);
        if (bad.length) throw new Error(`observed ≠ expected:\n${bad.map(formatTruthTable).join('\n')}\npods: ${tables[0].pods.join(' ')}`);
        for (const [from, to, protocol, port, allowed] of s.expect) {
          const t = tables.find((x) => x.probe.protocol === protocol && x.probe.port === port);
          if (!t) continue;
          expect({ from, to, protocol, port, observed: t.observed[t.pods.indexOf(from)][t.pods.indexOf(to)] }).toEqual({ from, to, protocol, port, observed: allowed });
        }
      }, 30_000);
    }
  });
}
