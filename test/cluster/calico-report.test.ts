import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildAndSynth, deployAndCheck, startCluster } from '../../apps/cluster';
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
 * object, pod, node or route that is wrong and why. staging passes every check; prod passes every
 * check but its rack router's: prod's BGPPeer asks for a TCP-MD5 password, which the speaker cannot
 * set from Node yet, so it refuses that session in one line (the reflector ↔ router checks fail).
 * prod's policy matrix (its `policyMatrix`) holds between real pods: one passing line per expectation.
 */
function reportSuite(environment: Environment, nodes: number, knownFailures: RegExp | undefined): void {
  const passes = knownFailures === undefined;
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
      expect(results.find((r) => r.name === 'Deployment kube-system/calico-kube-controllers ready')).toBeDefined();
      expect(results.filter((r) => r.name.startsWith('test pod on '))).toHaveLength(nodes);
    });

    if (knownFailures) {
      test('every check passes but the known gap it names', () => {
        expect(results.filter((r) => !r.ok && !r.skipped && !knownFailures.test(r.name)).map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
        expect(results.filter((r) => /^(icmp|tcp)[46] /.test(r.name) && r.ok)).toHaveLength(nodes * (nodes - 1) * 4);
        expect(results.find((r) => r.name === 'agents hold no apiserver watches (Typha serves them)')?.ok).toBe(true);
      });
    }

    if (passes) {
      test('every check passes: pods on every node talk across the subnets, Services, NAT to the outside', () => {
        expect(results.filter((r) => !r.ok && !r.skipped).map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
        expect(results.filter((r) => /^(icmp4|tcp4) /.test(r.name))).toHaveLength(nodes * (nodes - 1) * 2);
      });
    }

    test('every failing check names what is wrong and where to look', () => {
      for (const failure of results.filter((r) => !r.ok && !r.skipped)) {
        // An object, pod, node or route, and for pods the reason and their log directory.
        expect(`${failure.name}: ${failure.detail}`).toMatch(/(pod \S+\/\S+ on n\d+: .+; logs \/|node n\d+|route on n\d+|kubectl apply -f \S+ failed: .+|exited; last lines)/);
      }
    });

    test('nothing of the lab is left afterwards', async () => {
      await lab!.destroy();
      lab = undefined;
      expect(labLeftovers(labId)).toEqual([]);
    });
  });
}

reportSuite(staging, 4, undefined);
reportSuite(prod, 4, /^bgp router rack-routers /);
