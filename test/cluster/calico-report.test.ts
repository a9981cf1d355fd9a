import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildAndSynth, deployAndCheck, startCluster } from '../../apps/cluster';
import { clusterPlan } from '../../apps/environments/cluster';
import { Environment } from '../../apps/environments';
import { prod } from '../../apps/environments/prod';
import { staging } from '../../apps/environments/staging';
import { CheckResult, formatChecks } from '../../lib/lab/cluster/checks';
import { ClusterLab } from '../../lib/lab/cluster/cluster-lab';
import { labLeftovers } from '../../lib/lab/host-state';
import { parsePolicyMatrix } from '../../lib/lab/policy-harness';
import { describeLab } from '../lab/describe-lab';

const log = (line: string) => process.stdout.write(`    ${line}\n`);

/**
 * staging and prod deployed as synthesized, run to a per-check report: every failing check names the
 * object, pod, node or route that is wrong and why. Both pass every check: staging across two subnets
 * (VXLAN CrossSubnet, a FelixConfiguration patch, a late NetworkPolicy), prod dual-stack over BGP with
 * a reflector and a TCP-MD5 rack router, Typha serving the agents, and its policy matrix (its
 * `policyMatrix`) holding between real pods, one line per expectation.
 */
function reportSuite(environment: Environment, nodes: number): void {
  describeLab(`cluster lab: ${environment.name} deployed as synthesized on ${nodes} nodes runs to a per-check report`, () => {
    let lab: ClusterLab | undefined;
    let labId = '';
    let results: CheckResult[] = [];

    beforeAll(async () => {
      const files = await buildAndSynth(environment, log);
      lab = await startCluster(environment, { nodes, log });
      labId = lab.id;
      results = await deployAndCheck(lab, environment, files);
      log(formatChecks(`cluster lab: ${environment.name} on ${nodes} nodes (${labId})`, results));
    }, 1_200_000);

    afterAll(async () => {
      await lab?.destroy();
    });

    test('the report has a line per check: apply, every workload, nodes, placement or connectivity, policy', () => {
      expect(results.find((r) => r.name === `apply dist/${environment.name}`)).toBeDefined();
      // Without a policy matrix one 'policy intent' line; with one (prod) its pods, then a line per expectation.
      const matrixFile = environment.stack.kind === 'calico' ? environment.stack.policyMatrix : undefined;
      if (matrixFile) {
        const intents = parsePolicyMatrix(fs.readFileSync(path.resolve(__dirname, '..', '..', matrixFile), 'utf8')).expect ?? [];
        expect(results.find((r) => r.name.startsWith('policy matrix pods Ready'))).toBeDefined();
        expect(results.filter((r) => /^policy \S+ → \S+ \S+ (allowed|denied)$/.test(r.name)).map((r) => r.name))
          .toEqual(intents.map((e) => `policy ${e.from} → ${e.to} ${e.protocol}${e.port ? `/${e.port}` : ''} ${e.allowed ? 'allowed' : 'denied'}`));
      } else {
        expect(results.find((r) => r.name === 'policy intent')).toBeDefined();
      }
      expect(results.find((r) => r.name === 'DaemonSet kube-system/calico-node ready')).toBeDefined();
      // Issue 14 on the real API server: the policy agent's Events (its `events create` grant) included.
      expect(results.find((r) => r.name.startsWith('a Calico NetworkPolicy patched to an invalid version'))).toBeDefined();
      expect(results.find((r) => r.name === 'Deployment kube-system/calico-kube-controllers ready')).toBeDefined();
      expect(results.filter((r) => r.name.startsWith('test pod on '))).toHaveLength(nodes);
    });

    test('every check passes: pods on every node talk (both families where dual-stack), Services, NAT to the outside', () => {
      expect(results.filter((r) => !r.ok && !r.skipped).map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
      const families = clusterPlan(environment, nodes).dualStack ? 2 : 1;
      expect(results.filter((r) => /^(icmp|tcp)[46] /.test(r.name))).toHaveLength(nodes * (nodes - 1) * 2 * families);
    });

    test('every failing check names what is wrong and where to look', () => {
      for (const failure of results.filter((r) => !r.ok && !r.skipped)) {
        // An object, pod, node or route, and for pods the reason and their log directory; for RBAC the audit log.
        expect(`${failure.name}: ${failure.detail}`).toMatch(/(pod \S+\/\S+ on n\d+: .+; logs \/|node n\d+|route on n\d+|kubectl apply -f \S+ failed: .+|exited; last lines|audit log \/)/);
      }
    });

    test('nothing of the lab is left afterwards', async () => {
      await lab!.destroy();
      lab = undefined;
      expect(labLeftovers(labId)).toEqual([]);
    });
  });
}

reportSuite(staging, 4);
reportSuite(prod, 4);
