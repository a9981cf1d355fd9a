// `npm run conformance -- [--stack flannel,calico,reference|all] [--focus REGEX] [--skip REGEX] [--churn N] [--churn-wave N] [--no-cni]`
// Test suites nobody here wrote, on real parts: the Kubernetes NetworkPolicy e2e suites (e2e.test and
// agnhost built from the cluster lab's own k8s.io/kubernetes release) on a Flannel-style cluster with
// its policy agent and on a Calico-style cluster, pod churn through the kubelets' CRI, and the CNI
// plugins through upstream cnitool. Prints a summary table; exits non-zero if anything failed.
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { defaultCacheDir } from '../lib/image/cache';
import { CheckResult } from '../lib/lab/cluster/checks';
import { ClusterLab } from '../lib/lab/cluster/cluster-lab';
import { buildAgnhostImage } from '../lib/lab/cluster/images';
import { E2E_COMMANDS, ensureKubernetes, KUBERNETES_COMMANDS } from '../lib/lab/cluster/kubernetes';
import { DEFAULT_PODS_PER_WAVE, PodChurnReport, podChurn } from '../lib/lab/cluster/pod-churn';
import { installReferenceNetwork } from '../lib/lab/cluster/reference-network';
import { cniContract } from '../lib/lab/conformance/cni-contract';
import { E2eCase, E2eRun, runE2eSuite, Unrunnable } from '../lib/lab/conformance/e2e-suite';
import { run as exec } from '../lib/lab/exec';
import { collectLogs, deploy, manifestFiles, npmRun, startCluster } from './cluster';
import { dev } from './environments/dev';
import { Environment } from './environments/environment';
import { staging } from './environments/staging';
import { readImageDigests } from './image-digests';
import { synthEnvironments } from './synth';

const REPO_ROOT = path.resolve(__dirname, '..');

/** The sig-network NetworkPolicy suites: TCP, `[LinuxOnly]` UDP, `[Feature:SCTPConnectivity]` SCTP and the API spec. */
export const NETPOL_FOCUS = '\\[sig-network\\] Netpol';

/**
 * The stacks the suites run on. Flannel-style: dev with its policy agent (`networkPolicy: true`, the
 * canal-like set-up a flannel user enables for NetworkPolicy), synthesized like any environment into
 * dist/conformance/. Calico-style: staging as bundled (it declares no policies of its own that would
 * stand in the suite's way).
 */
export const CONFORMANCE_STACKS: Readonly<Record<'flannel' | 'calico', Environment>> = {
  flannel: {
    ...dev,
    name: 'dev-networkpolicy',
    description: `${dev.description}, with the policy agent (networkPolicy: true)`,
    stack: dev.stack.kind === 'flannel' ? { kind: 'flannel', props: { ...dev.stack.props, networkPolicy: true } } : dev.stack,
  },
  calico: staging,
};
export type ConformanceStack = keyof typeof CONFORMANCE_STACKS;

/** One line of the summary: a suite on a stack. */
export interface SuiteSummary {
  readonly suite: string;
  readonly stack: string;
  readonly passed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly seconds: number;
  /** What failed, one line each. */
  readonly failures: readonly string[];
  /** What could not run here, one line each with the reason. @default none */
  readonly notRun?: readonly string[];
}

/** The manifests of `environment`: bundled ones from `npm run synth`, the conformance variant synthesized here. */
async function manifestsFor(environment: Environment, log: (line: string) => void): Promise<string[]> {
  if (environment === CONFORMANCE_STACKS.calico) return manifestFiles(environment);
  const [dir] = synthEnvironments([environment], path.join(REPO_ROOT, 'dist', 'conformance'), readImageDigests(REPO_ROOT));
  log(`synthesized ${path.relative(REPO_ROOT, dir)}`);
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(dir, f));
}

export interface StackRunOptions {
  readonly focus: string;
  readonly skip?: string;
  /** Pods created and deleted per node after the suite (0: none). */
  readonly churn: number;
  /** Most pods per node in one wave of churn. @default DEFAULT_PODS_PER_WAVE */
  readonly churnWave?: number;
  /** Parallel ginkgo processes. */
  readonly procs: number;
  /** Only every `count`-th spec of the focus, from `index`. @default all */
  readonly shard?: { readonly index: number; readonly count: number };
  /** ginkgo's whole-run timeout. @default 360 */
  readonly timeoutMinutes?: number;
  /** Where reports and logs go: `<dir>/<stack>/`. */
  readonly outDir: string;
  readonly log: (line: string) => void;
}

export interface StackRun {
  readonly summaries: SuiteSummary[];
  readonly cases: E2eCase[];
  readonly churn?: PodChurnReport;
}

/**
 * One stack: a fresh 3-node cluster, the environment deployed as synthesized, agnhost imported under
 * the name the suite asks for, the e2e suite run, then pod churn through the kubelets; logs
 * collected, the cluster destroyed.
 */
export async function runStack(stack: ConformanceStack, options: StackRunOptions): Promise<StackRun> {
  const environment = CONFORMANCE_STACKS[stack];
  const { log } = options;
  const kubernetes = await ensureKubernetes({ commands: [...KUBERNETES_COMMANDS, ...E2E_COMMANDS], log });
  const files = await manifestsFor(environment, log);
  const reportDir = path.join(options.outDir, stack);
  fs.rmSync(reportDir, { recursive: true, force: true });
  const lab: ClusterLab = await startCluster(environment, { nodes: 3, log });
  try {
    const deployed = await deploy(lab, environment, files);
    const broken = deployed.filter((r) => !r.ok && !r.skipped);
    if (broken.length > 0) throw new Error(`${environment.name} did not deploy: ${broken.map((r) => `${r.name}: ${r.detail}`).join(' · ')}`);
    await lab.importImages([await buildAgnhostImage(kubernetes.path('agnhost'), path.join(lab.dir, 'e2e-images'), defaultCacheDir())]);
    const run = await runE2eSuite(lab, {
      e2eTest: kubernetes.path('e2e.test'), ginkgo: kubernetes.path('ginkgo'), procs: options.procs, kubectl: kubernetes.path('kubectl'),
      focus: options.focus, skip: options.skip, shard: options.shard, timeoutMinutes: options.timeoutMinutes, unrunnable: await unrunnableHere(), reportDir, log,
    });
    const summary = summarize(`Kubernetes ${kubernetes.version} e2e: ${options.focus}`, `${stack} (${environment.name})`, run);
    const summaries: SuiteSummary[] = [summary];
    if (options.churn === 0) return { summaries, cases: run.cases };
    const churnStarted = Date.now();
    const churn = await podChurn(lab, { podsPerNode: options.churn, podsPerWave: options.churnWave, stack: environment.stack.kind, log });
    summaries.push(churnSummary(options.churn, summary.stack, churn, churnStarted));
    return { summaries, cases: run.cases, churn };
  } finally {
    collectLogs(lab, path.join(reportDir, 'logs'));
    await lab.destroy();
  }
}

/** The reference a churn is measured against, in the same run: upstream `bridge` + `host-local`. */
export const REFERENCE_STACK = 'reference';
const REFERENCE_LABEL = 'reference (Debian bridge + host-local)';

/**
 * The churn's reference: a fresh 3-node cluster as the Flannel-style stack's (same nodes, pod CIDRs
 * and maxPods) with no network DaemonSet, each node given the bridge + host-local conflist, then the
 * same pod churn. The suites do not run on it: the bridge enforces no NetworkPolicy.
 */
export async function runReferenceChurn(options: Pick<StackRunOptions, 'churn' | 'churnWave' | 'outDir' | 'log'>): Promise<StackRun> {
  const { log } = options;
  await ensureKubernetes({ commands: KUBERNETES_COMMANDS, log });
  const reportDir = path.join(options.outDir, REFERENCE_STACK);
  fs.rmSync(reportDir, { recursive: true, force: true });
  const lab: ClusterLab = await startCluster(CONFORMANCE_STACKS.flannel, { nodes: 3, log });
  try {
    await installReferenceNetwork(lab, log);
    const started = Date.now();
    const churn = await podChurn(lab, { podsPerNode: options.churn, podsPerWave: options.churnWave, stack: 'reference', log });
    return { summaries: [churnSummary(options.churn, REFERENCE_LABEL, churn, started)], cases: [], churn };
  } finally {
    collectLogs(lab, path.join(reportDir, 'logs'));
    await lab.destroy();
  }
}

function churnSummary(podsPerNode: number, stack: string, churn: PodChurnReport, started: number): SuiteSummary {
  const { p50Ms, p99Ms, count } = churn.add;
  return {
    ...checksSummary(`pod churn: ${podsPerNode} per node via CRI (RunPodSandbox p50 ${p50Ms} ms, p99 ${p99Ms} ms, ${count} calls)`, stack, churn.results),
    seconds: (Date.now() - started) / 1000,
  };
}

/** Each stack's RunPodSandbox p50 and p99 as ratios to the reference's, measured in the same run. */
export function churnRatios(churns: ReadonlyMap<string, PodChurnReport>): string[] {
  const reference = churns.get(REFERENCE_STACK);
  if (!reference || reference.add.p50Ms <= 0 || reference.add.p99Ms <= 0) return [];
  return [...churns].filter(([stack]) => stack !== REFERENCE_STACK).map(([stack, churn]) =>
    `pod churn ${stack} / reference: RunPodSandbox p50 ${(churn.add.p50Ms / reference.add.p50Ms).toFixed(2)}× (${churn.add.p50Ms} / ${reference.add.p50Ms} ms), `
    + `p99 ${(churn.add.p99Ms / reference.add.p99Ms).toFixed(2)}× (${churn.add.p99Ms} / ${reference.add.p99Ms} ms)`);
}

/**
 * The specs this machine cannot run. The suite's SCTP servers need SCTP sockets, and a kernel
 * without SCTP (this project's machines: no modules at all) refuses them (EPROTONOSUPPORT): their
 * pods never start. Asked of the kernel, so a machine with SCTP runs them.
 */
export async function unrunnableHere(): Promise<Unrunnable[]> {
  const probe = await exec(['python3', '-c', 'import socket; socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()'], { allowFailure: true });
  return probe.code === 0 ? [] : [{ pattern: '\\[Feature:SCTPConnectivity\\]', reason: 'this kernel has no SCTP (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) is refused), so the SCTP servers cannot start' }];
}

/** A suite run as one summary row; a non-zero exit with no failed spec (a suite-level failure) counts as one. */
export function summarize(suite: string, stack: string, run: Pick<E2eRun, 'cases' | 'exitCode' | 'output'>): SuiteSummary {
  const count = (states: readonly E2eCase['state'][]) => run.cases.filter((c) => states.includes(c.state)).length;
  const failures = run.cases.filter((c) => c.failure !== undefined).map((c) => `${c.name}: ${c.failure}`);
  if (run.exitCode !== 0 && failures.length === 0) failures.push(`e2e.test exited ${run.exitCode} with no failed spec; see ${run.output}`);
  return {
    suite,
    stack,
    passed: count(['passed']),
    failed: Math.max(run.cases.length - count(['passed', 'skipped', 'pending']), failures.length),
    skipped: count(['skipped', 'pending']),
    seconds: run.cases.reduce((sum, c) => sum + c.seconds, 0),
    failures,
    notRun: run.cases.filter((c) => c.notRun !== undefined).map((c) => `${c.name}: ${c.notRun}`),
  };
}

/** Checks (pass or fail each) as one summary row. */
export function checksSummary(suite: string, stack: string, results: readonly CheckResult[]): SuiteSummary {
  const failed = results.filter((r) => !r.ok && !r.skipped);
  return {
    suite, stack,
    passed: results.filter((r) => r.ok && !r.skipped).length,
    failed: failed.length,
    skipped: results.filter((r) => r.skipped).length,
    seconds: 0,
    failures: failed.map((r) => `${r.name}: ${r.detail}`),
  };
}

/** The summary table, one row per suite and stack, then each failure. */
export function formatSummary(rows: readonly SuiteSummary[]): string {
  const header = ['suite', 'stack', 'passed', 'failed', 'skipped', 'time'];
  const cells = rows.map((r) => [r.suite, r.stack, String(r.passed), String(r.failed), String(r.skipped), `${Math.round(r.seconds / 60)} min`]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: readonly string[]) => `| ${c.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...cells.map(line),
    ...rows.flatMap((r) => (r.notRun ?? []).map((n) => `NOT RUN ${r.stack}: ${n}`)),
    ...rows.flatMap((r) => r.failures.map((f) => `FAILED ${r.stack}: ${f}`)),
  ].join('\n');
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      stack: { type: 'string', default: 'all' },
      focus: { type: 'string', default: NETPOL_FOCUS },
      skip: { type: 'string' },
      churn: { type: 'string', default: '500' },
      'churn-wave': { type: 'string', default: String(DEFAULT_PODS_PER_WAVE) },
      procs: { type: 'string', default: '3' },
      'no-cni': { type: 'boolean', default: false },
      out: { type: 'string', default: path.join(REPO_ROOT, 'dist', 'conformance', 'reports') },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(`npm run conformance -- [--stack flannel,calico,reference|all] [--focus REGEX] [--skip REGEX] [--churn PODS_PER_NODE] [--churn-wave ${DEFAULT_PODS_PER_WAVE}] [--procs 3] [--no-cni] [--out DIR]`);
    return 0;
  }
  const churn = Number(values.churn);
  if (!Number.isInteger(churn) || churn < 0 || churn > 5000) throw new Error(`--churn: "${values.churn}" is not valid; expected 0 to 5000 pods per node`);
  // The reference runs only a churn: with none, --stack all leaves it out and --stack reference is refused.
  const stacks = values.stack === 'all' ? ['flannel', 'calico', ...(churn > 0 ? [REFERENCE_STACK] : [])] : values.stack!.split(',');
  for (const stack of stacks) {
    if (!(stack in CONFORMANCE_STACKS) && stack !== REFERENCE_STACK) throw new Error(`--stack: "${stack}" is not valid; expected flannel, calico, reference (a comma-separated list of them) or all`);
    if (stack === REFERENCE_STACK && churn === 0) throw new Error('--stack: "reference" is not valid with --churn 0; expected a churn to measure (the reference runs no e2e suite)');
  }
  const churnWave = Number(values['churn-wave']);
  if (!Number.isInteger(churnWave) || churnWave < 1 || churnWave > 1000) throw new Error(`--churn-wave: "${values['churn-wave']}" is not valid; expected 1 to 1000 pods per node in one wave`);
  const procs = Number(values.procs);
  if (!Number.isInteger(procs) || procs < 1 || procs > 16) throw new Error(`--procs: "${values.procs}" is not valid; expected 1 to 16 ginkgo processes`);
  const started = Date.now();
  const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}`);
  await npmRun('images', log);
  await npmRun('synth', log);
  const rows: SuiteSummary[] = [];
  const churns = new Map<string, PodChurnReport>();
  for (const stack of stacks) {
    try {
      const result = stack === REFERENCE_STACK
        ? await runReferenceChurn({ churn, churnWave, outDir: values.out!, log })
        : await runStack(stack as ConformanceStack, { focus: values.focus!, skip: values.skip, churn, churnWave, procs, outDir: values.out!, log });
      rows.push(...result.summaries);
      if (result.churn) churns.set(stack, result.churn);
    } catch (error) {
      rows.push({ suite: 'e2e', stack, passed: 0, failed: 1, skipped: 0, seconds: 0, failures: [error instanceof Error ? error.message : String(error)] });
    }
  }
  if (!values['no-cni']) {
    const cniStarted = Date.now();
    const checks = await cniContract({ log });
    rows.push({ ...checksSummary('CNI contract: cnitool ADD/CHECK/DEL/GC/STATUS, portmap + bandwidth', 'both, executable and shim+server', checks), seconds: (Date.now() - cniStarted) / 1000 });
  }
  console.log(formatSummary(rows));
  for (const line of churnRatios(churns)) console.log(line);
  console.log(`reports: ${values.out}`);
  return rows.some((r) => r.failed > 0) ? 1 : 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (error: unknown) => {
    console.error(`conformance: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
