import { formatTruthTable, mismatches, PolicyLabStack } from '../../lib/lab/policy-lab';
import { ClusterPolicy } from '../../lib/lab/policy-cluster';
import { Lab } from '../../lib/lab';
import { CalicoLab } from '../../lib/lab/calico';
import { DEFAULT_CASES, MATRIX, SCENARIOS } from '../dataplane/policy/scenarios';
import { describeLab } from './describe-lab';

/**
 * The feature matrix on a real 3-node cluster of the lab: real agents, real CNI plugin, pods
 * spread over the nodes (x/a on n1, x/b on n2, x/c on n3, …), so most pairs cross nodes (VXLAN)
 * and some stay on one node. Every cell: kernel = reference evaluator. (The scenarios' hand-written
 * expectations assume the policy lab's addresses, used by ipBlock/nets; here only kernel vs
 * evaluator is compared.)
 */
export function clusterPolicySuite(stack: PolicyLabStack, scenarioNames?: readonly string[]): void {
  describeLab(`policy on a real 3-node ${stack}-style lab cluster`, () => {
    let lab: Lab;
    let calico: CalicoLab | undefined;
    let cluster: ClusterPolicy;
    beforeAll(async () => {
      if (stack === 'calico') {
        calico = await CalicoLab.create({ nodes: 3, topology: 'flat', vxlanMode: 'Always' });
        lab = calico.lab;
      } else {
        lab = await Lab.create({ nodes: 3, backend: { Type: 'vxlan' } });
      }
      const pods = [];
      for (const [i, p] of MATRIX.pods.entries()) {
        const pod = await lab.addPod(lab.nodes[i % 3], `${p.namespace}${p.name}`);
        pods.push({ ...p, pod });
      }
      cluster = await ClusterPolicy.attach(lab, stack, MATRIX.namespaces, pods);
      // the lab reaches full connectivity before policies go in
      await lab.waitForConnectivity(20_000);
    }, 120_000);
    afterAll(async () => {
      await cluster?.detach();
      if (calico) await calico.destroy();
      else await lab?.destroy();
    });

    for (const s of SCENARIOS.filter((x) => !scenarioNames || scenarioNames.includes(x.name))) {
      it(s.name, async () => {
        await cluster.setPolicies(s.policies, s.networkSets ?? [], s.tiers ?? []);
        const tables = await cluster.truthTables(s.cases ?? DEFAULT_CASES, 800);
        const bad = tables.filter((t) => mismatches(t) > 0);
        if (bad.length) throw new Error(`observed ≠ expected:\n${bad.map(formatTruthTable).join('\n')}`);
        expect(tables.every((t) => t.expected.flat().some((v) => v === true))).toBe(true);
      }, 30_000);
    }
  });
}
