import { PolicyObjects } from '../../dataplane/policy/load';
import { PolicyIndex } from '../../dataplane/policy/selection';
import { NamedPort, PolicyEndpoint } from '../../dataplane/policy/types';
import { intentName, intentProbe, PolicyIntent, PolicyMatrix, unmetIntent } from '../policy-harness';
import { expectedVerdict, NamedPortSpec, PolicyLabPodSpec } from '../policy-lab';
import { CheckResult, describePod, isStuck, listPods, PodInfo, podLogDir } from './checks';
import { ClusterLab } from './cluster-lab';
import { NETCHECK_IMAGE, NETCHECK_UDP_NC } from './images';

/** The field manager of everything the matrix check applies. */
export const MATRIX_FIELD_MANAGER = 'cnikit-policy-matrix';
/** Probe timeout (seconds): a denied connection shows as no answer within it. */
const PROBE_SECONDS = 2;

/** The real pod standing for a matrix pod: `matrix-<name>` in the matrix pod's namespace (its hostname, the listeners' answer). */
export function matrixPodName(p: { readonly name: string }): string {
  return `matrix-${p.name}`;
}

const unique = (ports: readonly NamedPortSpec[], protocol: NamedPortSpec['protocol']) => [...new Set(ports.filter((p) => p.protocol === protocol).map((p) => p.port))].sort((a, b) => a - b);

/**
 * The pod's command: a listener per declared port that answers with the pod's hostname (its name),
 * so a probe sees which pod it reached. TCP: busybox `nc -ll -e hostname` (IPv4 and IPv6); UDP:
 * OpenBSD netcat in a loop, one datagram per round, once per family. SCTP ports are declared (policies
 * may name them) but not served: the image has no SCTP listener.
 */
export function listenerScript(ports: readonly NamedPortSpec[], dualStack: boolean): string {
  const lines: string[] = [];
  for (const port of unique(ports, 'TCP')) lines.push(`nc -ll -p ${port} -e /bin/hostname &`);
  for (const port of unique(ports, 'UDP')) {
    for (const family of dualStack ? ['-4', '-6'] : ['-4']) lines.push(`while :; do hostname | ${NETCHECK_UDP_NC} ${family} -u -l -W 1 -p ${port} || sleep 1; done &`);
  }
  // `wait` ends (and the container restarts, visibly) only if every listener died.
  lines.push(lines.length ? 'wait' : 'while :; do sleep 3600; done');
  return lines.join('\n');
}

/** The readiness probe: every listener answers on the pod's loopback (not policed), so Ready means listening. */
export function readinessScript(ports: readonly NamedPortSpec[], dualStack: boolean): string {
  const checks = [
    ...unique(ports, 'TCP').map((port) => `[ -n "$(nc -w 1 127.0.0.1 ${port} </dev/null)" ]`),
    ...unique(ports, 'UDP').flatMap((port) => (dualStack ? ['127.0.0.1', '::1'] : ['127.0.0.1'])
      .map((ip) => `[ -n "$(echo ready | ${NETCHECK_UDP_NC} -u -W 1 -w 1 ${ip} ${port})" ]`)),
  ];
  return checks.length ? checks.join(' && ') : 'true';
}

/**
 * What the matrix check applies: the matrix's namespaces with their labels, the service accounts its
 * pods run as (and those it declares with labels), then one pod per matrix pod — exactly the
 * matrix's labels, its ports as container ports (named ones by name, for `PolicyPort.named`),
 * spread round-robin over `nodes` as the network lab's policy cluster spreads them.
 */
export function matrixManifest(matrix: PolicyMatrix, nodes: readonly string[], dualStack: boolean): { setup: object[]; pods: object[] } {
  if (nodes.length === 0) throw new Error('policy matrix: no nodes to place pods on');
  const setup: object[] = matrix.namespaces.map((ns) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, ...(Object.keys(ns.labels ?? {}).length ? { labels: ns.labels } : {}) } }));
  const accounts = new Map<string, { namespace: string; name: string; labels?: Readonly<Record<string, string>> }>();
  for (const p of matrix.pods) if (p.serviceAccount && p.serviceAccount !== 'default') accounts.set(`${p.namespace}/${p.serviceAccount}`, { namespace: p.namespace, name: p.serviceAccount });
  for (const sa of matrix.serviceAccounts ?? []) accounts.set(`${sa.namespace}/${sa.name}`, sa);
  for (const sa of accounts.values()) {
    setup.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa.name, namespace: sa.namespace, ...(Object.keys(sa.labels ?? {}).length ? { labels: sa.labels } : {}) } });
  }
  const pods = matrix.pods.map((p, i) => {
    const name = matrixPodName(p);
    if (name.length > 63) throw new Error(`policy matrix: pod ${p.namespace}/${p.name}: ${name} is longer than a hostname may be (63)`);
    const ports = p.ports ?? [];
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: p.namespace, ...(Object.keys(p.labels ?? {}).length ? { labels: p.labels } : {}) },
      spec: {
        nodeName: nodes[i % nodes.length],
        ...(p.serviceAccount ? { serviceAccountName: p.serviceAccount } : {}),
        automountServiceAccountToken: false,
        tolerations: [{ operator: 'Exists' }],
        terminationGracePeriodSeconds: 1,
        containers: [{
          name: 'matrix',
          image: NETCHECK_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/bin/sh', '-c', listenerScript(ports, dualStack)],
          ports: ports.map((x) => ({ containerPort: x.port, protocol: x.protocol, ...(x.name ? { name: x.name } : {}) })),
          readinessProbe: { exec: { command: ['/bin/sh', '-c', readinessScript(ports, dualStack)] }, periodSeconds: 2, timeoutSeconds: 5 },
        }],
      },
    };
  });
  return { setup, pods };
}

/** The shell command that probes `ip` for an intent; its output is the target's hostname (or `echo-reply` for ICMP) when it got through. */
export function probeCommand(e: PolicyIntent, ip: string): string | undefined {
  const v6 = ip.includes(':');
  switch (e.protocol) {
    case 'TCP': return `nc -w ${PROBE_SECONDS} ${ip} ${e.port} </dev/null`;
    case 'UDP': return `echo probe | ${NETCHECK_UDP_NC} -u -W 1 -w ${PROBE_SECONDS} ${ip} ${e.port}`;
    case 'ICMP': return `${v6 ? 'ping6' : 'ping'} -c 1 -W ${PROBE_SECONDS} ${ip} >/dev/null && echo echo-reply`;
    default: return undefined;
  }
}

/** One probe's outcome: allowed when the target itself answered. */
export interface ProbeSeen {
  readonly ip: string;
  readonly allowed: boolean;
  /** What came back (the target's hostname, an error, or nothing). */
  readonly answer: string;
}

/** Whether an answer shows the probe got through to `target` (its hostname; `echo-reply` for ICMP). */
export function answeredBy(answer: string, target: string, protocol: PolicyIntent['protocol']): boolean {
  return answer.trim().split(/\s+/).at(-1) === (protocol === 'ICMP' ? 'echo-reply' : target);
}

/**
 * One report line for an intent: ok iff every address family's probe and the reference
 * evaluator give the intended verdict (the network lab's `unmetIntent`). Pure.
 */
export function intentResult(e: PolicyIntent, seen: readonly ProbeSeen[], policySays: readonly boolean[], context: { from: string; to: string; rounds: number; whereToLook?: string }): CheckResult {
  const word = (v: boolean) => (v ? 'allowed' : 'denied');
  const name = `policy ${intentName(e)} ${word(e.allowed)}`;
  const unmet = seen.map((s, i) => unmetIntent(e, policySays[i], s.allowed)).filter((u): u is string => u !== undefined);
  const observed = seen.map((s) => `${s.ip} ${word(s.allowed)} (${s.answer ? `"${s.answer}"` : 'no answer'})`).join(', ');
  const policy = [...new Set(policySays.map(word))].join('/');
  const ok = seen.length > 0 && unmet.length === 0;
  // Verdicts count once they hold in two rounds in a row (see settleMs): say so when that took longer.
  const rounds = ok ? (context.rounds > 2 ? `; held in rounds ${context.rounds - 1}–${context.rounds}` : '') : `; round ${context.rounds}, the last`;
  const detail = `${context.from} → ${context.to}: ${observed}; the policies (reference evaluator) say ${policy}${rounds}`;
  return ok ? { name, ok, detail } : { name, ok, detail: `${detail}; ${[...new Set(unmet.map((u) => u.slice(intentName(e).length + 2)))].join(' · ')}${context.whereToLook ? `; ${context.whereToLook}` : ''}` };
}

export interface PolicyMatrixCheckOptions {
  readonly matrix: PolicyMatrix;
  /** Where the matrix came from, for the report. */
  readonly source: string;
  /** The policies as deployed (the environment's manifests): each line also gives the reference evaluator's verdict. */
  readonly policies: PolicyObjects;
  readonly dualStack: boolean;
  /** How long the pods may take to be Ready. @default 120000 */
  readonly readyTimeoutMs?: number;
  /**
   * How long the verdicts may take to settle once the pods are Ready (the agents program a new pod's
   * endpoint and set memberships as they see it): every intent is probed each round until all hold
   * in two rounds in a row or this passes; the last round is reported. @default 30000
   */
  readonly settleMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

/**
 * The environment's policy intent on real pods: deploys the matrix's pods (their namespaces, labels,
 * service accounts and ports as the matrix says) under the environment's deployed policies, waits for
 * them Ready (their listeners answer locally), then probes every `expect` entry from the source
 * pod with `kubectl exec` to the target pod's addresses (every family; no DNS, no Service). One
 * report line for the pods, then one per intent: what each probe saw and what the policies say.
 *
 * Idempotent: matrix pods left by an earlier run are deleted and made again. The pods, service
 * accounts and namespaces stay afterwards (with `--keep` they can be probed by hand; the lab
 * removes everything when it stops).
 */
export async function policyMatrixChecks(lab: ClusterLab, options: PolicyMatrixCheckOptions): Promise<CheckResult[]> {
  const { matrix } = options;
  const intents = matrix.expect ?? [];
  const readyName = `policy matrix pods Ready (${options.source})`;
  if (intents.length === 0) return [{ name: 'policy intent', ok: false, skipped: true, detail: `${options.source} declares no expectations (expect:)` }];
  const manifest = matrixManifest(matrix, lab.nodes.map((n) => n.name), options.dualStack);
  const apply = (objects: object[], allowFailure = false) => lab.kubectl(['apply', '--server-side', `--field-manager=${MATRIX_FIELD_MANAGER}`, '--force-conflicts', '-f', '-'],
    { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }), allowFailure });
  lab.log(`policy matrix: ${matrix.pods.length} pods of ${options.source}, ${intents.length} intents`);
  const setup = await apply(manifest.setup, true);
  if (setup.code !== 0) return [{ name: readyName, ok: false, detail: `kubectl apply -f - failed: ${oneLine(setup.stderr)} (the namespaces and service accounts of ${options.source})` }];
  for (const ns of new Set(matrix.pods.map((p) => p.namespace))) {
    const names = matrix.pods.filter((p) => p.namespace === ns).map(matrixPodName);
    await lab.kubectl(['delete', 'pods', '-n', ns, ...names, '--ignore-not-found', '--wait=true', '--timeout=60s'], { allowFailure: true, timeoutMs: 70_000 });
  }
  // A namespace's ServiceAccounts reach the admission plugin's cache a moment after they exist.
  for (let attempt = 0; ; attempt++) {
    const result = await apply(manifest.pods, true);
    if (result.code === 0) break;
    if (attempt >= 15) return [{ name: readyName, ok: false, detail: `kubectl apply -f - failed: ${oneLine(result.stderr)} (the pods of ${options.source})` }];
    await sleep(2000);
  }

  const pods = await waitForMatrixPods(lab, matrix.pods, options.readyTimeoutMs ?? 120_000);
  const unready = matrix.pods.filter((p) => !pods.get(key(p))?.ready);
  if (unready.length > 0) {
    return [{
      name: readyName, ok: false,
      detail: unready.map((p) => {
        const pod = pods.get(key(p));
        return pod ? describePod(lab, pod) : `pod ${p.namespace}/${matrixPodName(p)}: not created on node ${manifestNode(manifest, p)}`;
      }).join(' · '),
    }];
  }
  const results: CheckResult[] = [{
    name: readyName, ok: true,
    detail: matrix.pods.map((p) => { const pod = pods.get(key(p))!; return `${key(p)} ${pod.node} ${pod.ips.join(' ')}`; }).join(', '),
  }];

  // The reference evaluator on the same world: the matrix's identities at the pods' real addresses.
  const endpoints: PolicyEndpoint[] = matrix.pods.map((p) => ({
    namespace: p.namespace, name: p.name, labels: p.labels ?? {}, serviceAccount: p.serviceAccount, addresses: pods.get(key(p))!.ips,
    ports: (p.ports ?? []).filter((x) => x.name).map((x): NamedPort => ({ name: x.name as string, port: x.port, protocol: x.protocol })),
  }));
  const index = new PolicyIndex({
    namespaces: matrix.namespaces, endpoints, policies: options.policies.policies, networkSets: options.policies.networkSets, serviceAccounts: matrix.serviceAccounts ?? [],
  });
  const spec = (k: string) => matrix.pods.find((p) => key(p) === k) as PolicyLabPodSpec;
  const probeable = intents.filter((e) => e.protocol !== 'SCTP');
  for (const e of intents.filter((x) => x.protocol === 'SCTP')) {
    results.push({ name: `policy ${intentName(e)} ${e.allowed ? 'allowed' : 'denied'}`, ok: false, skipped: true, detail: 'not probed: the test image has no SCTP client or listener' });
  }
  const policySays = probeable.map((e) => targetIps(e, pods.get(e.to)!).map((ip) => expectedVerdict(index, sourceIp(pods.get(e.from)!, ip), { ip, ports: spec(e.to).ports }, intentProbe(e))));

  const settleMs = options.settleMs ?? 30_000;
  const start = Date.now();
  let seen: ProbeSeen[][] = [];
  let rounds = 0;
  let heldBefore = false;
  for (;;) {
    rounds++;
    seen = await probeRound(lab, probeable, pods);
    const held = probeable.every((e, i) => seen[i].every((s, j) => s.allowed === e.allowed && policySays[i][j] === e.allowed));
    if ((held && heldBefore) || Date.now() - start > settleMs) break;
    heldBefore = held;
    await sleep(held ? 500 : 2000);
  }
  const agents = await agentLogs(lab);
  probeable.forEach((e, i) => {
    const from = pods.get(e.from)!;
    const to = pods.get(e.to)!;
    const whereToLook = `policy agents: egress on node ${from.node} (${agents.get(from.node) ?? 'no calico-node pod'}), ingress on node ${to.node} (${agents.get(to.node) ?? 'no calico-node pod'})`;
    results.push(intentResult(e, seen[i], policySays[i], { from: `${from.name} (${from.node})`, to: `${to.name} (${to.node})`, rounds, whereToLook }));
  });
  return results;
}

/** The addresses an intent is probed at: every family, IPv4 only for ICMP (the matrix's ICMP is ICMPv4 echo). */
function targetIps(e: PolicyIntent, to: PodInfo): readonly string[] {
  return e.protocol === 'ICMP' ? to.ips.filter((ip) => !ip.includes(':')) : to.ips;
}

function oneLine(text: string): string {
  return text.trim().split('\n').slice(0, 3).join(' | ');
}

/** The source pod's address of the target's family. */
function sourceIp(from: PodInfo, target: string): string {
  return from.ips.find((ip) => ip.includes(':') === target.includes(':')) ?? from.ips[0];
}

function manifestNode(manifest: { pods: object[] }, p: { namespace: string; name: string }): string {
  const pod = manifest.pods.find((x) => (x as { metadata: { name: string; namespace: string } }).metadata.name === matrixPodName(p)
    && (x as { metadata: { namespace: string } }).metadata.namespace === p.namespace) as { spec: { nodeName: string } } | undefined;
  return pod?.spec.nodeName ?? '(unplaced)';
}

/** Polls until every matrix pod is Ready (or stuck on something that does not resolve by waiting, or the timeout). */
async function waitForMatrixPods(lab: ClusterLab, specs: readonly PolicyLabPodSpec[], timeoutMs: number): Promise<Map<string, PodInfo>> {
  const deadline = Date.now() + timeoutMs;
  let stuckSince: number | undefined;
  for (;;) {
    const all = await listPods(lab);
    const pods = new Map<string, PodInfo>();
    for (const s of specs) {
      const pod = all.find((p) => p.namespace === s.namespace && p.name === matrixPodName(s) && !p.terminating);
      if (pod) pods.set(key(s), pod);
    }
    const unready = specs.map((s) => pods.get(key(s))).filter((p) => !p?.ready);
    if (unready.length === 0 || Date.now() > deadline) return pods;
    stuckSince = unready.every((p) => p && isStuck(p)) ? stuckSince ?? Date.now() : undefined;
    if (stuckSince !== undefined && Date.now() - stuckSince > 30_000) return pods;
    await sleep(2000);
  }
}

/** Every probeable intent once, to every address of its target: one `kubectl exec` per source pod, its probes in parallel. */
async function probeRound(lab: ClusterLab, intents: readonly PolicyIntent[], pods: ReadonlyMap<string, PodInfo>): Promise<ProbeSeen[][]> {
  const seen: ProbeSeen[][] = intents.map(() => []);
  const bySource = new Map<string, { i: number; j: number; ip: string; command: string }[]>();
  intents.forEach((e, i) => {
    targetIps(e, pods.get(e.to)!).forEach((ip, j) => {
      const command = probeCommand(e, ip);
      if (command === undefined) return;
      bySource.set(e.from, [...(bySource.get(e.from) ?? []), { i, j, ip, command }]);
    });
  });
  await Promise.all([...bySource].map(async ([source, probes]) => {
    const pod = pods.get(source)!;
    // Unquoted $out: the answer's lines and blanks collapse to single spaces, one output line per probe.
    const script = probes.map((p, k) => `{ out=$(${p.command} 2>&1); echo "p${k} "$out; } &`).concat('wait').join('\n');
    const exec = await lab.kubectl(['exec', '-n', pod.namespace, pod.name, '--', 'sh', '-c', script], { allowFailure: true, timeoutMs: 60_000 });
    const lines = exec.stdout.split('\n');
    probes.forEach((p, k) => {
      const line = lines.find((l) => l.startsWith(`p${k} `) || l === `p${k}`);
      const answer = line === undefined ? `kubectl exec into ${pod.namespace}/${pod.name} failed: ${exec.stderr.trim().split('\n')[0] ?? ''}` : line.slice(`p${k}`.length).trim();
      const target = pods.get(intents[p.i].to)!;
      seen[p.i][p.j] = { ip: p.ip, allowed: line !== undefined && answeredBy(answer, target.name, intents[p.i].protocol), answer: answer.slice(0, 120) };
    });
  }));
  return seen;
}

/** Each node's calico-node pod log directory (the policy agent runs there). */
async function agentLogs(lab: ClusterLab): Promise<Map<string, string>> {
  const pods = (await listPods(lab, 'kube-system')).filter((p) => p.name.startsWith('calico-node-') && !p.terminating);
  return new Map(pods.map((p) => [p.node, `logs ${podLogDir(lab, p)}`]));
}
