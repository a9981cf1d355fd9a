import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import type { ClusterLab } from '../cluster/cluster-lab';
import { run } from '../exec';

/** One spec of the upstream e2e suite, as ginkgo's JSON report gives it. */
export interface E2eCase {
  /** The full name, e.g. `[sig-network] Netpol NetworkPolicy between server and client should …`. */
  readonly name: string;
  readonly state: 'passed' | 'failed' | 'skipped' | 'pending' | 'panicked' | 'interrupted' | 'aborted' | 'timedout';
  readonly seconds: number;
  /** The failure's message and location, when it did not pass. */
  readonly failure?: string;
  /** Why it was not run here, for a spec left out as unrunnable. */
  readonly notRun?: string;
}

/** Specs that cannot run on this machine: a regular expression of their names and the reason. */
export interface Unrunnable {
  readonly pattern: string;
  readonly reason: string;
}

export interface E2eRunOptions {
  /** `go test -c k8s.io/kubernetes/test/e2e`. */
  readonly e2eTest: string;
  /** The ginkgo CLI the suite was written with: runs `e2eTest` in `procs` processes. */
  readonly ginkgo: string;
  /** Parallel ginkgo processes (specs not marked [Serial] run side by side). @default 1 */
  readonly procs?: number;
  /** When ginkgo interrupts the run (the specs left are reported as not run). @default 360 */
  readonly timeoutMinutes?: number;
  /** kubectl of the same release (some specs shell out to it). */
  readonly kubectl: string;
  /** `--ginkgo.focus`: the specs to run. */
  readonly focus: string;
  /** `--ginkgo.skip`. @default none */
  readonly skip?: string;
  /** Left out of the run and listed as not run, with the reason. @default none */
  readonly unrunnable?: readonly Unrunnable[];
  /** Only every `count`-th runnable spec of the focus (in name order), from `index`. @default all */
  readonly shard?: { readonly index: number; readonly count: number };
  /** Where the JUnit and JSON reports and the suite's output go. */
  readonly reportDir: string;
  readonly log: (line: string) => void;
}

export interface E2eRun {
  readonly cases: E2eCase[];
  readonly junit: string;
  readonly output: string;
  readonly exitCode: number;
}

/**
 * Runs the upstream e2e binary against the lab's cluster from the gateway namespace (where the
 * apiserver is reachable), as a conformance run does: the admin kubeconfig, the skeleton provider
 * (no cloud), ginkgo's JUnit and JSON reports. Each finished spec is logged as it ends.
 */
export async function runE2eSuite(lab: ClusterLab, options: E2eRunOptions): Promise<E2eRun> {
  fs.mkdirSync(options.reportDir, { recursive: true });
  const junit = path.join(options.reportDir, 'junit.xml');
  const json = path.join(options.reportDir, 'report.json');
  const output = path.join(options.reportDir, 'e2e.log');
  const { focus, skip, notRun } = await selectSpecs(options);
  // The ginkgo CLI runs the compiled suite, its own flags first, the suite's after `--`.
  const args = [
    'ip', 'netns', 'exec', lab.plan.gwNetns, options.ginkgo,
    `--procs=${options.procs ?? 1}`,
    `--focus=${focus}`,
    ...(skip ? [`--skip=${skip}`] : []),
    `--output-dir=${options.reportDir}`,
    `--junit-report=${path.basename(junit)}`,
    `--json-report=${path.basename(json)}`,
    '--no-color',
    `--timeout=${options.timeoutMinutes ?? 360}m`,
    options.e2eTest,
    '--',
    `--kubeconfig=${lab.kubeconfig}`,
    `--kubectl-path=${options.kubectl}`,
    '--provider=skeleton',
    `--report-dir=${options.reportDir}`,
    '--disable-log-dump',
    '--dump-logs-on-failure=false',
  ];
  const shard = options.shard ? ` (shard ${options.shard.index + 1} of ${options.shard.count})` : '';
  options.log(`e2e: ginkgo --procs=${options.procs ?? 1} e2e.test --focus='${options.focus}'${shard}${skip ? ` --skip='${skip}'` : ''} (output: ${output})`);
  const exitCode = await new Promise<number>((resolve, reject) => {
    const out = fs.createWriteStream(output);
    const child = spawn(args[0], args.slice(1), {
      cwd: options.reportDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KUBECONFIG: lab.kubeconfig, PATH: `${path.dirname(options.kubectl)}:${process.env.PATH ?? ''}` },
    });
    child.stderr.pipe(out, { end: false });
    // Run in parallel, ginkgo marks each finished spec with one `•` on a line of progress marks (`S`
    // for a spec the focus left out) and prints a failed spec's report on lines of its own.
    let finished = 0;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out.write(chunk);
      const marks = chunk.split('•').length - 1;
      if (marks > 0) options.log(`e2e: ${(finished += marks)} specs finished`);
      for (const line of chunk.split('\n')) {
        if (/\[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED)\]|^(Ran \d+ of \d+ Specs|SUCCESS!|FAIL!)/.test(line.trim())) options.log(`e2e: ${line.trim().slice(0, 300)}`);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => out.end(() => resolve(code ?? 1)));
  });
  if (!fs.existsSync(json)) throw new Error(`e2e: ${options.e2eTest} exited ${exitCode} without a report; see ${output}`);
  return { cases: [...parseGinkgoReport(fs.readFileSync(json, 'utf8')), ...notRun], junit, output, exitCode };
}

/**
 * What the run's ginkgo flags select: the focus less the unrunnable specs (listed as not run, from a
 * ginkgo dry run of the focus: nothing is run), or with a shard exactly that shard's specs by name.
 */
async function selectSpecs(options: E2eRunOptions): Promise<{ focus: string; skip: string; notRun: E2eCase[] }> {
  const unrunnable = options.unrunnable ?? [];
  const skip = [options.skip, ...unrunnable.map((u) => u.pattern)].filter((p) => p !== undefined).join('|');
  if (unrunnable.length === 0 && !options.shard) return { focus: options.focus, skip, notRun: [] };
  const json = path.join(options.reportDir, 'dry-run.json');
  await run([options.e2eTest, '--ginkgo.dry-run', `--ginkgo.focus=${options.focus}`, ...(options.skip ? [`--ginkgo.skip=${options.skip}`] : []),
    `--ginkgo.json-report=${json}`, '--ginkgo.no-color', '--provider=skeleton'], { timeoutMs: 120_000 });
  const specs = parseGinkgoReport(fs.readFileSync(json, 'utf8')).map((spec) => spec.name).sort();
  const reasonOf = (name: string) => unrunnable.find((u) => new RegExp(u.pattern).test(name))?.reason;
  const notRun = specs.filter((name) => reasonOf(name) !== undefined).map((name) => ({ name, state: 'skipped' as const, seconds: 0, notRun: reasonOf(name) }));
  if (!options.shard) return { focus: options.focus, skip, notRun };
  const { index, count } = options.shard;
  const mine = specs.filter((name) => reasonOf(name) === undefined).filter((_, i) => i % count === index);
  return { focus: mine.map(escapeRegExp).join('|'), skip: '', notRun };
}

/** `text` as a regular expression (RE2, as ginkgo reads it) matching itself. */
export function escapeRegExp(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

interface GinkgoSpecReport {
  readonly LeafNodeType: string;
  readonly LeafNodeText: string;
  readonly ContainerHierarchyTexts?: readonly string[] | null;
  readonly State: string;
  readonly RunTime: number;
  readonly Failure?: { readonly Message?: string; readonly Location?: { readonly FileName?: string; readonly LineNumber?: number } };
}

/** The `It` specs of a ginkgo v2 JSON report (`--ginkgo.json-report`), in report order. */
export function parseGinkgoReport(text: string): E2eCase[] {
  const suites = JSON.parse(text) as readonly { readonly SpecReports?: readonly GinkgoSpecReport[] | null }[];
  if (!Array.isArray(suites)) throw new Error('ginkgo report: expected a JSON array of suite reports');
  // Specs the focus left out are reported as skipped without a failure; a spec that skipped itself has one.
  return suites.flatMap((suite) => suite.SpecReports ?? [])
    .filter((spec) => spec.LeafNodeType === 'It' && !(spec.State === 'skipped' && !spec.Failure))
    .map((spec) => {
      const name = [...(spec.ContainerHierarchyTexts ?? []), spec.LeafNodeText].join(' ');
      const state = spec.State as E2eCase['state'];
      const where = spec.Failure?.Location?.FileName ? ` (${path.basename(spec.Failure.Location.FileName)}:${spec.Failure.Location.LineNumber ?? '?'})` : '';
      const failure = state === 'passed' || state === 'skipped' ? undefined : `${(spec.Failure?.Message ?? '').trim().split('\n')[0]}${where}`;
      return { name, state, seconds: spec.RunTime / 1e9, ...(failure !== undefined ? { failure } : {}) };
    });
}
