import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { npmRun } from '../../apps/cluster';
import { ConformanceStack, formatSummary, NETPOL_FOCUS, runStack, StackRun } from '../../apps/conformance';
import { describeLab } from '../lab/describe-lab';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const log = (line: string) => process.stdout.write(`    ${line}\n`);

/**
 * The NetworkPolicy suites take longer on one stack than the rest of `npm test` together, so CI
 * runs a slice: one stack and one of SHARDS shards of the runnable specs (in name order) per commit,
 * chosen by the commit count: the stack alternates, the shard turns every two commits, so every
 * spec runs on both stacks within 2 × SHARDS commits. `CNIKIT_CONFORMANCE=<stack>[:<shard>/<shards>]`
 * picks one (`calico:all` the whole suite); `npm run conformance` runs everything on both stacks.
 */
const SHARDS = 8;

function sliceOfThisRun(): { stack: ConformanceStack; shard?: { index: number; count: number } } {
  const wanted = process.env.CNIKIT_CONFORMANCE;
  if (wanted !== undefined) {
    const match = /^(flannel|calico)(?::(?:all|(\d+)\/(\d+)))?$/.exec(wanted);
    if (!match || (match[2] !== undefined && !(Number(match[2]) >= 1 && Number(match[2]) <= Number(match[3])))) {
      throw new Error(`CNIKIT_CONFORMANCE: "${wanted}" is not valid; expected flannel or calico, optionally :all or :<shard>/<shards> (e.g. calico:2/4)`);
    }
    return { stack: match[1] as ConformanceStack, ...(match[2] !== undefined ? { shard: { index: Number(match[2]) - 1, count: Number(match[3]) } } : {}) };
  }
  const commits = Number(execFileSync('git', ['rev-list', '--count', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim());
  return { stack: commits % 2 === 0 ? 'flannel' : 'calico', shard: { index: Math.floor(commits / 2) % SHARDS, count: SHARDS } };
}

const { stack, shard } = sliceOfThisRun();
const sliceName = shard ? `shard ${shard.index + 1} of ${shard.count}` : 'all specs';
const churn = Number(process.env.CNIKIT_CHURN_PODS ?? 20);

describeLab(`upstream Kubernetes NetworkPolicy e2e suites (${sliceName}) and pod churn on the cluster lab: ${stack}, this commit's slice`, () => {
  let run: StackRun;

  beforeAll(async () => {
    await npmRun('images', log);
    await npmRun('synth', log);
    // ginkgo stops the slice after 30 min and reports what it ran: the CI budget, not a timing assertion.
    run = await runStack(stack, { focus: NETPOL_FOCUS, shard, timeoutMinutes: 30, churn, procs: 3, outDir: path.join(REPO_ROOT, 'dist', 'conformance', 'reports'), log });
    log(formatSummary(run.summaries));
  }, 3_600_000);

  test('every Netpol spec of the slice that can run on this machine passes (the JUnit report stays in dist/conformance/reports)', () => {
    const ran = run.cases.filter((c) => c.notRun === undefined);
    expect(ran.filter((c) => c.state !== 'passed').map((c) => `${c.name}: ${c.state} ${c.failure ?? ''}`)).toEqual([]);
    // The focus selects the sig-network Netpol suites of v1.28: 50 specs, of which only SCTP ones may be left out.
    const notRun = run.cases.filter((c) => c.notRun !== undefined);
    expect(notRun.map((c) => c.name).filter((name) => !name.includes('[Feature:SCTPConnectivity]'))).toEqual([]);
    if (shard) expect(ran.length).toBeGreaterThanOrEqual(Math.floor((50 - notRun.length) / shard.count));
    else expect(ran.length + notRun.length).toBe(50);
    expect(fs.existsSync(path.join(REPO_ROOT, 'dist', 'conformance', 'reports', stack, 'junit.xml'))).toBe(true);
  });

  test(`${churn} pods per node created and deleted through the kubelets leave no address, veth or namespace behind`, () => {
    const churnRow = run.summaries[1];
    expect(churnRow.failures).toEqual([]);
    expect(churnRow.passed).toBeGreaterThan(0);
    expect(run.churn!.add.count).toBeGreaterThanOrEqual(churn * 3);
  });
});
