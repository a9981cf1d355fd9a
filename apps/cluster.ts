// `npm run cluster -- --env <dev|staging|prod> [--nodes N] [--keep] [--logs DIR]`
// Builds the images, synthesizes, starts a real Kubernetes on this machine (docs/cluster-lab.md),
// applies dist/<env>/ exactly as written, waits for it, checks the pod network and prints a report.
import { spawn } from 'child_process';
import * as fs from 'fs';
import { createInterface } from 'readline';
import * as path from 'path';
import { parseArgs } from 'util';
import { ClusterLab, referencedImages } from '../lib/lab/cluster/cluster-lab';
import { rbacDenialsCheck, typhaWatchCheck } from '../lib/lab/cluster/audit';
import { kubeControllersSettingsChecks } from '../lib/lab/cluster/kube-controllers-checks';
import { felixVxlanPortChange, invalidPolicyUpdate, lateNetworkPolicy } from '../lib/lab/cluster/live-change-checks';
import { vxlanDevice, vxlanRoutingChecks } from '../lib/lab/cluster/vxlan-checks';
import { retireNode } from '../lib/lab/cluster/node-retirement';
import { rbacUsageCheck, readManifestObjects, stackServiceAccounts } from '../lib/lab/cluster/rbac-usage';
import { bgpChecks } from '../lib/lab/cluster/bgp-checks';
import { CheckResult, connectivityChecks, formatChecks, nodesReady, waitForWorkloads } from '../lib/lab/cluster/checks';
import { policyMatrixChecks } from '../lib/lab/cluster/policy-matrix';
import { parsePolicyMatrix, readPolicyManifests } from '../lib/lab/policy-harness';
import { clusterPlan, ClusterPlan } from './environments/cluster';
import { environment as findEnvironment, Environment } from './environments';

const REPO_ROOT = path.resolve(__dirname, '..');

/** `npm run images` then `npm run synth`, as a user runs them; returns the environment's manifests in apply order. */
export async function buildAndSynth(environment: Environment, log: (line: string) => void): Promise<string[]> {
  await npmRun('images', log);
  await npmRun('synth', log);
  return manifestFiles(environment);
}

/** `npm run <script>` in the repository, each line of its output passed on as progress. */
export function npmRun(script: string, log: (line: string) => void): Promise<void> {
  log(`npm run ${script}`);
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on('line', (line) => {
        log(`${script}: ${line}`);
        tail.push(line);
        if (tail.length > 5) tail.shift();
      });
    }
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`npm run ${script} exited ${code}: ${tail.join(' | ')}`))));
  });
}

/** `dist/<env>/*.yaml` in the order they are applied. */
export function manifestFiles(environment: Environment): string[] {
  const dir = path.join(REPO_ROOT, 'dist', environment.name);
  return fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort().map((f) => path.join(dir, f));
}

export interface EnvironmentRun {
  readonly lab: ClusterLab;
  readonly plan: ClusterPlan;
  readonly results: CheckResult[];
}

/** Starts a cluster for `environment` (not yet deployed). */
export function startCluster(environment: Environment, options: { nodes?: number; log: (line: string) => void; keepFiles?: boolean }): Promise<ClusterLab> {
  const plan = clusterPlan(environment, options.nodes ?? 3);
  return ClusterLab.create({
    nodes: options.nodes, topology: plan.topology, network: plan.network, log: options.log, keepFiles: options.keepFiles,
    nodeLabels: plan.nodeLabels, routers: plan.routers,
  });
}

/**
 * What an operator has in place before deploying `files`: the kit's images imported into every node
 * and the Secrets the environment expects. Returns a result only for what is wrong.
 */
export async function prepareCluster(lab: ClusterLab, environment: Environment, files: readonly string[]): Promise<CheckResult[]> {
  const plan = clusterPlan(environment, lab.nodes.length);
  const images = referencedImages(files, path.join(REPO_ROOT, 'dist', 'images'));
  const results: CheckResult[] = [];
  if (images.foreign.length > 0) {
    results.push({ name: 'images', ok: false, detail: `the manifests reference images the kit does not build and the lab cannot pull: ${images.foreign.join(', ')}` });
  }
  await lab.importImages(images.kit);
  // What the environment expects an operator to have created (BGP passwords), as an operator would.
  for (const secret of plan.secrets) {
    await lab.kubectl(['create', 'secret', 'generic', secret.name, '-n', secret.namespace, ...Object.entries(secret.data).map(([k, v]) => `--from-literal=${k}=${v}`)]);
  }
  return results;
}

/**
 * Deploys `files` to `lab` as written, as an operator would: the kit's images imported, the Secrets
 * the environment expects created, every file applied in order, then every DaemonSet and Deployment
 * and every node Ready. Returns one result per step.
 */
export async function deploy(lab: ClusterLab, environment: Environment, files: readonly string[]): Promise<CheckResult[]> {
  const results = await prepareCluster(lab, environment, files);
  // Like `kubectl apply -f dist/<env>/`: a failing object does not stop the others, so the checks go on.
  const failures = await lab.apply(files);
  results.push(failures.length === 0
    ? { name: `apply dist/${environment.name}`, ok: true, detail: `${files.map((f) => path.basename(f)).join(', ')} applied (server-side, in order)` }
    : { name: `apply dist/${environment.name}`, ok: false, detail: failures.join(' · ') });
  lab.log('waiting for every DaemonSet and Deployment to be Ready');
  results.push(...(await waitForWorkloads(lab)));
  results.push(await nodesReady(lab));
  return results;
}

/**
 * Deploys `files` to `lab` as written and runs every check: workloads Ready, nodes Ready, the test
 * workload on every node, pod ↔ pod, Services, outside, policy intent (the environment's policy
 * matrix probed between real pods). Returns one result per check.
 */
export async function deployAndCheck(lab: ClusterLab, environment: Environment, files: readonly string[]): Promise<CheckResult[]> {
  const plan = clusterPlan(environment, lab.nodes.length);
  const results = await deploy(lab, environment, files);
  lab.log('test workload: one pod per node; probing pod ↔ pod, Services, outside');
  const policies = environment.stack.kind === 'calico' ? environment.stack.policies : undefined;
  results.push(...(await connectivityChecks(lab, { dualStack: plan.dualStack, natOutgoing: plan.natOutgoing, policiesDeclared: policies !== undefined })));
  if (plan.typha) results.push(typhaWatchCheck(lab));
  // Changes while running: a FelixConfiguration patch reaches the kernel, a new NetworkPolicy is enforced.
  for (const { family, crossSubnet } of plan.vxlan) results.push(...(await vxlanRoutingChecks(lab, family, crossSubnet)));
  if (plan.vxlan.length) {
    const devices = plan.vxlan.map((v) => vxlanDevice(v.family));
    results.push(...(await felixVxlanPortChange(lab, 4790, { devices, dualStack: plan.dualStack, natOutgoing: plan.natOutgoing, refreshSeconds: plan.routeRefreshSeconds })));
  }
  // The Calico stack runs a policy agent; with no policies declared the test namespace is open to isolate one pod.
  if (environment.stack.kind === 'calico' && !policies) results.push(await lateNetworkPolicy(lab));
  // Its policy agent keeps a policy's last good version when it is patched to an invalid one, and says so in Events.
  if (environment.stack.kind === 'calico' && (environment.stack.props.networkPolicy ?? true)) results.push(await invalidPolicyUpdate(lab));
  // calico-kube-controllers runs with its KubeControllersConfiguration and follows a change of it.
  if (environment.stack.kind === 'calico') results.push(...(await kubeControllersSettingsChecks(lab)));
  const reflectors = lab.nodes.filter((_, i) => plan.nodeLabels[i] !== undefined).map((n) => n.name);
  if (plan.bgp) results.push(...(await bgpChecks(lab, reflectors)));
  const matrixFile = environment.stack.kind === 'calico' ? environment.stack.policyMatrix : undefined;
  if (policies && matrixFile) {
    // The environment's own statement of who may reach whom, probed between real pods under the deployed policies.
    const matrix = parsePolicyMatrix(fs.readFileSync(path.resolve(REPO_ROOT, matrixFile), 'utf8'), matrixFile);
    results.push(...(await policyMatrixChecks(lab, { matrix, source: matrixFile, policies: readPolicyManifests(files), dualStack: plan.dualStack })));
  } else {
    results.push(policies
      ? { name: 'policy intent', ok: false, skipped: true, detail: `the environment declares policies but no policyMatrix saying what they must allow and deny` }
      : { name: 'policy intent', ok: true, skipped: true, detail: 'no policies declared: every pod may reach every pod (checked above)' });
  }
  // Last: a node retired (Calico: a CNI DEL, then calico-kube-controllers cleaning up after the deleted
  // node), then least privilege over every call the run made: no 403, and no grant left unused.
  if (environment.stack.kind === 'calico') results.push(...(await retireNode(lab, { keep: reflectors })));
  results.push(...rbacChecks(lab, files));
  return results;
}

/**
 * The stack's ServiceAccounts (those the manifests create) are never refused (403), and every grant
 * their roles give them is used by a call in the audit log (or on the reviewed exemption list).
 */
function rbacChecks(lab: ClusterLab, files: readonly string[]): CheckResult[] {
  const byNamespace = new Map<string, string[]>();
  for (const account of stackServiceAccounts(readManifestObjects(files))) {
    const [namespace, name] = account.split('/');
    byNamespace.set(namespace, [...(byNamespace.get(namespace) ?? []), name]);
  }
  return [...[...byNamespace].map(([namespace, names]) => rbacDenialsCheck(lab, names, namespace)), rbacUsageCheck(lab, files)];
}

/** Copies the control plane's, nodes' and pods' logs out of the run directory into `dest`. */
export function collectLogs(lab: ClusterLab, dest: string): void {
  fs.mkdirSync(dest, { recursive: true });
  const copy = (from: string, to: string) => {
    if (fs.existsSync(from)) fs.cpSync(from, path.join(dest, to), { recursive: true, dereference: false });
  };
  copy(path.join(lab.dir, 'control-plane', 'logs'), 'control-plane');
  for (const node of lab.nodes) {
    copy(node.logDir, path.join(node.name, 'daemons'));
    copy(path.join(node.dir, 'upper', 'var', 'log', 'pods'), path.join(node.name, 'pods'));
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'dev' },
      nodes: { type: 'string', default: '3' },
      keep: { type: 'boolean', default: false },
      logs: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('npm run cluster -- --env <dev|staging|prod> [--nodes 3] [--keep] [--logs dist/cluster-lab/<env>]');
    return 0;
  }
  const environment = findEnvironment(values.env!);
  const nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 8) throw new Error(`--nodes: "${values.nodes}" is not valid; expected 1 to 8`);
  const logsDir = path.resolve(values.logs ?? path.join(REPO_ROOT, 'dist', 'cluster-lab', environment.name));
  const started = Date.now();
  const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  const files = await buildAndSynth(environment, log);
  const lab = await startCluster(environment, { nodes, log, keepFiles: values.keep });
  let failed = true;
  try {
    const results = await deployAndCheck(lab, environment, files);
    collectLogs(lab, logsDir);
    console.log(formatChecks(`cluster lab: ${environment.name} on ${lab.nodes.length} nodes (${lab.id})`, results));
    console.log(`logs: ${logsDir}`);
    failed = results.some((r) => !r.ok && !r.skipped);
    if (values.keep) {
      const kubectl = `ip netns exec ${lab.plan.gwNetns} ${lab.kubernetes.path('kubectl')}`;
      console.log([
        '',
        'The cluster stays up until Ctrl-C. From this machine (the API is reachable inside the lab only):',
        `  KUBECONFIG=${lab.kubeconfig} ${kubectl} get pods -A -o wide`,
        `  KUBECONFIG=${lab.kubeconfig} ${kubectl} logs -n kube-system ds/<name>`,
        `Enter a node (its network and mount namespaces: /etc/cni/net.d, /opt/cni/bin as the node sees them):`,
        ...lab.nodes.map((n) => `  ${n.enter(['bash']).join(' ')}    # ${n.name} ${n.plan.address}`),
        `Run directory (kubelet, containerd, control-plane logs): ${lab.dir}`,
      ].join('\n'));
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    await lab.destroy();
  }
  return failed ? 1 : 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (error: unknown) => {
    console.error(`cluster: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
