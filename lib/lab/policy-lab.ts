import { ChildProcessWithoutNullStreams, spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as readline from 'readline';
import { PolicyEngine, SyncResult } from '../dataplane/policy/engine';
import { evaluate } from '../dataplane/policy/evaluate';
import { PolicyIndex } from '../dataplane/policy/selection';
import { NamedPort, Policy, PolicyEndpoint, PolicyNamespace, PolicyNetworkSet, PolicyServiceAccount, PolicyTier, PolicyWorld } from '../dataplane/policy/types';
import { ipBatch, run } from './exec';
import { destroyNetnsSync, newLabId, track, untrack } from './resources';

/**
 * `calico`: pods on `cali*` veths with /32 routes and proxy ARP, policy dispatched per interface.
 * `flannel`: pods on the `cni0` bridge, policy dispatched per pod address through br_netfilter.
 */
export type PolicyLabStack = 'calico' | 'flannel';
export type ProbeProtocol = 'TCP' | 'UDP' | 'SCTP' | 'ICMP';

export interface PolicyLabPodSpec {
  readonly namespace: string;
  readonly name: string;
  /** @default {} */
  readonly labels?: Readonly<Record<string, string>>;
  /** @default 'default' */
  readonly serviceAccount?: string;
  /** Ports the pod serves (echo); named ones can be used in policies. @default - none */
  readonly ports?: readonly NamedPortSpec[];
}

export interface NamedPortSpec {
  readonly port: number;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  /** @default - unnamed */
  readonly name?: string;
}

export interface PolicyLabSpec {
  readonly namespaces: readonly PolicyNamespace[];
  readonly pods: readonly PolicyLabPodSpec[];
  /** @default - none */
  readonly serviceAccounts?: readonly PolicyServiceAccount[];
}

export interface PolicyLabOptions {
  /** @default 'calico' */
  readonly stack?: PolicyLabStack;
  /** The engine's backend: nftables, or the ipset + iptables fallback. @default 'nft' */
  readonly backend?: 'nft' | 'iptables';
}

export interface LabPolicyPod extends PolicyLabPodSpec {
  readonly netns: string;
  readonly ip: string;
  readonly interfaceName: string;
}

/** One probe case of a truth table: a destination port (none for ICMP) and protocol. */
export interface ProbeCase {
  readonly protocol: ProbeProtocol;
  readonly port?: number;
}

export interface TruthTable {
  readonly probe: ProbeCase;
  /** `namespace/name`, rows are sources, columns destinations. */
  readonly pods: readonly string[];
  readonly expected: readonly (readonly (boolean | undefined)[])[];
  readonly observed: readonly (readonly (boolean | undefined)[])[];
}

const SUBNET = '10.66.0';
/** The SCTP probe helper (raw sockets; see the file). */
export const SCTP_HELPER = path.join(__dirname, 'policy-sctp.py');

/** Bundles the pod program (policy-pod.ts) into `dir`; returns the file to run with node. */
export async function bundlePolicyPod(dir: string): Promise<string> {
  const esbuild = await import('esbuild');
  const out = path.join(dir, 'policy-pod.js');
  await esbuild.build({ entryPoints: [path.join(__dirname, 'policy-pod.ts')], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error' });
  return out;
}

/** What the pod program serves for these ports. */
export function podProgramSpec(ports: readonly NamedPortSpec[]): object {
  const serve = (proto: string) => [...new Set(ports.filter((p) => p.protocol === proto).map((p) => p.port))];
  return { tcp: serve('TCP'), udp: serve('UDP'), sctp: serve('SCTP'), sctpHelper: SCTP_HELPER };
}
const podKey = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/**
 * A one-node policy lab: a node namespace that routes (or bridges) between pod namespaces and
 * enforces policy with the real engine; every pod runs an echo server on its ports and probes on
 * request. Expected verdicts come from the reference evaluator, observed ones from real packets.
 */
export class PolicyLab {
  public static async create(spec: PolicyLabSpec, options: PolicyLabOptions = {}): Promise<PolicyLab> {
    const lab = new PolicyLab(spec, options.stack ?? 'calico', options.backend ?? 'nft');
    track(lab);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  public readonly id = newLabId();
  public readonly dir = path.join(os.tmpdir(), this.id);
  public readonly nodeNetns = `${this.id}-node`;
  public readonly pods: LabPolicyPod[] = [];
  public readonly engine: PolicyEngine;
  private namespaces: PolicyNamespace[];
  private policies: Policy[] = [];
  private networkSets: PolicyNetworkSet[] = [];
  private tiers: PolicyTier[] = [];
  private readonly agents = new Map<string, PodAgent>();
  private readonly netnsList: string[] = [];
  private nextHost = 2;
  private bundle = '';

  private constructor(private readonly spec: PolicyLabSpec, public readonly stack: PolicyLabStack, backend: 'nft' | 'iptables') {
    this.namespaces = [...spec.namespaces];
    this.engine = new PolicyEngine({ mode: stack === 'calico' ? 'interface' : 'address', netns: this.nodeNetns, backend });
  }

  private async build(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    this.bundle = await bundlePolicyPod(this.dir);
    await run(['ip', 'netns', 'add', this.nodeNetns]);
    this.netnsList.push(this.nodeNetns);
    const sysctls = ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'];
    if (this.stack === 'flannel') {
      await ipBatch(['link add cni0 type bridge', `addr add ${SUBNET}.1/24 dev cni0`, 'link set cni0 up', 'link set lo up'], this.nodeNetns);
      sysctls.push('net.bridge.bridge-nf-call-iptables=1');
    } else {
      // Proxy ARP answers for 169.254.1.1 only when the node has a route to it, as a real node's default route gives.
      await ipBatch(['link set lo up', 'link add uplink0 type veth peer name uplink1', 'link set uplink1 up', 'link set uplink0 up', 'route add default dev uplink0'], this.nodeNetns);
    }
    await run(['ip', 'netns', 'exec', this.nodeNetns, 'sysctl', '-q', '-w', ...sysctls]);
    await Promise.all(this.spec.pods.map((p) => this.startPod(p)));
    await this.engine.sync(this.world());
    // Resolve neighbours once (ARP on the bridge) so that first probes do not race it.
    await this.truthTables([{ protocol: 'ICMP' }], 1000, 0);
  }

  /** The world the engine and the evaluator see. */
  public world(): PolicyWorld {
    return {
      namespaces: this.namespaces,
      endpoints: this.pods.map((p) => this.endpoint(p)),
      policies: this.policies,
      networkSets: this.networkSets,
      tiers: this.tiers,
      serviceAccounts: this.spec.serviceAccounts ?? [],
    };
  }

  private endpoint(p: LabPolicyPod): PolicyEndpoint {
    const ports: NamedPort[] = (p.ports ?? []).filter((x) => x.name).map((x) => ({ name: x.name as string, port: x.port, protocol: x.protocol }));
    return { namespace: p.namespace, name: p.name, labels: p.labels ?? {}, addresses: [p.ip], serviceAccount: p.serviceAccount, ports, interfaceName: p.interfaceName };
  }

  /** Replaces the policies (and network sets) and enforces them. */
  public setPolicies(policies: readonly Policy[], networkSets: readonly PolicyNetworkSet[] = [], tiers: readonly PolicyTier[] = []): Promise<SyncResult> {
    this.policies = [...policies];
    this.networkSets = [...networkSets];
    this.tiers = [...tiers];
    return this.engine.sync(this.world());
  }

  public setNamespaceLabels(name: string, labels: Readonly<Record<string, string>>): Promise<SyncResult> {
    this.namespaces = [...this.namespaces.filter((n) => n.name !== name), { name, labels }];
    return this.engine.sync(this.world());
  }

  public setPodLabels(key: string, labels: Readonly<Record<string, string>>): Promise<SyncResult> {
    const i = this.pods.findIndex((p) => podKey(p) === key);
    if (i < 0) throw new Error(`policy lab: no pod ${key}`);
    this.pods[i] = { ...this.pods[i], labels };
    return this.engine.sync(this.world());
  }

  public async addPod(spec: PolicyLabPodSpec): Promise<SyncResult> {
    await this.startPod(spec);
    return this.engine.sync(this.world());
  }

  public async removePod(key: string): Promise<SyncResult> {
    const pod = this.pods.find((p) => podKey(p) === key);
    if (!pod) throw new Error(`policy lab: no pod ${key}`);
    this.agents.get(key)?.stop();
    this.agents.delete(key);
    this.pods.splice(this.pods.indexOf(pod), 1);
    destroyNetnsSync(pod.netns);
    return this.engine.sync(this.world());
  }

  public pod(key: string): LabPolicyPod {
    const pod = this.pods.find((p) => podKey(p) === key);
    if (!pod) throw new Error(`policy lab: no pod ${key}`);
    return pod;
  }

  private async startPod(spec: PolicyLabPodSpec): Promise<void> {
    if (this.nextHost > 254) throw new Error('policy lab: at most 253 pods');
    const host = this.nextHost++;
    const ip = `${SUBNET}.${host}`;
    const netns = `${this.id}-p${host}`;
    const interfaceName = this.stack === 'calico'
      ? `cali${createHash('sha1').update(`${spec.namespace}.${spec.name}`).digest('hex').slice(0, 11)}`
      : `veth${host}`;
    const pod: LabPolicyPod = { ...spec, netns, ip, interfaceName };
    this.pods.push(pod);
    await run(['ip', 'netns', 'add', netns]);
    this.netnsList.push(netns);
    await ipBatch([`link add ${interfaceName} type veth peer name eth0 netns ${netns}`], this.nodeNetns);
    if (this.stack === 'calico') {
      await ipBatch(['link set lo up', 'link set eth0 up', `addr add ${ip}/32 dev eth0`, 'route add 169.254.1.1 dev eth0 scope link',
        'route add default via 169.254.1.1 dev eth0'], netns);
      await ipBatch([`link set ${interfaceName} up`, `route add ${ip}/32 dev ${interfaceName}`], this.nodeNetns);
      await run(['ip', 'netns', 'exec', this.nodeNetns, 'sysctl', '-q', '-w', `net.ipv4.conf.${interfaceName}.proxy_arp=1`,
        `net.ipv4.neigh.${interfaceName}.proxy_delay=0`]);
    } else {
      await ipBatch(['link set lo up', 'link set eth0 up', `addr add ${ip}/24 dev eth0`, `route add default via ${SUBNET}.1 dev eth0`], netns);
      await ipBatch([`link set ${interfaceName} master cni0 up`], this.nodeNetns);
    }
    const agent = new PodAgent(netns, this.bundle, podProgramSpec(spec.ports ?? []), path.join(this.dir, `${netns}.log`));
    this.agents.set(podKey(spec), agent);
    await agent.ready;
  }

  /** Probes from one pod to targets; results in order. */
  public async probe(from: string, targets: readonly ProbeTarget[], timeoutMs = 800): Promise<boolean[]> {
    const agent = this.agents.get(from);
    if (!agent) throw new Error(`policy lab: no pod ${from}`);
    return agent.probe(targets.map((t) => ({ ip: this.pod(t.to).ip, protocol: t.protocol, port: t.port })), timeoutMs);
  }

  /** What the reference evaluator says about `from` → `to` (false for a port the target does not serve). */
  public expected(from: string, to: string, probe: ProbeCase, index = new PolicyIndex(this.world())): boolean {
    return expectedVerdict(index, this.pod(from).ip, this.pod(to), probe);
  }

  /**
   * Every pod probes every other pod for every case, all in parallel; expected next to observed.
   * Cells that disagree are probed again up to `retries` times (as the Kubernetes e2e suite
   * retries within its convergence budget), so one lost packet is not reported as a policy bug.
   */
  public truthTables(cases: readonly ProbeCase[], timeoutMs = 800, retries = 2): Promise<TruthTable[]> {
    const index = new PolicyIndex(this.world());
    return probeTruthTables(this.pods.map(podKey), (from, targets, t) => this.probe(from, targets, t),
      (from, to, c) => this.expected(from, to, c, index), cases, timeoutMs, retries);
  }

  /**
   * Applies `change` and probes `from` → `to` until the observation equals the evaluator's new
   * verdict. Returns the milliseconds from the start of the change to the first matching probe's
   * start, and the time the engine took to apply it.
   */
  public async measureChange(change: () => Promise<SyncResult>, from: string, to: string, probe: ProbeCase, limitMs = 10_000): Promise<{ applyMs: number; enforcedMs: number; result: SyncResult }> {
    const t0 = process.hrtime.bigint();
    const result = await change();
    const applyMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const want = this.expected(from, to, probe);
    for (;;) {
      const start = Number(process.hrtime.bigint() - t0) / 1e6;
      const [got] = await this.probe(from, [{ to, protocol: probe.protocol, port: probe.port }], 250);
      if (got === want) return { applyMs, enforcedMs: start, result };
      if (start > limitMs) throw new Error(`policy lab: ${from} → ${to} ${probe.protocol}/${probe.port ?? ''} still ${got ? 'allowed' : 'denied'} after ${limitMs} ms`);
    }
  }

  public async destroy(): Promise<void> {
    for (const a of this.agents.values()) a.stop();
    this.agents.clear();
    this.destroySync();
  }

  public destroySync(): void {
    for (const a of this.agents.values()) a.stop();
    for (const ns of this.netnsList.splice(0).reverse()) destroyNetnsSync(ns);
    fs.rmSync(this.dir, { recursive: true, force: true });
    untrack(this);
  }
}

export type ProbeTarget = { readonly to: string; readonly protocol: ProbeProtocol; readonly port?: number };

/** The evaluator's verdict for a probe, false when the destination does not serve that port. */
export function expectedVerdict(index: PolicyIndex, sourceIp: string, dst: { readonly ip: string; readonly ports?: readonly NamedPortSpec[] }, probe: ProbeCase): boolean {
  if (probe.protocol !== 'ICMP' && !(dst.ports ?? []).some((p) => p.port === probe.port && p.protocol === probe.protocol)) return false;
  return evaluate(index, {
    source: sourceIp, destination: dst.ip, protocol: probe.protocol, destinationPort: probe.port,
    ...(probe.protocol === 'ICMP' ? { icmpType: 8, icmpCode: 0 } : {}),
  }).allowed;
}

/** Probes every ordered pair of `keys` for every case in parallel, re-probing disagreeing cells up to `retries` times. */
export async function probeTruthTables(
  keys: readonly string[],
  probe: (from: string, targets: readonly ProbeTarget[], timeoutMs: number) => Promise<boolean[]>,
  expectedOf: (from: string, to: string, c: ProbeCase) => boolean,
  cases: readonly ProbeCase[], timeoutMs: number, retries: number,
): Promise<TruthTable[]> {
  const expected = cases.map((c) => keys.map((from) => keys.map((to) => (from === to ? undefined : expectedOf(from, to, c)))));
  const observed = cases.map(() => keys.map((from) => keys.map((to): boolean | undefined => (from === to ? undefined : false))));
  let todo = cases.flatMap((_, ci) => keys.flatMap((_f, fi) => keys.map((_t, ti) => ({ ci, fi, ti })).filter(({ ti }) => ti !== fi)));
  for (let round = 0; round <= retries && todo.length > 0; round++) {
    await Promise.all(keys.map(async (from, fi) => {
      const mine = todo.filter((t) => t.fi === fi);
      if (!mine.length) return;
      const got = await probe(from, mine.map((t) => ({ to: keys[t.ti], protocol: cases[t.ci].protocol, port: cases[t.ci].port })), timeoutMs);
      mine.forEach((t, k) => { observed[t.ci][t.fi][t.ti] = got[k]; });
    }));
    todo = todo.filter((t) => observed[t.ci][t.fi][t.ti] !== expected[t.ci][t.fi][t.ti]);
  }
  return cases.map((c, ci) => ({ probe: c, pods: [...keys], expected: expected[ci], observed: observed[ci] }));
}

/** One pod's program: echo servers plus a probe client driven over stdin/stdout. */
export class PodAgent {
  public readonly ready: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (r: boolean[]) => void>();
  private nextId = 1;

  constructor(netns: string, bundle: string, spec: object, logFile: string) {
    this.child = spawn('ip', ['netns', 'exec', netns, process.execPath, bundle, JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'pipe'] });
    const log = fs.createWriteStream(logFile);
    this.child.stderr.pipe(log);
    const lines = readline.createInterface({ input: this.child.stdout });
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`policy lab pod in ${netns}: not ready after 15 s (see ${logFile})`)), 15_000);
      this.child.once('exit', (code) => reject(new Error(`policy lab pod in ${netns} exited ${code} (see ${logFile})`)));
      lines.on('line', (line) => {
        if (line === 'ready') {
          clearTimeout(timer);
          resolve();
          return;
        }
        const msg = JSON.parse(line) as { id: number; results: boolean[] };
        this.waiting.get(msg.id)?.(msg.results);
        this.waiting.delete(msg.id);
      });
    });
  }

  public probe(targets: readonly { ip: string; protocol: ProbeProtocol; port?: number }[], timeoutMs: number): Promise<boolean[]> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.stdin.write(`${JSON.stringify({ id, timeoutMs, targets })}\n`);
    });
  }

  public stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** The k8s e2e-style matrix: `.` allowed, `X` denied; a cell where observation differs from expectation shows `!`. */
export function formatTruthTable(t: TruthTable): string {
  const name = `${t.probe.protocol}${t.probe.port ? `/${t.probe.port}` : ''}`;
  const w = Math.max(...t.pods.map((p) => p.length));
  const cell = (v: boolean | undefined) => (v === undefined ? '-' : v ? '.' : 'X');
  const columns = t.pods.map((_, i) => String(i).padStart(2)).join(' ');
  const header = `${' '.repeat(w + 3)}  ${columns}`;
  const lines = [`${name}: expected | observed${mismatches(t) ? `  (${mismatches(t)} mismatch${mismatches(t) > 1 ? 'es' : ''})` : ''}`, `${header}    ${columns}`];
  t.pods.forEach((p, i) => {
    const exp = t.expected[i].map((v) => ` ${cell(v)}`).join(' ');
    const obs = t.observed[i].map((v, j) => ` ${v === t.expected[i][j] ? cell(v) : '!'}`).join(' ');
    lines.push(`${String(i).padStart(2)} ${p.padEnd(w)}  ${exp}    ${obs}`);
  });
  return lines.join('\n');
}

export function mismatches(t: TruthTable): number {
  let n = 0;
  t.expected.forEach((row, i) => row.forEach((v, j) => { if (v !== t.observed[i][j]) n++; }));
  return n;
}
