/**
 * Typha against the real API server: N simulated nodes follow the datastore either directly (each
 * its own list + watch per prefix, as calico-node and the policy agent do without Typha) or through
 * Typha (each one connection to one of T Typhas, which hold the only API server watches). Measures
 * the API server's open watches (its own `apiserver_longrunning_requests{verb="WATCH"}`) and the
 * fan-out latency of an update: from the write's response until every node's cache has it. The
 * reference, in the same run, is the direct mode.
 *
 * The control plane (etcd + kube-apiserver + controller-manager + scheduler, the cluster lab's,
 * built from Go modules) runs in the gateway namespace of a lab of its own; the simulated nodes and
 * the Typhas run in its node namespace (bench/typha-fanout.ts, bundled). Everything is torn down at
 * the end, on an error and on Ctrl-C (the lab toolkit's tracking). Needs root, Go and ~10 min.
 *
 *   npx ts-node --transpile-only bench/typha-fanout.bench.ts [nodes=1000] [updates=100] [typhas=3]
 */
import { ChildProcess, execSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { loadavg, tmpdir, totalmem } from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { calicoCrdYaml } from '../lib/crds/render';
import { TYPHA_PREFIXES } from '../lib/dataplane/typha/prefixes';
import { ControlPlane } from '../lib/lab/cluster/control-plane';
import { ensureKubernetes } from '../lib/lab/cluster/kubernetes';
import { inNetns } from '../lib/lab/exec';
import { destroyNetnsSync, netnsPids, newLabId, track, untrack } from '../lib/lab/resources';
import { LabPlan, planLab, wiringSteps } from '../lib/lab/topology';
import { applyWiring } from '../lib/lab/wiring';
import { machine, writeBenchmarkSection } from './report';
import { BENCH_POOL, FanoutMode, MeasuredReport, SyncedReport, percentileOf, sumMetric } from './typha-fanout';

const NODES = Number(process.argv[2] ?? 1000);
const UPDATES = Number(process.argv[3] ?? 100);
const TYPHAS = Number(process.argv[4] ?? 3);

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);

/** A child process speaking JSON lines on stdout; stderr is relayed with a prefix. */
class Role {
  public readonly child: ChildProcess;
  private readonly messages: Record<string, unknown>[] = [];
  private wake?: () => void;
  private exited = false;

  constructor(public readonly name: string, netns: string, argv: readonly string[]) {
    const full = inNetns(netns, argv);
    this.child = spawn(full[0], full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=8192' } });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        this.messages.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        log(`${name}: ${line}`);
      }
      this.wake?.();
    });
    readline.createInterface({ input: this.child.stderr! }).on('line', (line) => log(`${name}: ${line}`));
    this.child.stdin!.on('error', () => undefined);
    this.child.on('exit', () => {
      this.exited = true;
      this.wake?.();
    });
  }

  public get pid(): number {
    return this.child.pid ?? -1;
  }

  public async next<T>(event: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => m.event === event);
      if (i >= 0) return this.messages.splice(i, 1)[0] as T;
      if (this.exited) throw new Error(`${this.name} exited before reporting ${event}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${event} within ${timeoutMs / 1000} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  public send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  public async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  }
}

/** The lab: its namespaces, the control plane and the bench's processes; destroySync is safe in exit handlers. */
class FanoutLab {
  public controlPlane?: ControlPlane;
  public readonly roles = new Set<Role>();
  private destroyed = false;

  constructor(public readonly plan: LabPlan, public readonly dir: string) {}

  public get namespaces(): string[] {
    return [this.plan.switchNetns, this.plan.gwNetns, ...this.plan.nodes.map((n) => n.netns)];
  }

  public destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    untrack(this);
    for (const role of this.roles) role.child.kill('SIGKILL');
    this.controlPlane?.stopSync();
    for (const netns of [...this.namespaces].reverse()) destroyNetnsSync(netns);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** utime + stime of a process, in ms. */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
}

const CLOCK_TICKS = Number(execSync('getconf CLK_TCK', { encoding: 'utf8' }).trim()) || 100;

/** This process's soft open-file limit (a container may forbid raising it). */
function openFileLimit(): number {
  return Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? NaN);
}

function versionOf(command: string): string {
  try {
    return execSync(command, { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin` } }).split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

interface ModeResult {
  readonly mode: FanoutMode;
  readonly baselineWatches: number;
  readonly watches: number;
  readonly synced: SyncedReport;
  readonly measured?: MeasuredReport;
  readonly apiserverCpuMsPerUpdate: number;
  /** Before the mode's nodes started, and with them synced. */
  readonly apiserverRssMiB: readonly [number, number];
  readonly watchEventsPerUpdate: number;
  readonly typhaCpuMsPerUpdate?: number;
  readonly typhaRssMiB?: number;
  /** The machine's 1-minute load average at the end of the updates (it is shared). */
  readonly load: number;
  /** Typhas spawned until every one's cache had synced. */
  readonly typhaStartMs?: number;
}

async function main(): Promise<void> {
  // Direct, every node holds one socket per watch plus one for requests, in the clients process and
  // in the API server. Both inherit this process's limit (Go raises its soft limit to the hard one).
  const nofile = openFileLimit();
  if (NODES * (TYPHA_PREFIXES.length + 1) + 500 > nofile) log(`warning: ${NODES} direct nodes need about ${NODES * (TYPHA_PREFIXES.length + 1)} sockets; the open-file limit is ${nofile}`);
  const load = loadavg()[0];
  const id = newLabId();
  const plan = planLab({ id, nodes: 1 });
  const dir = fs.mkdtempSync(path.join(tmpdir(), `${id}-`));
  const lab = new FanoutLab(plan, dir);
  track(lab);
  try {
    const kubernetes = await ensureKubernetes({ log });
    log(`lab ${id}: control plane in ${plan.gwNetns}, simulated nodes in ${plan.nodes[0].netns}`);
    await applyWiring(wiringSteps(plan));
    const controlPlane = await ControlPlane.start({
      netns: plan.gwNetns, address: plan.segments[0].gateway, dir: path.join(dir, 'control-plane'), kubernetes, serviceCidrs: ['10.96.0.0/12'], log,
    });
    lab.controlPlane = controlPlane;
    const apiserverPid = netnsPids(plan.gwNetns).find((pid) => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'kube-apiserver');
    if (apiserverPid === undefined) throw new Error('kube-apiserver is not running in the lab');

    const crds = path.join(dir, 'crds.yaml');
    fs.writeFileSync(crds, calicoCrdYaml());
    await controlPlane.kubectl(['apply', '--server-side', '-f', crds], { timeoutMs: 120_000 });
    await controlPlane.kubectl(['wait', '--for=condition=established', '--timeout=60s', '-f', crds], { timeoutMs: 70_000 });
    await controlPlane.kubectl(['apply', '--server-side', '-f', '-'], {
      input: `apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata:\n  name: ${BENCH_POOL}\nspec:\n  cidr: 10.244.0.0/16\n  blockSize: 26\n  nodeSelector: all()\n`,
    });

    const bundle = path.join(dir, 'typha-fanout.js');
    const esbuild = await import('esbuild');
    await esbuild.build({ entryPoints: [path.join(__dirname, 'typha-fanout.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile: bundle, logLevel: 'error' });
    const node = plan.nodes[0].netns;
    const kubeconfig = controlPlane.adminKubeconfig;
    const metrics = async () => (await controlPlane.kubectl(['get', '--raw', '/metrics'], { timeoutMs: 60_000 })).stdout;
    const watchCount = (text: string) => sumMetric(text, 'apiserver_longrunning_requests', { verb: 'WATCH' });
    const ippoolEvents = (text: string) => sumMetric(text, 'apiserver_watch_events_total', { kind: 'IPPool' });

    const results: ModeResult[] = [];
    const idleWatches = watchCount(await metrics());
    // Typha first: Go keeps the heap the direct mode's 15,000 watches grew, which would hide Typha's own footprint.
    for (const mode of ['typha', 'direct'] as FanoutMode[]) {
      // Settle: the previous mode's watches closed.
      let before = await metrics();
      for (let i = 0; i < 30 && watchCount(before) > idleWatches + 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        before = await metrics();
      }
      const baselineWatches = watchCount(before);
      const rssBefore = rssMiB(apiserverPid);
      const typhas: Role[] = [];
      const typhaStart = Date.now();
      for (let t = 0; t < (mode === 'typha' ? TYPHAS : 0); t++) {
        const role = new Role(`typha-${t}`, node, [process.execPath, bundle, 'typha', `--kubeconfig=${kubeconfig}`, `--port=${5473 + t}`]);
        lab.roles.add(role);
        typhas.push(role);
      }
      for (const t of typhas) await t.next('ready', 120_000);
      const typhaStartMs = Date.now() - typhaStart;
      log(`${mode}: starting ${NODES} simulated nodes (${TYPHA_PREFIXES.length} prefixes each)${typhas.length ? ` on ${typhas.length} Typhas` : ''}; API server watches before: ${baselineWatches}`);
      const clients = new Role(`${mode}-clients`, node, [process.execPath, bundle, 'clients', `--kubeconfig=${kubeconfig}`, `--mode=${mode}`, `--nodes=${NODES}`,
        `--updates=${UPDATES}`, ...(typhas.length ? [`--typha=${typhas.map((_, t) => 5473 + t).join(',')}`] : [])]);
      lab.roles.add(clients);
      const synced = await clients.next<SyncedReport>('synced', 20 * 60_000);
      log(`${mode}: ${synced.synced}/${synced.nodes} nodes synced in ${(synced.syncMs / 1000).toFixed(1)} s, ${synced.errors} errors ${synced.firstErrors.join(' | ')}`);
      // Each watch is opened right after its list: wait until the count stops growing.
      const expected = mode === 'direct' ? synced.synced * TYPHA_PREFIXES.length : typhas.length * TYPHA_PREFIXES.length;
      let text = await metrics();
      for (let i = 0; i < 30 && watchCount(text) - baselineWatches < expected; i++) {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        text = await metrics();
      }
      const watches = watchCount(text);
      const rssSynced = rssMiB(apiserverPid);
      log(`${mode}: API server watches ${watches} (${watches - baselineWatches} more than before; expected ${expected})`);
      await new Promise((resolve) => setTimeout(resolve, 5000));

      const events0 = ippoolEvents(await metrics());
      const cpu0 = cpuMs(apiserverPid);
      const typhaCpu0 = typhas.map((t) => cpuMs(t.pid));
      if (synced.synced > 0) clients.send('measure');
      const measured = synced.synced > 0 ? await clients.next<MeasuredReport>('measured', 60 * 60_000) : undefined;
      const apiserverCpu = cpuMs(apiserverPid) - cpu0;
      const typhaCpu = typhas.reduce((sum, t, i) => sum + cpuMs(t.pid) - typhaCpu0[i], 0);
      const events = ippoolEvents(await metrics()) - events0;
      results.push({
        mode, baselineWatches, watches, synced, measured, load: loadavg()[0],
        apiserverCpuMsPerUpdate: apiserverCpu / UPDATES,
        apiserverRssMiB: [rssBefore, rssSynced],
        watchEventsPerUpdate: events / UPDATES,
        ...(typhas.length ? { typhaStartMs, typhaCpuMsPerUpdate: typhaCpu / UPDATES, typhaRssMiB: typhas.reduce((s, t) => s + rssMiB(t.pid), 0) / typhas.length } : {}),
      });
      if (measured) log(`${mode}: all-nodes p50 ${percentileOf(measured.allNodesMs, 50).toFixed(1)} ms, p99 ${percentileOf(measured.allNodesMs, 99).toFixed(1)} ms`);
      clients.send('stop');
      await clients.stop();
      for (const t of typhas) await t.stop();
      for (const r of [clients, ...typhas]) lab.roles.delete(r);
    }

    const info: RunInfo = {
      load, memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`, nofile, kubernetes: kubernetes.version,
      go: versionOf('go version').replace(/^go version go(\S+).*/, 'Go $1'), etcd: versionOf('etcd --version').replace(/^etcd Version: /, 'etcd '),
    };
    writeBenchmarkSection('typha-fanout', `Typha fan-out against the real API server (\`bench/typha-fanout.bench.ts\`)`, report(results, info));
  } finally {
    lab.destroySync();
  }
}

const f1 = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(1));

interface RunInfo {
  readonly load: number;
  readonly memory: string;
  readonly go: string;
  readonly etcd: string;
  readonly kubernetes: string;
  readonly nofile: number;
}

function report(measured: readonly ModeResult[], info: RunInfo): string {
  // The reference first.
  const results = [...measured].sort((a, b) => (a.mode === 'direct' ? -1 : b.mode === 'direct' ? 1 : 0));
  const direct = results.find((r) => r.mode === 'direct');
  const typha = results.find((r) => r.mode === 'typha');
  const added = (r: ModeResult) => r.watches - r.baselineWatches;
  const all = (r: ModeResult | undefined, p: number) => (r?.measured ? percentileOf(r.measured.allNodesMs, p) : undefined);
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || !b || Number.isNaN(a) || Number.isNaN(b) ? '—'
    : `${a / b >= 0.1 ? (a / b).toFixed(2) : (a / b).toPrecision(2)}×`);
  const label = (r: ModeResult) => (r.mode === 'direct' ? 'direct (reference)' : `through ${TYPHAS} Typhas`);
  const rows = results.map((r) => {
    const m = r.measured;
    const incomplete = m ? m.allNodesMs.filter((v) => Number.isNaN(v)).length : 0;
    return `| ${label(r)} | ${r.synced.synced}/${r.synced.nodes} | ${(r.synced.syncMs / 1000).toFixed(1)} s | **${added(r)}** (${r.watches}) | ${f1(all(r, 50))} | **${f1(all(r, 99))}** | ${f1(all(r, 100))} | ${f1(m?.perCache.p50)} / ${f1(m?.perCache.p99)} | ${m ? f1(percentileOf(m.writeMs, 50)) : '—'} | ${incomplete} | ${r.load.toFixed(1)} |`;
  });
  if (direct && typha) {
    rows.push(`| **ratio Typha / direct** | | ${ratio(typha.synced.syncMs, direct.synced.syncMs)} | **${ratio(added(typha), added(direct))}** | ${ratio(all(typha, 50), all(direct, 50))} | **${ratio(all(typha, 99), all(direct, 99))}** | ${ratio(all(typha, 100), all(direct, 100))} | | | | |`);
  }
  const costs = results.map((r) => {
    const m = r.measured;
    return `| ${label(r)} | ${r.watchEventsPerUpdate.toFixed(0)} | ${f1(r.apiserverCpuMsPerUpdate)} | ${r.apiserverRssMiB[0].toFixed(0)} → ${r.apiserverRssMiB[1].toFixed(0)} | ${r.typhaCpuMsPerUpdate === undefined ? '—' : f1(r.typhaCpuMsPerUpdate)} | ${r.typhaRssMiB === undefined ? '—' : r.typhaRssMiB.toFixed(0)} | ${m ? f1(m.cpuMs / UPDATES) : '—'} | ${m ? `${m.rssMiB.toFixed(0)} (${((m.rssMiB * 1024) / r.synced.nodes).toFixed(0)})` : '—'} |`;
  });
  const problems = results.flatMap((r) => [
    ...(r.synced.synced < r.synced.nodes ? [`${r.mode}: only ${r.synced.synced} of ${r.synced.nodes} nodes synced within the sync timeout; the fan-out figures are over those.`] : []),
    ...(r.synced.errors > 0 ? [`${r.mode}: ${r.synced.errors} feed errors while syncing (first: ${r.synced.firstErrors.join(' | ')}).`] : []),
    ...(r.measured && r.measured.errors > 0 ? [`${r.mode}: ${r.measured.errors} feed errors during the updates.`] : []),
  ]);
  const reading = direct && typha ? [
    `Reading: through Typha the API server holds ${added(typha)} watches for ${typha.synced.synced} nodes instead of ${added(direct)} (${ratio(added(typha), added(direct))}):`,
    `${TYPHAS} Typhas × ${TYPHA_PREFIXES.length} prefixes, whatever the node count, and it sends ${typha.watchEventsPerUpdate.toFixed(0)} IPPool events per update instead of ${direct.watchEventsPerUpdate.toFixed(0)}.`,
    `An update reaches every node in ${f1(all(typha, 50))} ms p50 / ${f1(all(typha, 99))} ms p99 through Typha against ${f1(all(direct, 50))} / ${f1(all(direct, 99))} ms direct.`,
    'Every simulated node lives in one Node process sharing the 2 cores with the API server (and the Typhas), so the all-nodes time is mostly that process taking in',
    'N events one after another (TLS + JSON per watch direct, JSON per line through Typha); on real nodes each agent takes its event in parallel, and the per-cache',
    `column is closer to what one node sees. Typha's sync excludes its own start: ${f1((typha.typhaStartMs ?? NaN) / 1000)} s from spawning the ${TYPHAS} processes until their caches had synced.`,
  ] : [];
  return [
    `${machine()} ${info.memory} RAM; ${info.go}; ${info.etcd}; Kubernetes ${info.kubernetes} (kube-apiserver built from Go modules by the cluster lab); open-file limit ${info.nofile}. Load average at start ${info.load.toFixed(1)} (the machine is shared).`,
    '',
    `${NODES} simulated nodes in one Node process, each one \`WatchCache\` of the ${TYPHA_PREFIXES.length} prefixes Typha serves (\`TYPHA_PREFIXES\`: what calico-node and the policy agent follow).`,
    '**Direct** (the reference): each node has its own `KubeClient` + `KubeCrdStore` (`storeFeed`), i.e. one list and one HTTP/1.1 watch (one TLS connection) per prefix, as an agent without Typha;',
    'a node lists its prefixes one after another over one connection (an agent lists them at once, which at 1,000 nodes in one process would exceed the open-file limit, which this container cannot raise).',
    `**Typha**: ${TYPHAS} \`TyphaServer\`s (one Node process each, one \`WatchCache\` over \`KubeCrdStore\`), nodes spread round-robin, each one \`TyphaClient\` connection.`,
    'Control plane: the cluster lab\'s etcd + kube-apiserver + controller-manager + scheduler in a lab namespace; nodes and Typhas in the lab\'s node namespace, over a veth to the API server.',
    'Every client uses the admin certificate, which API Priority and Fairness exempts: a real calico-node\'s service account would have its start-up lists queued.',
    `Watches = the API server's own \`apiserver_longrunning_requests{verb="WATCH"}\` with the nodes synced, minus before (in brackets: the total, with the controllers' own, which they renew now and then: ±1–2).`,
    `Fan-out: ${UPDATES} merge-patches of one IPPool's \`spec.nodeSelector\`, one at a time (100 ms apart); for each, the time from the PATCH response until every node's cache holds that resourceVersion`,
    `(percentiles over the ${UPDATES} updates). "Per cache" = every (update, node) delivery; one seen before the writer read its response counts as negative. Sync = first node started until all synced (20 at a time).`,
    'Load = the machine\'s 1-minute load average at the end of the updates: other work on this shared 2-CPU machine (a cluster lab, say) slows the mode it overlaps.',
    '',
    '| mode | nodes synced | sync | API server watches | all nodes p50 ms | all nodes p99 ms | all nodes max ms | per cache p50 / p99 ms | PATCH p50 ms | updates not seen by all in 60 s | load |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Cost per update: CPU from `/proc/<pid>/stat` over the update phase ÷ updates (the 100 ms pauses included, so the idle background — leases, pings — is in it);',
    'IPPool events from the API server\'s `apiserver_watch_events_total{kind="IPPool"}` (the controller-manager\'s own IPPool watchers included).',
    'The Typha mode runs first, so that its API server RSS is not the heap Go kept from the direct mode\'s watches.',
    '',
    '| mode | IPPool events sent by the API server | API server CPU ms | API server RSS MiB, before → nodes synced | Typha CPU ms (all) | RSS per Typha MiB | nodes\' process CPU ms | nodes\' process RSS MiB (KiB per node) |',
    '|---|---|---|---|---|---|---|---|',
    ...costs,
    ...(problems.length ? ['', ...problems] : []),
    ...(reading.length ? ['', ...reading] : []),
  ].join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
