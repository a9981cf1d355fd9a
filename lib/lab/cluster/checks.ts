import * as fs from 'fs';
import * as path from 'path';
import { LabProcess } from '../process';
import { ClusterLab } from './cluster-lab';
import { NETCHECK_IMAGE } from './images';
import { ClusterNode } from './node';

/** One line of the cluster report. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  /** What was seen; for a failure, which object, pod or route is wrong and where its logs are. */
  readonly detail: string;
  /** A check that could not apply to this environment. @default false */
  readonly skipped?: boolean;
}

export const NETCHECK_NAMESPACE = 'cnikit-lab';
const NETCHECK_PORT = 8080;
const GATEWAY_PORT = 8080;

export interface PodInfo {
  readonly name: string;
  readonly namespace: string;
  readonly node: string;
  readonly phase: string;
  readonly ready: boolean;
  readonly ips: readonly string[];
  readonly waiting: string[];
  readonly containers: readonly string[];
  readonly uid: string;
  /** The newest Warning event about the pod. */
  readonly warning?: string;
  readonly terminating: boolean;
}

/** The pods of a namespace (or all) as the report needs them. */
export async function listPods(lab: ClusterLab, namespace?: string, selector?: string): Promise<PodInfo[]> {
  const args = ['get', 'pods', ...(namespace ? ['-n', namespace] : ['-A']), ...(selector ? ['-l', selector] : []), '-o', 'json'];
  const list = JSON.parse((await lab.kubectl(args)).stdout) as { items: KubePod[] };
  // The newest warning about each pod (FailedCreatePodSandBox carries the CNI plugin's error).
  const events = JSON.parse((await lab.kubectl(['get', 'events', ...(namespace ? ['-n', namespace] : ['-A']), '--field-selector=type=Warning,involvedObject.kind=Pod', '-o', 'json'])).stdout) as {
    items: { involvedObject: { name: string; namespace?: string }; reason?: string; message?: string; lastTimestamp?: string; eventTime?: string }[];
  };
  const warning = (pod: KubePod): string | undefined => {
    const mine = events.items.filter((e) => e.involvedObject.name === pod.metadata.name && e.involvedObject.namespace === pod.metadata.namespace);
    const last = mine.sort((a, b) => (a.lastTimestamp ?? a.eventTime ?? '').localeCompare(b.lastTimestamp ?? b.eventTime ?? '')).at(-1);
    // The runtime's wrapping says nothing the reason does not: keep the plugin's own words.
    const message = (last?.message ?? '').replace(/rpc error: code = \w+ desc = /g, '').replace(/ for sandbox "[0-9a-f]{64}"/g, '');
    return last ? `${last.reason}: ${oneLine(message, 400)}` : undefined;
  };
  return list.items.map((pod) => ({
    warning: warning(pod),
    name: pod.metadata.name,
    namespace: pod.metadata.namespace,
    uid: pod.metadata.uid,
    terminating: pod.metadata.deletionTimestamp !== undefined,
    node: pod.spec.nodeName ?? '(unscheduled)',
    phase: pod.status.phase ?? 'Unknown',
    ready: (pod.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    ips: (pod.status.podIPs ?? []).map((p) => p.ip),
    containers: [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => c.name),
    waiting: [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])]
      .filter((s) => !s.ready)
      .map((s) => {
        const state = s.state?.waiting ?? s.state?.terminated;
        const last = s.lastState?.terminated;
        const exit = last ? `, last exit ${last.exitCode} ${last.reason ?? ''}${last.message ? ` (${oneLine(last.message, 200)})` : ''}` : '';
        return `${s.name}: ${state?.reason ?? 'not ready'}${state?.message && !last ? ` (${oneLine(state.message)})` : ''}${exit}`;
      }),
  }));
}

interface KubePod {
  metadata: { name: string; namespace: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: { name: string }[]; initContainers?: { name: string }[] };
  status: {
    phase?: string;
    podIPs?: { ip: string }[];
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}
interface ContainerStatus {
  name: string;
  ready: boolean;
  state?: { waiting?: { reason?: string; message?: string }; terminated?: { reason?: string; message?: string; exitCode?: number } };
  lastState?: { terminated?: { reason?: string; exitCode?: number; message?: string } };
}

function oneLine(text: string, max = 240): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** Where a pod's container logs are in the run directory (the node's /var/log/pods). */
export function podLogDir(lab: ClusterLab, pod: PodInfo): string {
  const node = lab.nodes.find((n) => n.name === pod.node);
  return node ? path.join(node.dir, 'upper', 'var', 'log', 'pods', `${pod.namespace}_${pod.name}_${pod.uid}`) : '(pod not on a lab node)';
}

/** The last line a container wrote (its newest log file under the pod's log directory), CRI prefix removed. */
function lastLogLine(logDir: string, container: string): string | undefined {
  try {
    const dir = path.join(logDir, container);
    const newest = fs.readdirSync(dir).filter((f) => /^\d+\.log$/.test(f)).sort((a, b) => parseInt(b, 10) - parseInt(a, 10))[0];
    if (!newest) return undefined;
    const lines = fs.readFileSync(path.join(dir, newest), 'utf8').split('\n').filter(Boolean);
    return lines.at(-1)?.replace(/^\S+ (stdout|stderr) [FP] /, '');
  } catch {
    return undefined;
  }
}

export function describePod(lab: ClusterLab, pod: PodInfo): string {
  // A container that exited: its own last words usually say why.
  const crashed = pod.waiting.filter((w) => w.includes(', last exit')).map((w) => w.split(':')[0]);
  const said = crashed.map((c) => [c, lastLogLine(podLogDir(lab, pod), c)]).filter(([, line]) => line).map(([c, line]) => `${c} last logged "${oneLine(line!, 200)}"`);
  const waiting = pod.waiting.length ? `; ${[...pod.waiting, ...said].join('; ')}` : '';
  const warning = pod.warning && !pod.ready ? `; last warning ${pod.warning}` : '';
  return `pod ${pod.namespace}/${pod.name} on ${pod.node}: ${pod.phase}${waiting}${warning}; logs ${podLogDir(lab, pod)}`;
}

/**
 * Waits until every DaemonSet has a ready pod on every node it schedules to and every Deployment has
 * its replicas ready (or `timeoutMs` passes); one result per workload, naming the pods that are not.
 */
export async function waitForWorkloads(lab: ClusterLab, timeoutMs = 240_000): Promise<CheckResult[]> {
  const deadline = Date.now() + timeoutMs;
  let results: CheckResult[] = [];
  let pods: PodInfo[] = [];
  let stuckSince: number | undefined;
  for (let round = 0; ; round++) {
    const json = JSON.parse((await lab.kubectl(['get', 'daemonsets,deployments', '-A', '-o', 'json'])).stdout) as { items: KubeWorkload[] };
    results = json.items.map((w) => {
      const name = `${w.kind} ${w.metadata.namespace}/${w.metadata.name}`;
      if (w.kind === 'DaemonSet') {
        const want = w.status.desiredNumberScheduled ?? 0;
        const ready = w.status.numberReady ?? 0;
        return { name: `${name} ready`, ok: want > 0 && ready === want && (w.status.updatedNumberScheduled ?? 0) === want, detail: `${ready}/${want} pods ready` };
      }
      const want = w.spec.replicas ?? 1;
      const ready = w.status.readyReplicas ?? 0;
      // Host network with a declared port (Typha): one replica per node at most; the rest stay Pending by design.
      const pod = w.spec.template?.spec;
      const ports = pod?.hostNetwork ? (pod.containers ?? []).flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)) : [];
      const placeable = ports.length ? Math.min(want, lab.nodes.length) : want;
      const unplaceable = want - placeable;
      return {
        name: `${name} ready`, ok: ready >= placeable,
        detail: `${ready}/${want} replicas ready${unplaceable ? ` (${unplaceable} cannot be placed: host network port ${ports.join(',')} allows one per node and the lab has ${lab.nodes.length})` : ''}`,
      };
    });
    const failed = lab.failedDaemon();
    if (failed) return [...results, { name: 'lab daemons running', ok: false, detail: failed }];
    if (results.every((r) => r.ok) || Date.now() > deadline) break;
    if (round % 10 === 9) lab.log(`waiting: ${results.map((r) => `${r.name.replace(/ ready$/, '')} ${r.detail}`).join(', ')}`);
    // A pod that cannot get better (an image that cannot be pulled, a crash loop, a bad config) ends
    // the wait once every unready pod has been stuck for half a minute.
    if (round % 5 === 4) {
      pods = (await listPods(lab)).filter((p) => !p.ready);
      const allStuck = pods.length > 0 && pods.every(isStuck);
      stuckSince = allStuck ? stuckSince ?? Date.now() : undefined;
      if (stuckSince !== undefined && Date.now() - stuckSince > 30_000) break;
    }
    await sleep(2000);
  }
  if (results.every((r) => r.ok)) return results;
  // Name the pods behind each failure.
  pods = (await listPods(lab)).filter((p) => !p.ready);
  return results.map((r) => {
    if (r.ok) return r;
    const [, namespace, name] = /^\w+ ([^/]+)\/(\S+)/.exec(r.name) ?? [];
    const mine = pods.filter((p) => p.namespace === namespace && p.name.startsWith(`${name}-`));
    return { ...r, detail: `${r.detail}; ${mine.map((p) => describePod(lab, p)).join(' · ') || 'no pods created (kubectl describe it)'}` };
  });
}

/** Waiting reasons that do not resolve by waiting. */
const STUCK = /: (CrashLoopBackOff|ImagePullBackOff|ErrImagePull|ErrImageNeverPull|CreateContainerConfigError|CreateContainerError|InvalidImageName|RunContainerError)\b/;

/** A pod that waits on something that will not change by itself: a crash loop, an image, its sandbox (the CNI plugin). */
export function isStuck(pod: PodInfo): boolean {
  return pod.waiting.some((w) => STUCK.test(w)) || (pod.warning?.startsWith('FailedCreatePodSandBox') ?? false);
}

interface KubeWorkload {
  kind: 'DaemonSet' | 'Deployment';
  metadata: { name: string; namespace: string };
  spec: { replicas?: number; template?: { spec?: { hostNetwork?: boolean; containers?: { ports?: { containerPort: number }[] }[] } } };
  status: { desiredNumberScheduled?: number; numberReady?: number; updatedNumberScheduled?: number; readyReplicas?: number };
}

/** Every lab node Ready, or which are not and why (the kubelet's Ready condition message). */
export async function nodesReady(lab: ClusterLab, timeoutMs = 60_000): Promise<CheckResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const json = JSON.parse((await lab.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as { items: { metadata: { name: string }; status: { conditions?: { type: string; status: string; message?: string }[] } }[] };
    const notReady = json.items
      .map((n) => ({ name: n.metadata.name, ready: (n.status.conditions ?? []).find((c) => c.type === 'Ready') }))
      .filter((n) => n.ready?.status !== 'True');
    if (notReady.length === 0) return { name: 'nodes Ready', ok: true, detail: `${json.items.length} nodes Ready` };
    if (Date.now() > deadline) {
      return {
        name: 'nodes Ready',
        ok: false,
        detail: notReady.map((n) => `node ${n.name} NotReady: ${oneLine(n.ready?.message ?? 'no Ready condition')} (kubelet log ${path.join(lab.node(n.name).logDir, 'kubelet.log')})`).join(' · '),
      };
    }
    await sleep(2000);
  }
}

/**
 * The test workload: one busybox pod per node serving its own name over HTTP, and a ClusterIP
 * Service in front. Where the environment declares policies (a default deny, say), the workload's
 * namespace opens itself with a NetworkPolicy, as any team's namespace must, so that the probes
 * measure the network and not the baseline.
 */
export function netcheckManifest(dualStack: boolean, openPolicy = false): string {
  const objects: object[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NETCHECK_NAMESPACE } },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'netcheck', namespace: NETCHECK_NAMESPACE },
      spec: {
        selector: { matchLabels: { app: 'netcheck' } },
        template: {
          metadata: { labels: { app: 'netcheck' } },
          spec: {
            tolerations: [{ operator: 'Exists' }],
            terminationGracePeriodSeconds: 1,
            containers: [{
              name: 'netcheck',
              image: NETCHECK_IMAGE,
              imagePullPolicy: 'Never',
              command: ['/bin/sh', '-c', `mkdir -p /tmp/www && hostname > /tmp/www/index.html && exec httpd -f -p ${NETCHECK_PORT} -h /tmp/www`],
              ports: [{ name: 'http', containerPort: NETCHECK_PORT }],
              readinessProbe: { tcpSocket: { port: NETCHECK_PORT }, periodSeconds: 2 },
            }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'netcheck', namespace: NETCHECK_NAMESPACE },
      spec: {
        selector: { app: 'netcheck' },
        ports: [{ name: 'http', port: 80, targetPort: NETCHECK_PORT }],
        ...(dualStack ? { ipFamilyPolicy: 'PreferDualStack' } : {}),
      },
    },
  ];
  if (openPolicy) {
    objects.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'netcheck-open', namespace: NETCHECK_NAMESPACE },
      spec: { podSelector: { matchLabels: { app: 'netcheck' } }, policyTypes: ['Ingress', 'Egress'], ingress: [{}], egress: [{}] },
    });
  }
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });
}

export interface ConnectivityOptions {
  readonly dualStack: boolean;
  /** Pod traffic to the outside is masqueraded (pool natOutgoing / flannel ip-masq). */
  readonly natOutgoing: boolean;
  /** @default 60000 */
  readonly timeoutMs?: number;
  /** The environment declares network policies: the test workload opens its namespace with a NetworkPolicy. @default false */
  readonly policiesDeclared?: boolean;
}

/**
 * Deploys the test workload, waits for a ready pod on every node, then proves pod ↔ pod (ICMP and
 * TCP, every family), pod → ClusterIP Services (`kubernetes` and the workload's own) and pod →
 * outside (the gateway namespace, through NAT where configured). Polls until all pass or the timeout.
 */
export async function connectivityChecks(lab: ClusterLab, options: ConnectivityOptions): Promise<CheckResult[]> {
  await lab.kubectl(['apply', '--server-side', '--field-manager=cnikit-cluster-lab', '-f', '-'], { input: netcheckManifest(options.dualStack, options.policiesDeclared) });
  const placement = await netcheckPlacement(lab, options.timeoutMs ?? 120_000);
  if (placement.some((r) => !r.ok)) return placement;
  const pods = (await listPods(lab, NETCHECK_NAMESPACE, 'app=netcheck')).filter((p) => !p.terminating);
  const gateway = await startGatewayServer(lab);
  try {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const results = [...placement, ...(await probeAll(lab, pods, options))];
      if (results.every((r) => r.ok || r.skipped) || Date.now() > deadline) return results;
      await sleep(2000);
    }
  } finally {
    await gateway.stop('SIGKILL');
  }
}

/** One ready netcheck pod on every lab node, or the pods (and nodes) where it is not. */
async function netcheckPlacement(lab: ClusterLab, timeoutMs: number): Promise<CheckResult[]> {
  const deadline = Date.now() + timeoutMs;
  let stuckSince: number | undefined;
  for (;;) {
    const pods = await listPods(lab, NETCHECK_NAMESPACE, 'app=netcheck');
    const results = lab.nodes.map((node): CheckResult => {
      // A pod being deleted is not the one the DaemonSet keeps there.
      const pod = pods.find((p) => p.node === node.name && !p.terminating);
      if (!pod) return { name: `test pod on ${node.name}`, ok: false, detail: `no netcheck pod scheduled on node ${node.name}` };
      return pod.ready
        ? { name: `test pod on ${node.name}`, ok: true, detail: `${pod.name} ${pod.ips.join(', ')}` }
        : { name: `test pod on ${node.name}`, ok: false, detail: `node ${node.name}: ${describePod(lab, pod)}; kubelet log ${path.join(node.logDir, 'kubelet.log')}` };
    });
    if (results.every((r) => r.ok) || Date.now() > deadline) return results;
    // Pods whose sandbox keeps failing (or that crash-loop) end the wait after half a minute.
    const unready = pods.filter((p) => !p.ready);
    stuckSince = unready.length > 0 && unready.every(isStuck) ? stuckSince ?? Date.now() : undefined;
    if (stuckSince !== undefined && Date.now() - stuckSince > 30_000) return results;
    await sleep(2000);
  }
}

/**
 * An HTTP/1.0 GET with busybox nc (its wget resolves the port through NSS, which a static binary in a
 * bare image cannot load): the output ends with the body.
 */
export function httpGet(ip: string, port: number, pathName = '/'): string {
  return `printf 'GET ${pathName} HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${ip} ${port}`;
}

/** A shell script for a test pod: one line per probe, `<kind> <target> ok|fail <the last words that came back>`. */
function probeScript(probes: readonly { kind: string; target: string; command: string }[]): string {
  return probes.map((p) => `out=$(${p.command} 2>&1) && echo "${p.kind} ${p.target} ok $(echo $out | tail -c 160)" || echo "${p.kind} ${p.target} fail $(echo $out | tail -c 160)"`).join('\n');
}

async function probeAll(lab: ClusterLab, pods: readonly PodInfo[], options: ConnectivityOptions): Promise<CheckResult[]> {
  const families = options.dualStack ? [4, 6] : [4];
  const ipOf = (pod: PodInfo, family: number) => pod.ips.find((ip) => ip.includes(':') === (family === 6));
  const services = JSON.parse((await lab.kubectl(['get', 'services', '-A', '-o', 'json'])).stdout) as { items: { metadata: { name: string; namespace: string }; spec: { clusterIPs?: string[] } }[] };
  const clusterIps = (namespace: string, name: string) => services.items.find((s) => s.metadata.namespace === namespace && s.metadata.name === name)?.spec.clusterIPs ?? [];
  const gatewayIp = lab.plan.segments[0].gateway;
  const results: CheckResult[] = [];
  await Promise.all(pods.map(async (from) => {
    const probes: { kind: string; target: string; command: string }[] = [];
    for (const to of pods.filter((p) => p !== from)) {
      for (const family of families) {
        const ip = ipOf(to, family);
        if (!ip) continue;
        probes.push({ kind: `icmp${family}`, target: `${to.name}@${ip}`, command: `${family === 6 ? 'ping6' : 'ping'} -c 1 -W 2 ${ip}` });
        probes.push({ kind: `tcp${family}`, target: `${to.name}@${ip}`, command: httpGet(ip, NETCHECK_PORT) });
      }
    }
    // A TCP connection to the API server through its ClusterIP (kube-proxy's DNAT to the control plane).
    for (const ip of clusterIps('default', 'kubernetes')) probes.push({ kind: 'service', target: `kubernetes@${ip}`, command: `nc -w 3 ${ip} 443 </dev/null && echo connected` });
    for (const ip of clusterIps(NETCHECK_NAMESPACE, 'netcheck')) probes.push({ kind: 'service', target: `netcheck@${ip}`, command: httpGet(ip, 80) });
    if (options.natOutgoing) probes.push({ kind: 'outside', target: `gateway@${gatewayIp}`, command: httpGet(gatewayIp, GATEWAY_PORT, '/cgi-bin/whoami') });
    const exec = await lab.kubectl(['exec', '-n', NETCHECK_NAMESPACE, from.name, '--', 'sh', '-c', probeScript(probes)], { allowFailure: true, timeoutMs: 120_000 });
    const lines = exec.stdout.split('\n').filter(Boolean);
    if (exec.code !== 0 && lines.length === 0) {
      results.push({ name: `exec into ${from.name} (${from.node})`, ok: false, detail: `kubectl exec failed: ${oneLine(exec.stderr)}` });
      return;
    }
    for (const probe of probes) {
      const line = lines.find((l) => l.startsWith(`${probe.kind} ${probe.target} `)) ?? `${probe.kind} ${probe.target} fail no answer`;
      const [, , verdict, ...rest] = line.split(' ');
      const answer = rest.join(' ');
      const name = `${probe.kind} ${from.node} → ${probe.target.replace(/@.*/, '')}`;
      let ok = verdict === 'ok';
      const lastWord = answer.trim().split(' ').at(-1) ?? '';
      let detail = ok ? `${from.name} → ${probe.target}: ${probe.kind.startsWith('icmp') ? 'echo reply' : `answered ${lastWord}`}` : `${from.name} → ${probe.target}: ${answer || 'no answer'}`;
      if (ok && probe.kind.startsWith('tcp')) {
        // The body is the serving pod's hostname: the right pod answered.
        const expected = probe.target.replace(/@.*/, '');
        ok = lastWord === expected;
        if (!ok) detail = `${from.name} → ${probe.target}: answered "${answer}", expected ${expected}`;
      }
      if (ok && probe.kind === 'outside') {
        const source = lastWord;
        const node = lab.nodes.find((n) => n.name === from.node);
        ok = node !== undefined && (source === node.plan.address || source === node.plan.address6);
        detail = ok ? `${from.name} reached ${gatewayIp} as ${source} (masqueraded to its node)` : `${from.name} reached ${gatewayIp} as ${source}, expected its node's address ${node?.plan.address} (NAT outgoing)`;
      }
      if (!ok) {
        const target = probe.target.split('@')[1];
        detail += `; route on ${from.node}: ${await routeTo(lab, lab.node(from.node), target)}`;
        if (options.policiesDeclared) detail += ' (the test namespace is open by NetworkPolicy netcheck-open: a deny here is not intended)';
      }
      results.push({ name, ok, detail });
    }
  }));
  if (!options.natOutgoing) results.push({ name: 'outside', ok: true, skipped: true, detail: 'no NAT outgoing configured: the underlay has no route back to pods' });
  return results.sort((a, b) => a.name.localeCompare(b.name));
}

async function routeTo(lab: ClusterLab, node: ClusterNode, ip: string): Promise<string> {
  const result = await lab.execOnNode(node, ['ip', 'route', 'get', ip], { allowFailure: true });
  return oneLine(result.stdout || result.stderr) || 'none';
}

/**
 * A web server in the gateway namespace (the "outside" of the cluster): busybox httpd with a CGI
 * script that answers with the client address it sees, so NAT outgoing is observed, not assumed.
 */
async function startGatewayServer(lab: ClusterLab): Promise<LabProcess> {
  const www = path.join(lab.dir, 'gateway-www');
  fs.mkdirSync(path.join(www, 'cgi-bin'), { recursive: true });
  fs.writeFileSync(path.join(www, 'index.html'), 'gateway\n');
  fs.writeFileSync(path.join(www, 'cgi-bin', 'whoami'), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n', { mode: 0o755 });
  const server = new LabProcess('gateway-httpd', ['busybox', 'httpd', '-f', '-p', `${lab.plan.segments[0].gateway}:${GATEWAY_PORT}`, '-h', www], {
    netns: lab.plan.gwNetns,
    logFile: path.join(lab.dir, 'gateway-httpd.log'),
  });
  await sleep(200);
  if (!server.running) throw new Error(`gateway web server exited: ${server.output().join(' | ')}`);
  return server;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The report: one line per check, then a verdict. */
export function formatChecks(title: string, results: readonly CheckResult[]): string {
  const lines = [title];
  for (const r of results) lines.push(`  ${r.skipped ? '-' : r.ok ? '✔' : '✘'} ${r.name}: ${r.detail}`);
  const failed = results.filter((r) => !r.ok && !r.skipped).length;
  lines.push(failed === 0 ? `  all ${results.length} checks passed` : `  ${failed} of ${results.length} checks failed`);
  return lines.join('\n');
}
