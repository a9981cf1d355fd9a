import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { Etcd3 } from 'etcd3';
import { inNetns, run, RunResult } from './exec';
import { parseSubnetEnv } from '../dataplane/flannel/subnet-env';
import { LabProcess } from './process';
import { destroyNetnsSync, newLabId, sweepStaleLabs, track, untrack } from './resources';
import { LabNodePlan, LabPlan, LabTopologyKind, planLab, wiringSteps } from './topology';
import { applyWiring } from './wiring';
import { bundleLabBinaries, LabBinaries } from './bundle';
import { allPairs, ConnectivityReport, PairResult } from './report';

export interface LabOptions {
  /** Number of nodes. */
  readonly nodes: number;
  /** @default 'flat' (one L2 segment) */
  readonly topology?: LabTopologyKind;
  /** Segment (0 or 1) of each node in the two-subnets topology. @default first half on 0, the rest on 1 */
  readonly segments?: readonly number[];
  /** The flannel `Backend` object written to etcd's `<prefix>/config`. @default `{ Type: 'vxlan' }` */
  readonly backend?: Readonly<Record<string, string | number | boolean>>;
  /** @default '10.244.0.0/16' */
  readonly network?: string;
  /** Dual-stack: the IPv6 pod network (net-conf.json `IPv6Network`, `EnableIPv6: true`). @default IPv4 only */
  readonly ipv6Network?: string;
  /** @default '/coreos.com/network' */
  readonly etcdPrefix?: string;
  /** Start one agent per node during `create`. @default true */
  readonly startAgents?: boolean;
  /** Agents' periodic resync. @default 2 (seconds) */
  readonly resyncSeconds?: number;
  /** Masquerade traffic leaving the pod network (the agent's --ip-masq). @default true */
  readonly ipMasq?: boolean;
  /** Extra agent flags for every node. @default none */
  readonly agentArgs?: readonly string[];
  /**
   * Run the agents in Kubernetes mode against this API server (e.g. a test double on the
   * harness's loopback) instead of etcd mode: each node reaches it through a port forward on its
   * own 127.0.0.1:6443, and the net-conf.json is written to a file. @default etcd mode
   */
  readonly kubeApiUrl?: string;
  /** Keep the temp dir (logs) after destroy. @default false */
  readonly keepFiles?: boolean;
  /** The CNI network configuration for a node's pods (e.g. the Calico-style stack's). @default flannel's `cbr0` shape */
  readonly cniConfig?: (node: LabNode) => Record<string, unknown>;
  /** The CNI plugin pods are added with: `calico` is apps/cni-calico.ts. @default 'flannel' (apps/cni-plugin.ts) */
  readonly cniPlugin?: 'flannel' | 'calico';
}

export interface LabNode extends LabNodePlan {
  /** Per-node files: subnet.env, agent state, CNI data, logs. */
  readonly dir: string;
  readonly subnetFile: string;
}

export interface LabPod {
  readonly name: string;
  readonly netns: string;
  readonly node: LabNode;
  /** The pod's IPv4 address (without prefix). */
  readonly ip: string;
  /** The pod's IPv6 address in a dual-stack lab. */
  readonly ip6?: string;
  readonly containerId: string;
}

/** A TCP stream between two pods (see programs/stream.ts). */
export interface LabStream {
  /** Echoes received so far over the one connection. */
  received(): number;
  /** The error that ended the stream, if it ended. */
  error(): string | undefined;
  /** Resolves once at least `count` more echoes than now arrived; rejects if the stream broke. */
  advance(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export const ECHO_PORT = 7777;
/** Where a node's agent finds the Kubernetes API in kubeApiUrl mode. */
export const KUBE_API_PORT = 6443;
const AGENT_HEALTH_PORT = 8081;

/**
 * An N-node flannel cluster on one machine, built from network namespaces (see docs/lab.md).
 * Create it with `Lab.create`, always `destroy()` it (exit and signal handlers do it otherwise).
 */
export class Lab {
  public static async create(options: LabOptions): Promise<Lab> {
    sweepStaleLabs();
    const id = newLabId();
    const plan = planLab({ id, nodes: options.nodes, topology: options.topology, segments: options.segments });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${id}-`));
    const lab = new Lab(plan, dir, options);
    track(lab);
    try {
      await applyWiring(wiringSteps(plan));
      lab.binaries = await bundleLabBinaries(path.join(dir, 'bin'));
      await lab.startEtcd();
      await lab.writeNetworkConfig();
      if (options.kubeApiUrl) await Promise.all(lab.nodes.map((node) => lab.forwardToHarness(node, KUBE_API_PORT, new URL(options.kubeApiUrl!))));
      if (options.startAgents ?? true) await lab.startAgents();
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return lab;
  }

  public readonly nodes: LabNode[];
  public readonly pods: LabPod[] = [];
  public readonly etcdPrefix: string;
  private binaries!: LabBinaries;
  private etcdClient?: Etcd3;
  private readonly agents = new Map<string, LabProcess>();
  private readonly processes = new Set<LabProcess>();
  private etcdProcess?: LabProcess;
  private readonly servers: net.Server[] = [];
  /** Every namespace the lab created and still owns. */
  public readonly namespaces: string[];
  private destroyed = false;

  private constructor(public readonly plan: LabPlan, public readonly dir: string, private readonly options: LabOptions) {
    this.etcdPrefix = options.etcdPrefix ?? '/coreos.com/network';
    this.nodes = plan.nodes.map((node) => {
      const nodeDir = path.join(dir, node.name);
      fs.mkdirSync(nodeDir, { recursive: true });
      return { ...node, dir: nodeDir, subnetFile: path.join(nodeDir, 'subnet.env') };
    });
    this.namespaces = [plan.switchNetns, plan.gwNetns, ...plan.nodes.map((n) => n.netns)];
  }

  public get id(): string {
    return this.plan.id;
  }

  /** The bundled executables (agents, CNI plugin, helper programs) this lab runs. */
  public get binaryPaths(): LabBinaries {
    return this.binaries;
  }

  /** A client for the lab's etcd (reached over a unix socket, so the harness needs no route into the lab). */
  public get etcd(): Etcd3 {
    if (!this.etcdClient) this.etcdClient = new Etcd3({ hosts: `unix://${this.etcdSocket}` });
    return this.etcdClient;
  }

  public node(name: string): LabNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`lab: no node ${name}`);
    return node;
  }

  // ---------- agents ----------

  /** Starts every node's agent and waits until each has written its subnet file. */
  public async startAgents(): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.startAgent(node)));
  }

  /** The flags the lab gives a node's agent. */
  public agentArgs(node: LabNode): string[] {
    const datastore = this.options.kubeApiUrl
      ? ['--kube-subnet-mgr', `--kube-api-url=http://127.0.0.1:${KUBE_API_PORT}`, `--net-config-path=${path.join(this.dir, 'net-conf.json')}`]
      : [`--etcd-endpoints=${this.plan.etcdEndpoint}`, `--etcd-prefix=${this.etcdPrefix}`];
    return [
      ...datastore,
      `--iface=${node.uplink}`,
      `--subnet-file=${node.subnetFile}`,
      `--state-dir=${path.join(node.dir, 'state')}`,
      `--healthz-port=${AGENT_HEALTH_PORT}`,
      `--resync-interval=${this.options.resyncSeconds ?? 2}`,
      `--node-name=${node.name}`,
      ...((this.options.ipMasq ?? true) ? ['--ip-masq'] : []),
      ...(this.options.agentArgs ?? []),
    ];
  }

  /** Starts the node's agent; resolves once it reports ready (subnet file written). */
  public async startAgent(node: LabNode, extraArgs: readonly string[] = []): Promise<LabProcess> {
    if (this.agents.get(node.name)?.running) throw new Error(`lab: agent on ${node.name} is already running`);
    const agent = this.spawn(`agent-${node.name}`, node.netns, ['node', required(this.binaries.agent, 'apps/flannel-agent.ts'), ...this.agentArgs(node), ...extraArgs], node.dir);
    this.agents.set(node.name, agent);
    await agent.waitForLine(/"msg":"ready"/, 30_000);
    return agent;
  }

  /** Stops the node's agent with `signal` (SIGKILL simulates a crash). */
  public async stopAgent(node: LabNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | undefined> {
    const agent = this.agents.get(node.name);
    if (!agent) return undefined;
    this.agents.delete(node.name);
    return agent.stop(signal);
  }

  /** Sends `signal` to the lab's etcd: SIGSTOP freezes it (connections stay open, nothing answers), SIGCONT thaws it. */
  public signalEtcd(signal: NodeJS.Signals): void {
    if (!this.etcdProcess?.running) throw new Error('lab: etcd is not running');
    this.etcdProcess.child.kill(signal);
  }

  /** Kills etcd (SIGKILL, a crash) and starts it again on the same data directory; resolves once it answers. */
  public async restartEtcd(): Promise<void> {
    const old = this.etcdProcess;
    if (old) {
      await old.stop('SIGKILL');
      this.processes.delete(old);
    }
    fs.rmSync(this.etcdSocket, { force: true });
    await this.startEtcd();
  }

  public agent(node: LabNode): LabProcess | undefined {
    return this.agents.get(node.name);
  }

  /** Fetches a path from the node agent's health server, from inside the node namespace. */
  public async agentHttp(node: LabNode, urlPath: string): Promise<{ status: number; body: string }> {
    const script = `fetch('http://127.0.0.1:${AGENT_HEALTH_PORT}${urlPath}').then(async r=>{process.stdout.write(JSON.stringify({status:r.status,body:await r.text()}))}).catch(e=>{process.stdout.write(JSON.stringify({status:0,body:String(e)}))})`;
    const out = await run(inNetns(node.netns, ['node', '-e', script]));
    return JSON.parse(out.stdout) as { status: number; body: string };
  }

  /**
   * Takes a node out of the cluster the way an operator would in etcd mode: its agent stops and
   * its lease is deleted, then its namespaces go. Peers must drop its routes on their next sync.
   */
  public async removeNode(node: LabNode): Promise<void> {
    await this.stopAgent(node);
    const leases = await this.etcd.getAll().prefix(`${this.etcdPrefix}/subnets/`).strings();
    for (const [key, value] of Object.entries(leases)) {
      if ((JSON.parse(value) as { PublicIP?: string }).PublicIP === node.address) await this.etcd.delete().key(key);
    }
    for (const pod of this.pods.filter((p) => p.node.name === node.name)) destroyNetnsSync(pod.netns);
    this.pods.splice(0, this.pods.length, ...this.pods.filter((p) => p.node.name !== node.name));
    destroyNetnsSync(node.netns);
    this.nodes.splice(this.nodes.indexOf(node), 1);
  }

  // ---------- pods ----------

  /** Creates a pod namespace on `node` through the real CNI plugin and starts its echo server. */
  public async addPod(node: LabNode, name = `${node.name}p${this.pods.filter((p) => p.node === node).length + 1}`): Promise<LabPod> {
    const netns = `${this.id}-${name}`;
    await run(['ip', 'netns', 'add', netns]);
    this.namespaces.push(netns);
    await run(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
    const containerId = `${this.id}-${name}`;
    const result = await this.cni(node, 'ADD', containerId, netns);
    const ips = (result as { ips?: Array<{ address: string }> }).ips ?? [];
    const v4 = ips.map((i) => i.address.split('/')[0]).find((a) => !a.includes(':'));
    if (!v4) throw new Error(`lab: CNI ADD for ${name} returned no IPv4 address: ${JSON.stringify(result)}`);
    const v6 = ips.map((i) => i.address.split('/')[0]).find((a) => a.includes(':'));
    const pod: LabPod = { name, netns, node, ip: v4, ...(v6 ? { ip6: v6 } : {}), containerId };
    const echo = this.spawn(`echo-${name}`, netns, ['node', this.binaries.echoServer, String(ECHO_PORT)], node.dir);
    await echo.waitForLine(/^listening$/);
    this.pods.push(pod);
    return pod;
  }

  /** Removes a pod through CNI DEL and deletes its namespace. */
  public async deletePod(pod: LabPod): Promise<void> {
    await this.cni(pod.node, 'DEL', pod.containerId, pod.netns);
    destroyNetnsSync(pod.netns);
    this.pods.splice(this.pods.indexOf(pod), 1);
  }

  /** The CNI network configuration the lab hands the plugin for `node` (flannel's `cbr0` shape). */
  public cniConfig(node: LabNode): Record<string, unknown> {
    if (this.options.cniConfig) return this.options.cniConfig(node);
    return {
      cniVersion: '1.0.0',
      name: 'cbr0',
      type: 'flannel',
      subnetFile: node.subnetFile,
      dataDir: path.join(node.dir, 'cni'),
      delegate: { hairpinMode: true, isDefaultGateway: true },
    };
  }

  /** Runs the CNI plugin in the node namespace; returns its parsed stdout. */
  public async cni(node: LabNode, command: string, containerId: string, podNetns: string): Promise<unknown> {
    const plugin = this.options.cniPlugin === 'calico'
      ? required(this.binaries.calicoCniPlugin, 'apps/cni-calico.ts')
      : required(this.binaries.cniPlugin, 'apps/cni-plugin.ts');
    const result = await run(inNetns(node.netns, ['node', plugin]), {
      input: JSON.stringify(this.cniConfig(node)),
      allowFailure: true,
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: containerId,
        CNI_NETNS: `/var/run/netns/${podNetns}`,
        CNI_IFNAME: 'eth0',
        CNI_PATH: ['/usr/lib/cni', '/opt/cni/bin'].join(':'),
      },
    });
    if (result.code !== 0) throw new Error(`lab: CNI ${command} on ${node.name} failed (${result.code}): ${result.stdout.trim()} ${result.stderr.trim()}`);
    return result.stdout.trim() ? JSON.parse(result.stdout) : {};
  }

  // ---------- connectivity ----------

  /** Probes every pod from every other pod (ICMP and/or TCP echo) and reports each pair. */
  public async connectivity(options: { icmp?: boolean; tcp?: boolean; timeoutMs?: number; family?: 4 | 6 } = {}): Promise<ConnectivityReport> {
    const icmp = options.icmp ?? true;
    const tcp = options.tcp ?? true;
    const ipOf = (pod: LabPod): string => {
      if (options.family !== 6) return pod.ip;
      if (!pod.ip6) throw new Error(`lab: pod ${pod.name} has no IPv6 address (create the lab with ipv6Network)`);
      return pod.ip6;
    };
    const pairs = await Promise.all(
      this.pods.map(async (from): Promise<PairResult[]> => {
        const targets = this.pods.filter((p) => p !== from);
        if (targets.length === 0) return [];
        const request = { targets: targets.map((t) => ({ ip: ipOf(t), port: ECHO_PORT })), icmp, tcp, timeoutMs: options.timeoutMs ?? 2000 };
        const out = await run(inNetns(from.netns, ['node', this.binaries.probe, JSON.stringify(request)]));
        const results = (JSON.parse(out.stdout) as { results: Array<{ ip: string; icmp?: boolean; tcp?: boolean; error?: string }> }).results;
        return results.map((r) => ({ from: from.name, to: targets.find((t) => ipOf(t) === r.ip)?.name ?? r.ip, icmp: r.icmp, tcp: r.tcp, error: r.error }));
      }),
    );
    return allPairs(pairs.flat());
  }

  /** Polls `connectivity` until every pair passes or `timeoutMs` runs out; returns the last report. */
  public async waitForConnectivity(timeoutMs = 20_000, options: { icmp?: boolean; tcp?: boolean; family?: 4 | 6 } = {}): Promise<ConnectivityReport> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const report = await this.connectivity({ ...options, timeoutMs: 1000 });
      if (report.ok || Date.now() > deadline) return report;
      await sleep(500);
    }
  }

  /** Opens one long-lived TCP connection from `from` to `to`'s echo server. */
  public async openStream(from: LabPod, to: LabPod, intervalMs = 100): Promise<LabStream> {
    const proc = this.spawn(`stream-${from.name}-${to.name}`, from.netns, ['node', this.binaries.stream, to.ip, String(ECHO_PORT), String(intervalMs)], from.node.dir);
    await proc.waitForLine(/"connected":true/);
    const received = () => proc.output().filter((l) => l.startsWith('{"seq"')).length;
    const error = () => {
      const line = proc.output().find((l) => l.startsWith('{"error"'));
      return line ? (JSON.parse(line) as { error: string }).error : proc.running ? undefined : 'stream process exited';
    };
    return {
      received,
      error,
      advance: async (count, timeoutMs = 10_000) => {
        const target = received() + count;
        const deadline = Date.now() + timeoutMs;
        while (received() < target) {
          const e = error();
          if (e) throw new Error(`stream ${from.name}→${to.name} broke: ${e}`);
          if (Date.now() > deadline) throw new Error(`stream ${from.name}→${to.name}: ${count} echoes did not arrive within ${timeoutMs} ms`);
          await sleep(50);
        }
      },
      close: async () => {
        await proc.stop('SIGTERM');
      },
    };
  }

  // ---------- kernel state ----------

  /** Runs a command inside one of the lab's namespaces (a node's, a pod's, `plan.gwNetns`...). */
  public exec(netns: string, argv: readonly string[], options: { allowFailure?: boolean } = {}): Promise<RunResult> {
    if (!this.namespaces.includes(netns)) throw new Error(`lab: ${netns} is not a namespace of this lab`);
    return run(inNetns(netns, argv), options);
  }

  /** True when one ICMP echo from `netns` to `address` comes back within a second. */
  public async pings(netns: string, address: string): Promise<boolean> {
    const result = await this.exec(netns, ['ping', '-c', '1', '-W', '1', '-n', '-q', address], { allowFailure: true });
    return result.code === 0;
  }

  /** `ip -j route show` (main table) inside the node namespace. */
  public async routes(node: LabNode, family: 4 | 6 = 4): Promise<Array<{ dst: string; gateway?: string; dev?: string; protocol?: string; flags?: string[] }>> {
    const out = await run(['ip', '-n', node.netns, `-${family}`, '-j', 'route', 'show']);
    return JSON.parse(out.stdout || '[]');
  }

  /** The node's pod subnet as written to its subnet file (`10.244.5.0/24`), or undefined. */
  public subnetOf(node: LabNode): string | undefined {
    if (!fs.existsSync(node.subnetFile)) return undefined;
    return parseSubnetEnv(fs.readFileSync(node.subnetFile, 'utf8'), node.subnetFile).subnet?.toString();
  }

  // ---------- teardown ----------

  public async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.all([...this.agents.values()].map((a) => a.stop('SIGTERM', 2000)));
    this.etcdClient?.close();
    this.etcdClient = undefined;
    this.destroySync();
  }

  /** Kills everything and removes every namespace and file; safe in exit handlers. */
  public destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    untrack(this);
    for (const proc of this.processes) proc.killSync();
    for (const server of this.servers) server.close();
    for (const netns of [...this.namespaces].reverse()) destroyNetnsSync(netns);
    if (!this.options.keepFiles) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  // ---------- internals ----------

  private get etcdSocket(): string {
    return path.join(this.dir, 'etcd', 'client.sock:0');
  }

  private spawn(name: string, netns: string, argv: readonly string[], logDir: string): LabProcess {
    const proc = new LabProcess(name, argv, { netns, logFile: path.join(logDir, `${name}.log`) });
    this.processes.add(proc);
    void proc.exited.then(() => this.processes.delete(proc));
    return proc;
  }

  /** etcd runs in the gw namespace: nodes reach it over the lab network, the harness over a unix socket. */
  private async startEtcd(): Promise<void> {
    const etcdDir = path.join(this.dir, 'etcd');
    fs.mkdirSync(etcdDir, { recursive: true });
    const gateway = this.plan.segments[0].gateway;
    const etcd = new LabProcess('etcd', [
      'etcd',
      '--name', 'lab',
      '--data-dir', path.join(etcdDir, 'data'),
      '--listen-client-urls', `http://${gateway}:2379,unix://client.sock:0`,
      '--advertise-client-urls', `http://${gateway}:2379`,
      '--listen-peer-urls', 'http://127.0.0.1:2380',
      '--initial-advertise-peer-urls', 'http://127.0.0.1:2380',
      '--initial-cluster', 'lab=http://127.0.0.1:2380',
      '--log-level', 'warn',
    ], { netns: this.plan.gwNetns, logFile: path.join(etcdDir, 'etcd.log'), cwd: etcdDir });
    // etcd creates the unix socket relative to its working directory.
    this.processes.add(etcd);
    this.etcdProcess = etcd;
    const deadline = Date.now() + 15_000;
    while (!fs.existsSync(this.etcdSocket)) {
      if (!etcd.running) throw new Error(`lab: etcd exited: ${etcd.output().slice(-3).join(' | ')}`);
      if (Date.now() > deadline) throw new Error('lab: etcd did not open its client socket within 15 s');
      await sleep(50);
    }
    // A fresh client: the lab's own may still be backing off from a previous etcd's death.
    const probe = new Etcd3({ hosts: `unix://${this.etcdSocket}` });
    try {
      await probe.get('health-probe').string();
    } finally {
      probe.close();
    }
  }

  private async writeNetworkConfig(): Promise<void> {
    const config = JSON.stringify({
      Network: this.options.network ?? '10.244.0.0/16',
      ...(this.options.ipv6Network ? { EnableIPv6: true, IPv6Network: this.options.ipv6Network } : {}),
      Backend: this.options.backend ?? { Type: 'vxlan' },
    });
    await this.etcd.put(`${this.etcdPrefix}/config`).value(config);
    fs.writeFileSync(path.join(this.dir, 'net-conf.json'), config);
  }

  /**
   * Makes `target` (a TCP service of the harness, e.g. on its loopback) reachable from inside the
   * node at 127.0.0.1:`port`: a unix socket served here, a forwarder in the namespace.
   */
  public async forwardToHarness(node: LabNode, port: number, target: URL): Promise<void> {
    const socketPath = path.join(this.dir, `fwd-${node.name}-${port}.sock`);
    const server = net.createServer((inbound) => {
      const outbound = net.connect(Number(target.port), target.hostname);
      inbound.pipe(outbound).pipe(inbound);
      const close = () => {
        inbound.destroy();
        outbound.destroy();
      };
      inbound.on('error', close);
      outbound.on('error', close);
    });
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, () => resolve()));
    this.servers.push(server);
    const forward = this.spawn(`forward-${node.name}-${port}`, node.netns, ['node', this.binaries.forward, String(port), socketPath], node.dir);
    await forward.waitForLine(/^listening$/);
  }
}

function required(file: string | undefined, source: string): string {
  if (!file) throw new Error(`lab: ${source} does not exist, so the lab cannot run it`);
  return file;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
