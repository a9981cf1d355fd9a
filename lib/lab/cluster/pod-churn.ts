import * as os from 'os';
import { workloadVethName } from '../../dataplane/calico/workload-endpoint';
import { hostVethName } from '../../dataplane/cni/plugin';
import { addressToBigInt, Cidr } from '../../model/cidr';
import { run } from '../exec';
import { ClusterLab } from './cluster-lab';
import { CheckResult, describePod, listPods } from './checks';
import { NETCHECK_IMAGE } from './images';
import { ClusterNode, CONTAINERD_METRICS_PORT } from './node';
import { findHistogram, Histogram, histogramDelta, histogramQuantile, parseHistogram, QuantileEstimate, sumHistograms } from './prometheus-histogram';

/** Whose addresses the leak checks read: Calico's IPAM blocks, or host-local files (the flannel-style plugin's and the reference's). */
export type ChurnStack = 'flannel' | 'calico' | 'reference';

export interface PodChurnOptions {
  /** Pods created and deleted on every node. */
  readonly podsPerNode: number;
  readonly stack: ChurnStack;
  readonly log: (line: string) => void;
  /**
   * Most pods a node gets in one wave. The lab's nodes share the machine's cores: a wave of every
   * free slot on every node at once measures the machine's overload more than the plugin.
   * @default DEFAULT_PODS_PER_WAVE
   */
  readonly podsPerWave?: number;
  /** @default 'cnikit-churn' */
  readonly namespace?: string;
}

/** Pods per node per wave unless told otherwise. */
export const DEFAULT_PODS_PER_WAVE = 50;

/** The CNI ADD as the kubelets saw it: RunPodSandbox's duration over the churn, all nodes together. */
export interface SandboxLatency {
  /** RunPodSandbox calls observed (failed attempts included). */
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The histogram read, and the bucket bounds (ms) each quantile lies between. */
  readonly metric?: string;
  readonly p50BucketMs?: readonly [number, number];
  readonly p99BucketMs?: readonly [number, number];
}

export interface PodChurnReport {
  readonly results: CheckResult[];
  readonly add: SandboxLatency;
  /** The CNI ADD alone as containerd's CRI timed it (sandbox_create_network), when its metrics are exposed. */
  readonly cniAdd?: SandboxLatency;
}

/** The kubelet's per-operation runtime histogram; `run_podsandbox` wraps the CRI call that runs the CNI ADD. */
export const RUNTIME_OPERATIONS_DURATION = 'kubelet_runtime_operations_duration_seconds';
export const RUNTIME_OPERATIONS_ERRORS = 'kubelet_runtime_operations_errors_total';
const CHURN_LABEL = 'cnikit.lab/churn-wave';
/** A DEL is asynchronous to the pod object's removal: leaks are polled until gone, stable or this late. */
const SETTLE_DEADLINE_MS = 180_000;
const SETTLE_STABLE_MS = 45_000;
/** A wave whose pods stop coming up (Running with an address) for this long is reported as stuck. */
const STALL_MS = 240_000;

/**
 * Waves that create `podsPerNode` pods on every node without passing any node's free pod slots
 * (`capacity`, maxPods minus what runs there) or `podsPerWave`: each wave is how many pods each node gets.
 */
export function wavePlan(podsPerNode: number, capacity: Readonly<Record<string, number>>, podsPerWave = Infinity): Record<string, number>[] {
  if (!Number.isInteger(podsPerNode) || podsPerNode < 1) throw new Error(`podsPerNode: ${podsPerNode} is not valid; expected a positive integer`);
  if (podsPerWave !== Infinity && (!Number.isInteger(podsPerWave) || podsPerWave < 1)) throw new Error(`podsPerWave: ${podsPerWave} is not valid; expected a positive integer`);
  for (const [node, free] of Object.entries(capacity)) {
    if (!Number.isInteger(free) || free < 1) throw new Error(`capacity of ${node}: ${free} free pod slots is not valid; expected at least 1 (maxPods minus the pods running there)`);
  }
  const left = Object.fromEntries(Object.keys(capacity).map((n) => [n, podsPerNode]));
  const waves: Record<string, number>[] = [];
  while (Object.values(left).some((n) => n > 0)) {
    const wave = Object.fromEntries(Object.entries(left).filter(([, n]) => n > 0).map(([node, n]) => [node, Math.min(n, capacity[node], podsPerWave)]));
    for (const [node, n] of Object.entries(wave)) left[node] -= n;
    waves.push(wave);
  }
  return waves;
}

/** The pods of one wave, pinned by nodeName (no scheduler): the test image sleeping, torn down without grace. */
export function churnPodsManifest(namespace: string, wave: number, counts: Readonly<Record<string, number>>): string {
  const items = Object.entries(counts).flatMap(([node, n]) => Array.from({ length: n }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `churn-${node}-w${wave}-${i}`, namespace, labels: { [CHURN_LABEL]: String(wave) } },
    spec: {
      nodeName: node,
      tolerations: [{ operator: 'Exists' }],
      terminationGracePeriodSeconds: 0,
      // Nothing the pod does not need: no token volume, no Service environment.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      // The lab has no cluster DNS: ClusterFirst would only add a MissingClusterDNS event per pod.
      dnsPolicy: 'Default',
      containers: [{ name: 'sleep', image: NETCHECK_IMAGE, imagePullPolicy: 'Never', command: ['/bin/sleep', '3600'] }],
    },
  })));
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

/** What one node holds that a pod's network leaves behind if its teardown is incomplete. */
export interface NodeNetworkState {
  readonly veths: readonly string[];
  /** containerd's pinned namespaces, each with how many processes are inside. */
  readonly netns: readonly { readonly name: string; readonly processes: number }[];
  /** Address reservations on disk (host-local style): address → owning container. */
  readonly reservations: readonly { readonly ip: string; readonly containerId: string }[];
  /** Per-attachment state of the CNI: the IPAM owner index, libcni's cached results. */
  readonly attachmentFiles: readonly string[];
  /** Sandboxes whose task runs, but the churn's: a deleted pod's sandbox owns nothing. */
  readonly liveSandboxes: readonly string[];
  /** The churn namespace's sandboxes whose task still runs (the kubelet has not stopped them yet). */
  readonly churnSandboxes: readonly string[];
}

const SECTIONS = ['veth', 'netns', 'reservations', 'owners', 'results', 'sandboxes', 'churn', 'tasks'] as const;

/**
 * A shell script run inside a node that prints its network state in sections (parseNodeState):
 * host veths, containerd's network namespaces with their process counts, the reservations of the
 * plugin's IPAM store (`ipamDir`) and of any host-local network under /var/lib/cni/networks, the
 * owner index and libcni's result cache, and the sandboxes with a running task.
 */
export function nodeStateScript(containerdSocket: string, ipamDir: string | undefined, churnNamespace: string): string {
  const ctr = `ctr --address '${containerdSocket}' -n k8s.io`;
  const sandboxes = `labels."io.cri-containerd.kind"==sandbox`;
  const listReservations = (dir: string) => `for f in ${dir}/*; do [ -f "$f" ] && printf '%s %s\\n' "$(basename "$f")" "$(head -n1 "$f" | tr -d '\\r')"; done`;
  return [
    'echo "#veth"; ip -o link show type veth',
    'echo "#netns"; for n in $(ls -1 /var/run/netns 2>/dev/null); do printf \'%s %s\\n\' "$n" "$(ip netns pids "$n" 2>/dev/null | wc -l)"; done',
    `echo "#reservations"; ${ipamDir ? `${listReservations(ipamDir)}; ` : ''}for d in /var/lib/cni/networks/*; do [ -d "$d" ] && ${listReservations('"$d"')}; done`,
    `echo "#owners"; ${ipamDir ? `ls -1 ${ipamDir}/owners 2>/dev/null` : 'true'}`,
    'echo "#results"; ls -1 /var/lib/cni/results 2>/dev/null',
    // Without these every new item would look unowned: fail instead.
    `echo "#sandboxes"; ${ctr} containers ls -q '${sandboxes}' || exit 3`,
    `echo "#churn"; ${ctr} containers ls -q '${sandboxes},labels."io.kubernetes.pod.namespace"==${churnNamespace}' || exit 3`,
    `echo "#tasks"; ${ctr} tasks ls || exit 3`,
    'true',
  ].join('\n');
}

/** Parses nodeStateScript's output. */
export function parseNodeState(output: string): NodeNetworkState {
  const sections = new Map<string, string[]>();
  let current: string | undefined;
  for (const line of output.split('\n')) {
    const header = /^#(\w+)$/.exec(line.trim());
    if (header && (SECTIONS as readonly string[]).includes(header[1])) {
      current = header[1];
      sections.set(current, []);
    } else if (current && line.trim()) sections.get(current)!.push(line.trim());
  }
  for (const section of SECTIONS) if (!sections.has(section)) throw new Error(`node state: section #${section} missing from the output; expected every one of ${SECTIONS.join(', ')}`);
  const lines = (section: typeof SECTIONS[number]) => sections.get(section)!;
  // `12: cnik0123456789a@if3: <BROADCAST,...` → cnik0123456789a
  const veths = lines('veth').map((l) => /^\d+:\s+([^@:\s]+)/.exec(l)?.[1]).filter((n): n is string => n !== undefined);
  const netns = lines('netns').map((l) => l.split(/\s+/)).map(([name, n]) => ({ name, processes: Number(n) }));
  // Address files only: host-local's last_reserved_ip.*, lock files and drafts are not reservations.
  const reservations = lines('reservations').map((l) => l.split(/\s+/)).filter(([ip]) => addressToBigInt(ip) !== undefined).map(([ip, containerId = '']) => ({ ip, containerId }));
  const attachmentFiles = [...lines('owners').map((f) => `owners/${f}`), ...lines('results').map((f) => `results/${f}`)];
  const churn = new Set(lines('churn'));
  const sandboxes = new Set(lines('sandboxes'));
  const running = lines('tasks').map((l) => l.split(/\s+/)).filter(([id, , status]) => sandboxes.has(id) && status === 'RUNNING').map(([id]) => id);
  return { veths, netns, reservations, attachmentFiles, liveSandboxes: running.filter((id) => !churn.has(id)), churnSandboxes: running.filter((id) => churn.has(id)) };
}

/** The pods a node runs now (not being deleted), by namespace and name. */
export interface LivePod {
  readonly namespace: string;
  readonly name: string;
}

/** One kind of leftover on one node: what is there now that was not before and that no live pod or sandbox owns. */
export interface Leak {
  readonly kind: 'addresses' | 'veths' | 'netns' | 'cni-state';
  readonly items: readonly string[];
}

/**
 * Leftovers after churn on one node: `after` minus `before`, less what a sandbox still running
 * (`after.liveSandboxes`) or a live pod owns — host veths are named from the sandbox ID (the kit's
 * flannel-style plugin) or from the pod's namespace and name (Calico's), reservations and cached
 * results carry the container ID, and a namespace with a process inside is some sandbox's.
 */
export function nodeLeaks(before: NodeNetworkState, after: NodeNetworkState, livePods: readonly LivePod[]): Leak[] {
  const live = new Set(after.liveSandboxes);
  const ownedVeths = new Set([...after.liveSandboxes.map((id) => hostVethName(id, 'eth0')), ...livePods.map((p) => workloadVethName(p.namespace, p.name))]);
  const had = <T>(items: readonly T[], key: (t: T) => string) => new Set(items.map(key));
  const vethsBefore = had(before.veths, (v) => v);
  const netnsBefore = had(before.netns, (n) => n.name);
  const reservedBefore = had(before.reservations, (r) => `${r.ip} ${r.containerId}`);
  const filesBefore = had(before.attachmentFiles, (f) => f);
  // owners/<containerID>@<ifname>, results/<network>-<containerID>-<ifname>
  const fileOwner = (file: string) => /([0-9a-f]{64})/.exec(file)?.[1];
  return [
    { kind: 'addresses' as const, items: after.reservations.filter((r) => !reservedBefore.has(`${r.ip} ${r.containerId}`) && !live.has(r.containerId)).map((r) => `${r.ip} (container ${r.containerId.slice(0, 12)})`) },
    { kind: 'veths' as const, items: after.veths.filter((v) => !vethsBefore.has(v) && !ownedVeths.has(v)) },
    { kind: 'netns' as const, items: after.netns.filter((n) => !netnsBefore.has(n.name) && n.processes === 0).map((n) => n.name) },
    { kind: 'cni-state' as const, items: after.attachmentFiles.filter((f) => !filesBefore.has(f) && !live.has(fileOwner(f) ?? '')) },
  ];
}

interface CalicoBlock {
  readonly spec: { readonly cidr: string; readonly allocations?: readonly (number | null)[]; readonly attributes?: readonly { handle_id?: string | null; secondary?: Record<string, string> | null }[] };
}
interface CalicoHandle {
  readonly spec: { readonly handleID: string; readonly block?: Readonly<Record<string, number>> };
}

/** A pod address in Calico's IPAM: where, under which handle, for which pod. */
export interface PodAllocation {
  readonly ip: string;
  readonly handle: string;
  readonly node: string;
  readonly pod: string;
}

/** Every allocation in `blocks` under a pod handle (`<network>.<containerID>`). */
export function podAllocations(blocks: readonly CalicoBlock[], network: string): PodAllocation[] {
  const out: PodAllocation[] = [];
  for (const block of blocks) {
    const cidr = Cidr.parse(block.spec.cidr, 'IPAMBlock spec.cidr');
    (block.spec.allocations ?? []).forEach((attribute, ordinal) => {
      if (attribute === null || attribute === undefined) return;
      const attrs = block.spec.attributes?.[attribute];
      const handle = attrs?.handle_id ?? '';
      if (!handle.startsWith(`${network}.`)) return;
      const secondary = attrs?.secondary ?? {};
      out.push({ ip: cidr.address(BigInt(ordinal)), handle, node: secondary.node ?? '', pod: `${secondary.namespace ?? '?'}/${secondary.pod ?? '?'}` });
    });
  }
  return out;
}

/** Calico IPAM leftovers after churn: pod addresses and pod handles new since `before` whose container runs no sandbox. */
export function calicoLeaks(
  before: { allocations: readonly PodAllocation[]; handles: readonly string[] },
  after: { allocations: readonly PodAllocation[]; handles: readonly string[] },
  network: string, liveSandboxes: ReadonlySet<string>,
): { allocations: PodAllocation[]; handles: string[] } {
  const containerOf = (handle: string) => handle.slice(network.length + 1);
  const allocated = new Set(before.allocations.map((a) => `${a.ip} ${a.handle}`));
  const handled = new Set(before.handles);
  return {
    allocations: after.allocations.filter((a) => !allocated.has(`${a.ip} ${a.handle}`) && !liveSandboxes.has(containerOf(a.handle))),
    handles: after.handles.filter((h) => h.startsWith(`${network}.`) && !handled.has(h) && !liveSandboxes.has(containerOf(h))),
  };
}

/** How many of each kind a node gained between `before` and `peak` (all of a wave's pods running). */
export function newSince(before: NodeNetworkState, peak: NodeNetworkState): Record<Leak['kind'], number> {
  const fresh = <T>(a: readonly T[], b: readonly T[], key: (t: T) => string) => {
    const had = new Set(a.map(key));
    return b.filter((t) => !had.has(key(t))).length;
  };
  return {
    'addresses': fresh(before.reservations, peak.reservations, (r) => `${r.ip} ${r.containerId}`),
    'veths': fresh(before.veths, peak.veths, (v) => v),
    'netns': fresh(before.netns, peak.netns, (n) => n.name),
    'cni-state': fresh(before.attachmentFiles, peak.attachmentFiles, (f) => f),
  };
}

/**
 * The leak probes are not blind: with `pods` of the churn running on a node, its veths and network
 * namespaces and its addresses (reservation files, or Calico's allocations) grew by at least that many.
 * A wrong path or a changed naming would otherwise read "0 before, 0 after" and pass.
 */
export function probesSeePods(gained: Record<Leak['kind'], number>, pods: number): string[] {
  const kinds: Leak['kind'][] = ['addresses', 'veths', 'netns'];
  return kinds.filter((k) => gained[k] < pods).map((k) => `${k}: ${gained[k]} new with ${pods} pods running`);
}

/** p50 and p99 of a histogram in milliseconds, with the bucket bounds they lie between. */
export function sandboxLatency(histogram: Histogram, metric: string): SandboxLatency {
  const ms = (q: QuantileEstimate | undefined) => (q ? Math.round(q.value * 10_000) / 10 : NaN);
  const bounds = (q: QuantileEstimate | undefined): readonly [number, number] | undefined => (q ? [q.lower * 1000, q.upper * 1000] : undefined);
  const p50 = histogramQuantile(histogram, 0.5);
  const p99 = histogramQuantile(histogram, 0.99);
  return { count: histogram.count, p50Ms: ms(p50), p99Ms: ms(p99), metric, p50BucketMs: bounds(p50), p99BucketMs: bounds(p99) };
}

/** `[a, b) ms` for a report line. */
function bucketText(bounds: readonly [number, number] | undefined): string {
  if (!bounds) return 'no data';
  const f = (ms: number) => (ms === Infinity ? '+Inf' : ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
  return `(${f(bounds[0])}, ${f(bounds[1])}] ms`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface KubePodLite {
  metadata: { name: string; namespace: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string; hostNetwork?: boolean };
  status: { phase?: string; podIPs?: { ip: string }[] };
}

async function podsJson(lab: ClusterLab, args: readonly string[]): Promise<KubePodLite[]> {
  return (JSON.parse((await lab.kubectl(['get', 'pods', ...args, '-o', 'json'], { timeoutMs: 60_000 })).stdout) as { items: KubePodLite[] }).items;
}

/** Free pod slots per node: allocatable pods minus the pods that hold one there now. */
async function freePodSlots(lab: ClusterLab): Promise<Record<string, number>> {
  const nodes = JSON.parse((await lab.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as { items: { metadata: { name: string }; status: { allocatable?: { pods?: string } } }[] };
  const pods = await podsJson(lab, ['-A']);
  return Object.fromEntries(lab.nodes.map((node) => {
    const allocatable = Number(nodes.items.find((n) => n.metadata.name === node.name)?.status.allocatable?.pods ?? 110);
    const held = pods.filter((p) => p.spec.nodeName === node.name && !['Succeeded', 'Failed'].includes(p.status.phase ?? '')).length;
    return [node.name, allocatable - held];
  }));
}

/** The network name and the kit plugin's IPAM directory from the node's conflist (the CRI uses the first). */
async function nodeCniConfig(lab: ClusterLab, node: ClusterNode): Promise<{ network: string; ipamDir?: string }> {
  const listed = await lab.execOnNode(node, ['sh', '-c', 'cat "$(ls -1 /etc/cni/net.d/*.conflist | head -n1)"']);
  const conf = JSON.parse(listed.stdout) as { name: string; plugins?: { type?: string; dataDir?: string }[] };
  const flannel = (conf.plugins ?? []).find((p) => p.type === 'cnikit-flannel');
  return { network: conf.name, ipamDir: flannel ? `${flannel.dataDir ?? '/var/lib/cni/cnikit-flannel'}/ipam` : undefined };
}

async function nodeState(node: ClusterNode, ipamDir: string | undefined, churnNamespace: string): Promise<NodeNetworkState> {
  // A loaded machine with a hundred namespaces to scan needs longer than execOnNode's 30 s.
  return parseNodeState((await run(node.enter(['sh', '-c', nodeStateScript(node.containerdSocket, ipamDir, churnNamespace)]), { timeoutMs: 180_000 })).stdout);
}

/** The churn namespace's sandboxes still running on `node` (pods gone from the API are torn down by the kubelet afterwards). */
async function runningChurnSandboxes(node: ClusterNode, churnNamespace: string): Promise<number> {
  const ctr = ['ctr', '--address', node.containerdSocket, '-n', 'k8s.io'];
  const [churn, tasks] = await Promise.all([
    run(node.enter([...ctr, 'containers', 'ls', '-q', `labels."io.cri-containerd.kind"==sandbox,labels."io.kubernetes.pod.namespace"==${churnNamespace}`]), { timeoutMs: 120_000 }),
    run(node.enter([...ctr, 'tasks', 'ls']), { timeoutMs: 120_000 }),
  ]);
  const ids = new Set(churn.stdout.split('\n').map((l) => l.trim()).filter(Boolean));
  return tasks.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter(([id, , status]) => ids.has(id) && status === 'RUNNING').length;
}

async function calicoState(lab: ClusterLab, network: string): Promise<{ allocations: PodAllocation[]; handles: string[]; blocks: number }> {
  const get = async <T>(plural: string) => (JSON.parse((await lab.kubectl(['get', `${plural}.crd.projectcalico.org`, '-o', 'json'], { timeoutMs: 60_000 })).stdout) as { items: T[] }).items;
  const [blocks, handles] = await Promise.all([get<CalicoBlock>('ipamblocks'), get<CalicoHandle>('ipamhandles')]);
  return { allocations: podAllocations(blocks, network), handles: handles.map((h) => h.spec.handleID), blocks: blocks.length };
}

/** containerd's CRI histogram of the pod network set-up: the CNI ADD without the sandbox container around it. */
const CRI_CREATE_NETWORK = 'containerd_cri_sandbox_create_network';

/** Each node's containerd metrics ('' where not exposed). */
async function containerdMetrics(lab: ClusterLab): Promise<string[]> {
  return Promise.all(lab.nodes.map(async (node) => (await lab.execOnNode(node, ['curl', '-sf', '--max-time', '20', `http://127.0.0.1:${CONTAINERD_METRICS_PORT}/v1/metrics`], { allowFailure: true })).stdout));
}

async function kubeletMetrics(lab: ClusterLab): Promise<string[]> {
  return Promise.all(lab.nodes.map(async (node) => (await lab.kubectl(['get', '--raw', `/api/v1/nodes/${node.name}/proxy/metrics`], { timeoutMs: 60_000 })).stdout));
}

function errorCount(text: string, operation: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${RUNTIME_OPERATIONS_ERRORS}{`) && l.includes(`operation_type="${operation}"`));
  return line ? Number(line.trim().split(/\s+/).at(-1)) : 0;
}

const preview = (items: readonly string[], max = 8) => `${items.slice(0, max).join(', ')}${items.length > max ? ` and ${items.length - max} more` : ''}`;

/**
 * Pod churn through the kubelets' CRI: `podsPerNode` pods created and deleted on every node in waves
 * that fit each kubelet's maxPods, each wave Running with an address then gone; then, per node, no
 * address, host veth, network namespace or per-attachment CNI state left that was not there before
 * (or is owned by a pod still running), and the ADD latency as the kubelets saw it (RunPodSandbox).
 */
export async function podChurn(lab: ClusterLab, options: PodChurnOptions): Promise<PodChurnReport> {
  const namespace = options.namespace ?? 'cnikit-churn';
  const { log, stack } = options;
  const started = Date.now();
  const loadBefore = os.loadavg()[0];
  const results: CheckResult[] = [];

  await lab.kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=180s'], { timeoutMs: 190_000 });
  await lab.kubectl(['create', 'namespace', namespace]);
  // Pods are refused until the namespace's default ServiceAccount exists.
  for (let i = 0; (await lab.kubectl(['get', 'serviceaccount', 'default', '-n', namespace], { allowFailure: true })).code !== 0; i++) {
    if (i > 60) throw new Error(`pod churn: namespace ${namespace} has no default ServiceAccount after 60 s`);
    await sleep(1000);
  }
  try {
    const config = new Map(await Promise.all(lab.nodes.map(async (n) => [n.name, await nodeCniConfig(lab, n)] as const)));
    const network = config.get(lab.nodes[0].name)!.network;
    const beforeNodes = new Map(await Promise.all(lab.nodes.map(async (n) => [n.name, await nodeState(n, config.get(n.name)!.ipamDir, namespace)] as const)));
    const beforeCalico = stack === 'calico' ? await calicoState(lab, network) : undefined;
    const metricsBefore = await kubeletMetrics(lab);
    const criBefore = await containerdMetrics(lab);

    const waves = wavePlan(options.podsPerNode, await freePodSlots(lab), options.podsPerWave ?? DEFAULT_PODS_PER_WAVE);
    log(`pod churn (${stack}): ${options.podsPerNode} pods per node on ${lab.nodes.map((n) => n.name).join(', ')} in ${waves.length} waves of up to ${Math.max(...waves.map((w) => Math.max(...Object.values(w))))}`);
    const created = new Map<string, number>();
    const withAddress = new Map<string, number>();
    const failures = new Map<string, string[]>();
    for (const [index, wave] of waves.entries()) {
      const waveStart = Date.now();
      const selector = `${CHURN_LABEL}=${index}`;
      // One kubectl per node, side by side: a create is one POST per pod.
      await Promise.all(Object.entries(wave).map(([node, n]) => lab.kubectl(['create', '-f', '-'], { input: churnPodsManifest(namespace, index, { [node]: n }), timeoutMs: 900_000 })));
      for (const [node, n] of Object.entries(wave)) created.set(node, (created.get(node) ?? 0) + n);
      const total = Object.values(wave).reduce((a, b) => a + b, 0);
      // Waits as long as pods keep coming up: a loaded machine is slow, a stuck pod makes no progress.
      let pods: KubePodLite[] = [];
      let best = 0;
      let progressAt = Date.now();
      for (;;) {
        pods = await podsJson(lab, ['-n', namespace, '-l', selector]);
        const up = pods.filter((p) => p.status.phase === 'Running' && (p.status.podIPs ?? []).length > 0).length;
        if (up > best) [best, progressAt] = [up, Date.now()];
        if (up === total || Date.now() - progressAt > STALL_MS) break;
        await sleep(3000);
      }
      const upPods = pods.filter((p) => p.status.phase === 'Running' && (p.status.podIPs ?? []).length > 0);
      for (const p of upPods) withAddress.set(p.spec.nodeName!, (withAddress.get(p.spec.nodeName!) ?? 0) + 1);
      if (upPods.length < total) {
        const stuck = (await listPods(lab, namespace, selector)).filter((p) => p.phase !== 'Running' || p.ips.length === 0);
        for (const p of stuck) failures.set(p.node, [...(failures.get(p.node) ?? []), describePod(lab, p)]);
      }
      const running = Date.now();
      log(`pod churn: wave ${index + 1}/${waves.length}: ${upPods.length}/${total} pods Running with an address after ${((running - waveStart) / 1000).toFixed(0)} s`);
      if (index === 0) {
        // The leak probes, once, with the wave running: each pod must show in them.
        const peak = new Map(await Promise.all(lab.nodes.map(async (n) => [n.name, await nodeState(n, config.get(n.name)!.ipamDir, namespace)] as const)));
        const peakCalico = beforeCalico ? await calicoState(lab, network) : undefined;
        for (const node of lab.nodes) {
          const pods = upPods.filter((p) => p.spec.nodeName === node.name).length;
          const gained = newSince(beforeNodes.get(node.name)!, peak.get(node.name)!);
          if (peakCalico && beforeCalico) gained.addresses = calicoLeaks(beforeCalico, peakCalico, network, new Set()).allocations.filter((a) => a.node === node.name).length;
          const blind = probesSeePods(gained, pods);
          results.push({
            name: `pod churn on ${node.name}: the leak probes see running pods`,
            ok: blind.length === 0,
            detail: `with ${pods} pods of wave 1 running: ${gained.addresses} new ${beforeCalico ? 'IPAMBlock allocations' : 'reservation files'}, ${gained.veths} host veths, ${gained.netns} network namespaces, ${gained['cni-state']} per-attachment CNI files${blind.length ? `; too few, the probes miss them: ${blind.join(', ')}` : ''}`,
          });
        }
      }
      // One DeleteCollection (kubectl delete pods -l would send one DELETE per pod). On a loaded machine the
      // API server may answer Timeout while it goes on deleting: it is sent again only when nothing goes.
      const deleteWave = () => lab.kubectl(['delete', '--raw', `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`], { allowFailure: true, timeoutMs: 600_000 });
      await deleteWave();
      let left = Infinity;
      let goneAt = Date.now();
      for (let fewest = Infinity; ;) {
        left = (await lab.kubectl(['get', 'pods', '-n', namespace, '-l', selector, '-o', 'name'])).stdout.split('\n').filter(Boolean).length;
        if (left < fewest) [fewest, goneAt] = [left, Date.now()];
        if (left === 0 || Date.now() - goneAt > STALL_MS) break;
        if (Date.now() - goneAt > 20_000) await deleteWave();
        await sleep(2000);
      }
      if (left > 0) for (const node of Object.keys(wave)) failures.set(node, [...(failures.get(node) ?? []), `${left} pods of wave ${index} still there, none deleted in the last ${STALL_MS / 1000} s`]);
      const gone = Date.now();
      // A grace period of 0 removes the pod object at once; the kubelet stops the sandbox (the CNI DEL) after.
      let stillRunning = new Map<string, number>();
      let fewest = Infinity;
      let stoppedAt = Date.now();
      for (;;) {
        stillRunning = new Map(await Promise.all(lab.nodes.map(async (n) => [n.name, await runningChurnSandboxes(n, namespace)] as const)));
        const running = [...stillRunning.values()].reduce((a, b) => a + b, 0);
        if (running < fewest) [fewest, stoppedAt] = [running, Date.now()];
        if (running === 0 || Date.now() - stoppedAt > STALL_MS) break;
        await sleep(3000);
      }
      for (const [node, n] of stillRunning) if (n > 0) failures.set(node, [...(failures.get(node) ?? []), `${n} sandboxes of wave ${index}'s deleted pods still running, none stopped in the last ${STALL_MS / 1000} s (the kubelet log ${lab.node(node).logDir}/kubelet.log)`]);
      log(`pod churn: wave ${index + 1}/${waves.length}: ${upPods.length}/${total} pods Running with an address in ${((running - waveStart) / 1000).toFixed(0)} s, `
        + `deleted and gone from the API in ${((gone - running) / 1000).toFixed(0)} s, their sandboxes stopped ${((Date.now() - gone) / 1000).toFixed(0)} s later`);
    }
    const churnSeconds = (Date.now() - started) / 1000;

    for (const node of lab.nodes) {
      const problems = failures.get(node.name) ?? [];
      const n = created.get(node.name) ?? 0;
      results.push({
        name: `pod churn on ${node.name}: ${n} pods Running with an address, then deleted`,
        ok: problems.length === 0 && withAddress.get(node.name) === n,
        detail: problems.length === 0 ? `${withAddress.get(node.name) ?? 0}/${n} pods got an address and were deleted (${churnSeconds.toFixed(0)} s for all nodes)`
          : `node ${node.name}: ${withAddress.get(node.name) ?? 0}/${n} pods got an address; ${preview(problems, 5)}`,
      });
    }

    results.push(...(await settledLeaks(lab, { stack, network, namespace, config, beforeNodes, beforeCalico, log })));
    // After the settling: every StopPodSandbox has returned.
    const metricsAfter = await kubeletMetrics(lab);
    const criAfter = await containerdMetrics(lab);

    // The CNI ADD as the kubelet sees it: RunPodSandbox (network set-up included) over the churn.
    const delta = (pairs: (readonly [string, string])[], metric: string, labels: Record<string, string> = {}) =>
      sumHistograms(pairs.map(([before, after]) => histogramDelta(parseHistogram(before, metric, labels), parseHistogram(after, metric, labels))));
    const kubelets = metricsAfter.map((after, i) => [metricsBefore[i], after] as const);
    const runSandbox = delta(kubelets, RUNTIME_OPERATIONS_DURATION, { operation_type: 'run_podsandbox' });
    const stopSandbox = delta(kubelets, RUNTIME_OPERATIONS_DURATION, { operation_type: 'stop_podsandbox' });
    const add = sandboxLatency(runSandbox, `${RUNTIME_OPERATIONS_DURATION}{operation_type="run_podsandbox"}`);
    const del = sandboxLatency(stopSandbox, `${RUNTIME_OPERATIONS_DURATION}{operation_type="stop_podsandbox"}`);
    const errors = metricsAfter.reduce((n, text, i) => n + errorCount(text, 'run_podsandbox') - errorCount(metricsBefore[i], 'run_podsandbox'), 0);
    const pods = [...created.values()].reduce((a, b) => a + b, 0);
    results.push({
      name: 'pod churn: RunPodSandbox (CNI ADD) latency seen by the kubelets',
      ok: add.count >= pods && errors === 0,
      detail: `${add.count} RunPodSandbox calls for ${pods} pods (${errors} failed): p50 ${add.p50Ms} ms in ${bucketText(add.p50BucketMs)}, p99 ${add.p99Ms} ms in ${bucketText(add.p99BucketMs)}; `
        + `StopPodSandbox (CNI DEL) ${del.count} calls: p50 ${del.p50Ms} ms, p99 ${del.p99Ms} ms (${RUNTIME_OPERATIONS_DURATION}, linear interpolation in its buckets); `
        // Every node shares the machine's cores: the kubelet's latency is as much the machine's load as the plugin's.
        + `machine load average ${loadBefore.toFixed(1)} before, ${os.loadavg()[0].toFixed(1)} after on ${os.cpus().length} cores`,
    });
    // containerd's own timer around the CNI ADD, where the node exposes it: the plugin's share of RunPodSandbox.
    const criName = criAfter.map((text) => findHistogram(text, CRI_CREATE_NETWORK)).find((n) => n !== undefined);
    const cniAdd = criName ? sandboxLatency(delta(criAfter.map((t, i) => [criBefore[i], t] as const), criName), criName) : undefined;
    results.push(cniAdd
      ? { name: 'pod churn: CNI ADD latency seen by containerd', ok: cniAdd.count >= pods, detail: `${cniAdd.count} pod network set-ups: p50 ${cniAdd.p50Ms} ms in ${bucketText(cniAdd.p50BucketMs)}, p99 ${cniAdd.p99Ms} ms in ${bucketText(cniAdd.p99BucketMs)} (${criName})` }
      : { name: 'pod churn: CNI ADD latency seen by containerd', ok: true, skipped: true, detail: `containerd exposes no ${CRI_CREATE_NETWORK} histogram on 127.0.0.1:${CONTAINERD_METRICS_PORT}` });
    log(`pod churn (${stack}): ${pods} pods in ${churnSeconds.toFixed(0)} s; RunPodSandbox p50 ${add.p50Ms} ms p99 ${add.p99Ms} ms${cniAdd ? `; CNI ADD (containerd) p50 ${cniAdd.p50Ms} ms p99 ${cniAdd.p99Ms} ms` : ''}`);
    return { results, add, ...(cniAdd ? { cniAdd } : {}) };
  } finally {
    await lab.kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=180s'], { allowFailure: true, timeoutMs: 190_000 });
  }
}

/** Polls every node (and Calico's IPAM) until nothing is left over, the leftovers stop changing, or the deadline; one result per node and kind. */
async function settledLeaks(lab: ClusterLab, context: {
  stack: ChurnStack; network: string; namespace: string; log: (line: string) => void;
  config: ReadonlyMap<string, { ipamDir?: string }>;
  beforeNodes: ReadonlyMap<string, NodeNetworkState>;
  beforeCalico?: { allocations: PodAllocation[]; handles: string[]; blocks: number };
}): Promise<CheckResult[]> {
  const start = Date.now();
  let last = '';
  let stableSince = Date.now();
  for (;;) {
    const afterNodes = new Map(await Promise.all(lab.nodes.map(async (n) => [n.name, await nodeState(n, context.config.get(n.name)!.ipamDir, context.namespace)] as const)));
    const live = (await podsJson(lab, ['-A'])).filter((p) => !p.metadata.deletionTimestamp && !p.spec.hostNetwork);
    const leaks = new Map(lab.nodes.map((n) => [n.name, nodeLeaks(context.beforeNodes.get(n.name)!, afterNodes.get(n.name)!,
      live.filter((p) => p.spec.nodeName === n.name).map((p) => ({ namespace: p.metadata.namespace, name: p.metadata.name })))]));
    const liveSandboxes = new Set([...afterNodes.values()].flatMap((s) => s.liveSandboxes));
    const afterCalico = context.beforeCalico ? await calicoState(lab, context.network) : undefined;
    const calico = context.beforeCalico && afterCalico ? calicoLeaks(context.beforeCalico, afterCalico, context.network, liveSandboxes) : undefined;
    const stopping = [...afterNodes.values()].reduce((n, s) => n + s.churnSandboxes.length, 0);
    const fingerprint = JSON.stringify([[...leaks], calico, stopping]);
    const clean = stopping === 0 && [...leaks.values()].every((l) => l.every((k) => k.items.length === 0)) && (!calico || (calico.allocations.length === 0 && calico.handles.length === 0));
    if (fingerprint !== last) {
      last = fingerprint;
      stableSince = Date.now();
    }
    const waited = Date.now() - start;
    if (clean || waited > SETTLE_DEADLINE_MS || Date.now() - stableSince > SETTLE_STABLE_MS) {
      const seconds = `${(waited / 1000).toFixed(0)} s after the last pod was gone`;
      return [
        ...lab.nodes.flatMap((node) => {
          const before = context.beforeNodes.get(node.name)!;
          const after = afterNodes.get(node.name)!;
          const found = leaks.get(node.name)!;
          const of = (kind: Leak['kind']) => found.find((l) => l.kind === kind)!.items;
          const line = (kind: Leak['kind'], what: string, counts: string, where: string): CheckResult => ({
            name: `pod churn on ${node.name}: no leaked ${what}`,
            ok: of(kind).length === 0,
            detail: of(kind).length === 0 ? `${counts} (${seconds})` : `node ${node.name}: ${of(kind).length} ${what} left by deleted pods, ${seconds}: ${preview(of(kind))}; ${where}`,
          });
          const nodeAddresses = calico
            ? (() => {
              const mine = calico.allocations.filter((a) => a.node === node.name);
              const count = (s: { allocations: PodAllocation[] }) => s.allocations.filter((a) => a.node === node.name).length;
              return {
                name: `pod churn on ${node.name}: no leaked addresses`, ok: mine.length === 0,
                detail: mine.length === 0 ? `IPAMBlock pod allocations on ${node.name}: ${count(context.beforeCalico!)} before, ${count(afterCalico!)} after, each owned by a running sandbox (${seconds})`
                  : `node ${node.name}: ${mine.length} IPAMBlock allocations of deleted pods, ${seconds}: ${preview(mine.map((a) => `${a.ip} ${a.pod} ${a.handle}`))}; the CNI plugin's log /var/log/calico/cni/cni.log on ${node.name}`,
              };
            })()
            : line('addresses', 'addresses', `IPAM reservation files: ${before.reservations.length} before, ${after.reservations.length} after`, `reservation files under ${context.config.get(node.name)!.ipamDir ?? '/var/lib/cni/networks'} on ${node.name}`);
          return [
            ...(after.churnSandboxes.length ? [{
              name: `pod churn on ${node.name}: deleted pods' sandboxes stopped`, ok: false,
              detail: `node ${node.name}: ${after.churnSandboxes.length} sandboxes of deleted pods still running, ${seconds}: ${preview(after.churnSandboxes.map((id) => id.slice(0, 12)))}; the kubelet log ${node.logDir}/kubelet.log`,
            }] : []),
            nodeAddresses,
            ...(calico ? [line('addresses', 'host-local reservations', `no reservation files (${after.reservations.length})`, 'files under /var/lib/cni/networks')] : []),
            line('veths', 'host veths', `host veths: ${before.veths.length} before, ${after.veths.length} after`, `ip -o link show type veth on ${node.name}`),
            line('netns', 'network namespaces', `containerd's network namespaces: ${before.netns.length} before, ${after.netns.length} after`, `ls /var/run/netns on ${node.name}; the kubelet log ${node.logDir}/kubelet.log`),
            line('cni-state', 'per-attachment CNI state', `IPAM owner index and libcni result cache: ${before.attachmentFiles.length} files before, ${after.attachmentFiles.length} after`, `files under /var/lib/cni on ${node.name}`),
          ];
        }),
        ...(calico && context.beforeCalico && afterCalico ? [{
          name: 'pod churn: no leaked IPAM handles',
          ok: calico.handles.length === 0,
          detail: calico.handles.length === 0
            ? `IPAMHandles: ${context.beforeCalico.handles.length} before, ${afterCalico.handles.length} after; IPAMBlocks ${context.beforeCalico.blocks} before, ${afterCalico.blocks} after (${seconds})`
            : `${calico.handles.length} IPAMHandles of deleted pods, ${seconds}: ${preview(calico.handles)}; kubectl get ipamhandles.crd.projectcalico.org`,
        }] : []),
      ];
    }
    await sleep(3000);
  }
}
