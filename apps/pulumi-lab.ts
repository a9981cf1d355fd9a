// `npm run pulumi-lab -- --env <dev|staging|prod> [--nodes N] [--logs DIR]`, or `-- --example`
// Deploys a bundled environment to a cluster lab with the real Pulumi engine instead of kubectl:
// preview, up (the provider's readiness awaits), live objects against dist/<env>, the pods' network,
// a second up with no changes, configuration changes previewed, destroy leaving nothing (docs/pulumi.md).
import * as fs from 'fs';
import * as path from 'path';
import { isDeepStrictEqual, parseArgs } from 'util';
import { CheckResult, connectivityChecks, formatChecks, NETCHECK_NAMESPACE, nodesReady, waitForWorkloads } from '../lib/lab/cluster/checks';
import { ClusterLab, kitImages } from '../lib/lab/cluster/cluster-lab';
import { KIT_VERSION } from '../lib/model/images';
import { ensurePulumiEngine, PulumiEngine } from '../lib/lab/cluster/pulumi-engine';
import { readManifestObjects } from '../lib/lab/cluster/rbac-usage';
import { imagesOf } from '../lib/pulumi/images';
import { apiGroupOf, KubeObject, objectKey, toKubeObject } from '../lib/pulumi/kube-object';
import { resourceNameOf } from '../lib/pulumi/registration-plan';
import { networkStackSummaries } from '../lib/pulumi/stack-summaries';
import { synthesizeObjects } from '../lib/pulumi/synthesize';
import { buildAndSynth, collectLogs, prepareCluster, startCluster } from './cluster';
import { clusterPlan } from './environments/cluster';
import { buildEnvironment, environment as findEnvironment, Environment, ENVIRONMENTS } from './environments';
import { readImageDigests } from './image-digests';
import type { ResourceChange, StackResult } from './pulumi/automation';
import { LabStack } from './pulumi/lab-stack';
import { withOverrides } from './pulumi/program';
import { parseStackConfig } from './pulumi/stack-config';

const REPO_ROOT = path.resolve(__dirname, '..');

/** The configuration changes previewed on a deployed stack; each must plan exactly what synth would change. */
export function configChanges(environment: Environment): Record<string, string>[] {
  const nodes = environment.stack.kind === 'calico' ? environment.stack.props.nodeCount ?? 3 : environment.stack.props.expectedNodeCount ?? 3;
  return [
    { 'cnikit:imageRegistry': 'registry.lab.example:5000/mirror' },
    // Calico-style: past the Typha threshold (50) Typha is added; Flannel-style: checked, nothing rendered.
    { 'cnikit:expectedNodes': String(Math.max(nodes + 1, 60)) },
  ];
}

/**
 * Everything `npm run pulumi-lab` checks, on a started lab with the environment's images imported.
 * Returns one result per check, each with the time it took where the engine ran.
 */
export async function pulumiLabChecks(lab: ClusterLab, environment: Environment, files: readonly string[], engine: PulumiEngine, log: (line: string) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const stack = new LabStack(lab, engine, { stack: environment.name });
  const component = `cnikit-${environment.name}`;
  const synthesized = readManifestObjects(files).map((o, i) => toKubeObject(o, `${files.join(',')}[${i}]`));
  const engineLog = (line: string) => log(`pulumi: ${line}`);
  const step = async (name: string, run: () => Promise<StackResult>, judge: (r: StackResult) => string | undefined, more?: (r: StackResult) => string): Promise<StackResult> => {
    log(name);
    const r = await run();
    const problem = r.ok ? judge(r) : `the engine failed: ${r.error}`;
    const extra = r.ok && more ? more(r) : '';
    results.push({ name, ok: problem === undefined, detail: `${problem ?? describe(r)} (${r.seconds.toFixed(0)} s)${extra ? `: ${extra}` : ''}` });
    return r;
  };

  const creates = (r: StackResult) => kubernetesChanges(r).filter((c) => c.op === 'create').length;
  await step('pulumi preview (new stack)', () => stack.run('preview', {}, engineLog), (r) =>
    creates(r) === synthesized.length && kubernetesChanges(r).every((c) => c.op === 'create') ? undefined : `planned ${describe(r)}; expected ${synthesized.length} objects to create`);
  const up = await step('pulumi up', () => stack.run('up', {}, engineLog), (r) =>
    creates(r) === synthesized.length ? undefined : `did ${describe(r)}; expected ${synthesized.length} objects created`);
  if (!up.ok) return results;

  results.push(outputsCheck(up.outputs, environment, synthesized));
  results.push(...(await waitForWorkloads(lab)), await nodesReady(lab));
  results.push(await liveParityCheck(lab, synthesized));
  const plan = clusterPlan(environment, lab.nodes.length);
  const policies = environment.stack.kind === 'calico' ? environment.stack.policies : undefined;
  results.push(...(await connectivityChecks(lab, { dualStack: plan.dualStack, natOutgoing: plan.natOutgoing, policiesDeclared: policies !== undefined })));
  await lab.kubectl(['delete', 'namespace', NETCHECK_NAMESPACE, '--wait=true', '--timeout=120s'], { allowFailure: true, timeoutMs: 150_000 });

  await step('pulumi up again: no changes', () => stack.run('up', {}, engineLog), (r) =>
    r.changes.length === 0 ? undefined : `changed ${r.changes.map((c) => `${c.op} ${nameOf(c.urn)} (${c.paths.join(', ')})`).join('; ')}`);
  const base = synthesizedFor(environment, {});
  // What the engine planned or did to the objects must be exactly the difference synth makes.
  const exactly = (expected: readonly string[], verb: string) => (r: StackResult) => {
    const changed = kubernetesChanges(r).map((c) => `${c.op} ${typeKeyOf(c)}`).sort();
    return isDeepStrictEqual(changed, expected) ? undefined : `${verb} [${changed.join(', ')}]; synth differs in [${expected.join(', ')}]`;
  };
  const setting = (config: Readonly<Record<string, string>>) => Object.entries(config).map(([k, v]) => `${k}=${v}`).join(' ');
  for (const config of configChanges(environment)) {
    await step(`pulumi preview with ${setting(config)}`, () => stack.run('preview', config, engineLog), exactly(plannedDifference(component, base, synthesizedFor(environment, config)), 'planned'),
      (r) => kubernetesChanges(r).map((c) => `${c.op} ${nameOf(c.urn)}${c.paths.length ? ` (${c.paths.join(', ')})` : ''}`).join('; '));
  }
  // The registry change applied for real: the kit's images, imported under the mirror's names, roll
  // out through the provider's awaits; then back to the committed configuration.
  const [mirror] = configChanges(environment);
  const mirrored = synthesizedFor(environment, mirror);
  await lab.importImages(kitImages(imagesOf(mirrored), path.join(REPO_ROOT, 'dist', 'images')).kit);
  await step(`pulumi up with ${setting(mirror)}`, () => stack.run('up', mirror, engineLog), exactly(plannedDifference(component, base, mirrored), 'did'));
  results.push(await liveParityCheck(lab, mirrored, `live objects equal synth with ${setting(mirror)}`));
  await step('pulumi up with the committed configuration again', () => stack.run('up', {}, engineLog), exactly(plannedDifference(component, mirrored, base), 'did'));
  results.push(await liveParityCheck(lab, synthesized, 'live objects equal dist/<env> again'));

  // A bad value is refused before anything changes, with the one line naming key, value and expectation.
  log('pulumi preview with cnikit:expectedNodes=ten');
  const refused = await stack.run('preview', { 'cnikit:expectedNodes': 'ten' }, engineLog);
  const message = /cnikit:expectedNodes: "ten" is not valid; expected[^|]*/.exec(refused.error ?? '')?.[0].trim();
  results.push({
    name: 'pulumi preview with cnikit:expectedNodes=ten is refused, naming the key',
    ok: !refused.ok && message !== undefined && refused.changes.length === 0,
    detail: message !== undefined ? `${message} (${refused.seconds.toFixed(0)} s)` : `expected a refusal naming cnikit:expectedNodes; got ${refused.ok ? describe(refused) : refused.error}`,
  });

  results.push(await driftControl(lab, synthesized));

  await step('pulumi destroy', () => stack.run('destroy', {}, engineLog), (r) =>
    kubernetesChanges(r).filter((c) => c.op === 'delete').length === synthesized.length ? undefined : `did ${describe(r)}; expected ${synthesized.length} objects deleted`);
  results.push(await nothingLeftCheck(lab, files));
  return results;
}

/** Where examples/pulumi-program takes cnikit's images from on the lab. */
export const EXAMPLE_REGISTRY = 'registry.platform.example/cnikit';
const EXAMPLE_DIR = path.join(REPO_ROOT, 'examples', 'pulumi-program');

/**
 * examples/pulumi-program (a team's own program: its provider, a registry taken from another resource
 * as an Input, the Calico-style network, policies that wait for it) deployed by the real engine on a
 * started lab with a Calico-style plan: up, the Input reaching the DaemonSet, the pods' network, a
 * second up with no changes, destroy leaving nothing.
 */
export async function pulumiExampleChecks(lab: ClusterLab, engine: PulumiEngine, log: (line: string) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const imagesDir = path.join(REPO_ROOT, 'dist', 'images');
  const layouts = fs.readdirSync(imagesDir).filter((name) => fs.existsSync(path.join(imagesDir, name, 'index.json')));
  await lab.importImages(kitImages(layouts.map((name) => `${EXAMPLE_REGISTRY}/${name}:${KIT_VERSION}`), imagesDir).kit);
  const stack = new LabStack(lab, engine, { stack: 'lab', projectDir: EXAMPLE_DIR, program: { module: path.join(EXAMPLE_DIR, 'src', 'index'), export: 'main' } });
  const config = { 'platform-network:kubeconfig': lab.kubeconfig, 'platform-network:imageRegistry': EXAMPLE_REGISTRY };
  const engineLog = (line: string) => log(`pulumi: ${line}`);
  const judged = (name: string, r: StackResult, problem: string | undefined): CheckResult =>
    ({ name, ok: r.ok && problem === undefined, detail: `${r.ok ? problem ?? describe(r) : `the engine failed: ${r.error}`} (${r.seconds.toFixed(0)} s)` });

  log('example: pulumi up');
  const up = await stack.run('up', config, engineLog);
  const expectedPolicy = 'NetworkPolicy.crd.projectcalico.org/platform-apps/same-namespace-only';
  const images = Array.isArray(up.outputs.images) ? (up.outputs.images as string[]) : [];
  results.push(judged('example: pulumi up', up, [
    up.outputs.agentDaemonSet === 'calico-node' ? undefined : `agentDaemonSet output ${JSON.stringify(up.outputs.agentDaemonSet)}`,
    isDeepStrictEqual(up.outputs.podNetworks, ['10.44.0.0/16']) ? undefined : `podNetworks output ${JSON.stringify(up.outputs.podNetworks)}`,
    images.length > 0 && images.every((i) => i.startsWith(`${EXAMPLE_REGISTRY}/`)) ? undefined : `images output ${JSON.stringify(images)}`,
    (up.outputs.policies as string[] | undefined)?.includes(expectedPolicy) ? undefined : `policies output lacks ${expectedPolicy}`,
  ].filter(Boolean).join('; ') || undefined));
  if (!up.ok) return results;
  const live = (await lab.kubectl(['get', 'daemonset', 'calico-node', '-n', 'kube-system', '-o', 'jsonpath={..image}'])).stdout.split(/\s+/).filter(Boolean);
  results.push({
    name: 'example: the registry Input reached the DaemonSet',
    ok: live.length > 0 && live.every((i) => i.startsWith(`${EXAMPLE_REGISTRY}/`)),
    detail: [...new Set(live)].join(', '),
  });
  results.push(...(await waitForWorkloads(lab)), await nodesReady(lab));
  results.push(...(await connectivityChecks(lab, { dualStack: false, natOutgoing: true, policiesDeclared: false })));
  await lab.kubectl(['delete', 'namespace', NETCHECK_NAMESPACE, '--wait=true', '--timeout=120s'], { allowFailure: true, timeoutMs: 150_000 });
  log('example: pulumi up again');
  const again = await stack.run('up', config, engineLog);
  results.push(judged('example: pulumi up again: no changes', again, again.changes.length === 0 ? undefined : `changed ${again.changes.map((c) => nameOf(c.urn)).join(', ')}`));
  log('example: pulumi destroy');
  const destroy = await stack.run('destroy', config, engineLog);
  const left = [
    ...(await lab.kubectl(['get', 'crd', '-o', 'name'])).stdout.split('\n').filter((l) => l.includes('projectcalico.org')),
    ...(await lab.kubectl(['get', 'daemonset,deployment,configmap', '-A', '-o', 'name'])).stdout.split('\n').filter((l) => /calico|platform-registry/.test(l)),
    ...(await lab.kubectl(['get', 'namespace', 'platform-apps', '--ignore-not-found', '-o', 'name'])).stdout.split('\n').filter(Boolean),
  ];
  results.push(judged('example: pulumi destroy leaves nothing', destroy, left.length ? `left: ${left.join(', ')}` : undefined));
  return results;
}

/** The stack outputs docs/pulumi.md documents, against dist/<env> and the environment's definition. */
function outputsCheck(outputs: Record<string, unknown>, environment: Environment, synthesized: readonly KubeObject[]): CheckResult {
  const [summary] = networkStackSummaries(buildEnvironment(environment).app);
  const expected: Record<string, unknown> = {
    environment: environment.name,
    namespace: summary.namespace,
    agentDaemonSet: summary.agentDaemonSetName,
    podNetworks: [...summary.podNetworks],
    images: imagesOf(synthesized),
    // Every object of dist/<env>; the output lists them in registration order (tiers), so as a set.
    objects: synthesized.map(objectKey).sort(),
  };
  const actual: Record<string, unknown> = { ...outputs, objects: Array.isArray(outputs.objects) ? [...(outputs.objects as string[])].sort() : outputs.objects };
  const wrong = Object.keys(expected).filter((k) => !isDeepStrictEqual(actual[k], expected[k]));
  const extra = Object.keys(outputs).filter((k) => !(k in expected));
  const agent = synthesized.find((o) => o.kind === 'DaemonSet' && o.metadata.name === summary.agentDaemonSetName && o.metadata.namespace === summary.namespace);
  const problems = [
    ...wrong.map((k) => `${k} is ${JSON.stringify(actual[k])}, expected ${JSON.stringify(expected[k])}`),
    ...extra.map((k) => `undocumented output ${k}`),
    ...(agent ? [] : [`dist/${environment.name} has no DaemonSet ${summary.namespace}/${summary.agentDaemonSetName}`]),
  ];
  return {
    name: 'stack outputs as documented',
    ok: problems.length === 0,
    detail: problems.length ? problems.join('; ') : `namespace ${summary.namespace}, agentDaemonSet ${summary.agentDaemonSetName}, podNetworks ${summary.podNetworks.join(' ')}, ${expected.images instanceof Array ? expected.images.length : 0} images, ${synthesized.length} objects`,
  };
}

/**
 * Every live object is what synth wrote: for each object, a server-side dry-run apply of its dist/<env>
 * version as the field manager Pulumi applied it with (`kubectl diff --server-side`). The API server
 * then merges it as it merged Pulumi's apply: an empty diff means every field synth wrote has that
 * value live and Pulumi owns no field synth did not write; fields the server set are not compared.
 */
async function liveParityCheck(lab: ClusterLab, synthesized: readonly KubeObject[], name = 'live objects equal dist/<env>'): Promise<CheckResult> {
  const problems: string[] = [];
  for (const object of synthesized) {
    const key = objectKey(object);
    const live = await lab.kubectl(['get', '-f', '-', '-o', 'json', '--show-managed-fields'], { input: JSON.stringify(object), allowFailure: true });
    if (live.code !== 0) {
      problems.push(`${key}: not in the cluster`);
      continue;
    }
    type Live = { kind?: string; items?: Live[]; metadata?: { managedFields?: { manager?: string; operation?: string }[] } };
    const got = JSON.parse(live.stdout) as Live;
    const managers = ((got.kind === 'List' ? got.items?.[0] : got)?.metadata?.managedFields ?? [])
      .filter((m) => m.operation === 'Apply' && m.manager?.startsWith('pulumi-kubernetes-')).map((m) => m.manager!);
    if (managers.length !== 1) {
      problems.push(`${key}: applied by ${managers.length} Pulumi field managers`);
      continue;
    }
    const diff = await lab.kubectl(['diff', '--server-side', `--field-manager=${managers[0]}`, '--force-conflicts', '-f', '-'], { input: JSON.stringify(object), allowFailure: true });
    if (diff.code === 1) problems.push(`${key}: ${diff.stdout.split('\n').filter((l) => /^[-+]\s/.test(l)).slice(0, 4).join(' ')}`);
    else if (diff.code !== 0) problems.push(`${key}: kubectl diff failed: ${diff.stderr.trim()}`);
  }
  return {
    name,
    ok: problems.length === 0,
    detail: problems.length ? problems.join(' · ') : `${synthesized.length} objects: server-side diff against Pulumi's field managers is empty`,
  };
}

/**
 * Negative control of the live comparison: a value Pulumi applied (a ConfigMap's data) changed behind
 * its back with kubectl must make the comparison fail, naming that object.
 */
async function driftControl(lab: ClusterLab, synthesized: readonly KubeObject[]): Promise<CheckResult> {
  const name = 'live comparison sees a value changed behind Pulumi (negative control)';
  const configMap = synthesized.find((o) => o.kind === 'ConfigMap' && Object.keys((o.data as Record<string, string> | undefined) ?? {}).length > 0);
  if (!configMap) return { name, ok: false, detail: 'dist/<env> has no ConfigMap with data to change' };
  const [key, value] = Object.entries(configMap.data as Record<string, string>)[0];
  const { namespace, name: objectName } = configMap.metadata;
  await lab.kubectl(['patch', 'configmap', objectName, ...(namespace ? ['-n', namespace] : []), '--type=merge', '-p', JSON.stringify({ data: { [key]: `${value}\n` } })]);
  const check = await liveParityCheck(lab, [configMap]);
  const named = !check.ok && check.detail.startsWith(`${objectKey(configMap)}: `);
  return { name, ok: named, detail: named ? `data.${key} changed with kubectl: ${check.detail}` : `expected a difference on ${objectKey(configMap)}; got ${check.detail}` };
}

/** After destroy, no object of dist/<env> is in the cluster (custom resources go with their CRDs). */
async function nothingLeftCheck(lab: ClusterLab, files: readonly string[]): Promise<CheckResult> {
  const left: string[] = [];
  for (const file of files) {
    const r = await lab.kubectl(['get', '-f', file, '--ignore-not-found', '-o', 'name'], { allowFailure: true });
    left.push(...r.stdout.split('\n').filter(Boolean));
    const crdGone = /the server doesn't have a resource type|no matches for kind|ensure CRDs are installed/;
    if (r.code !== 0 && !r.stderr.split('\n').filter(Boolean).every((line) => crdGone.test(line))) left.push(`${path.basename(file)}: ${r.stderr.trim()}`);
  }
  return { name: 'nothing of the stack left after destroy', ok: left.length === 0, detail: left.length ? left.join(', ') : `no object of ${files.map((f) => path.basename(f)).join(', ')} in the cluster` };
}

/** The bundled environment as the program builds it with stack configuration `config`. */
function synthesizedFor(environment: Environment, config: Readonly<Record<string, string>>): KubeObject[] {
  const settings = parseStackConfig({ 'cnikit:environment': environment.name, ...config }, ENVIRONMENTS.map((e) => e.name));
  return synthesizeObjects(buildEnvironment(withOverrides(environment, settings), { imageDigests: readImageDigests(REPO_ROOT) }).charts);
}

/**
 * Kinds the Kubernetes provider replaces rather than updates by default (its `enableConfigMapMutable`
 * and `enableSecretMutable` are off), so that workloads roll when their configuration changes.
 */
const REPLACED_ON_CHANGE = new Set(['ConfigMap', 'Secret']);

/** What the engine must plan to go from `before` to `after`: `<op> <group>:<Kind>:<resource name>`, sorted. */
export function plannedDifference(component: string, before: readonly KubeObject[], after: readonly KubeObject[]): string[] {
  const index = (objects: readonly KubeObject[]) => new Map(objects.map((o) => [`${apiGroupOf(o) || 'core'}:${o.kind}:${resourceNameOf(component, o)}`, o]));
  const [old, next] = [index(before), index(after)];
  return [
    ...[...next].filter(([k]) => !old.has(k)).map(([k]) => `create ${k}`),
    ...[...old].filter(([k]) => !next.has(k)).map(([k]) => `delete ${k}`),
    ...[...next].filter(([k, o]) => old.has(k) && !isDeepStrictEqual(old.get(k), o)).map(([k, o]) => `${REPLACED_ON_CHANGE.has(o.kind) ? 'replace' : 'update'} ${k}`),
  ].sort();
}

/**
 * The changes to Kubernetes objects (not the stack, component or provider); a replacement counts once,
 * as `replace` (the engine also reports its create-replacement and delete-replaced steps).
 */
function kubernetesChanges(r: StackResult): ResourceChange[] {
  return r.changes.filter((c) => c.type.startsWith('kubernetes:') && c.op !== 'create-replacement' && c.op !== 'delete-replaced');
}

/** `<group>:<Kind>:<resource name>` of a change, from its type (`kubernetes:apps/v1:DaemonSet`) and URN. */
function typeKeyOf(change: ResourceChange): string {
  const [, groupVersion, kind] = change.type.split(':');
  return `${groupVersion.split('/')[0]}:${kind}:${nameOf(change.urn)}`;
}

function nameOf(urn: string): string {
  return urn.slice(urn.lastIndexOf('::') + 2);
}

function describe(r: StackResult): string {
  const counts = Object.entries(r.summary).filter(([, n]) => (n ?? 0) > 0).map(([op, n]) => `${n} ${op}`);
  return counts.length ? counts.join(', ') : 'nothing';
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      env: { type: 'string', default: 'dev' },
      nodes: { type: 'string', default: '3' },
      logs: { type: 'string' },
      example: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('npm run pulumi-lab -- --env <dev|staging|prod> [--nodes 3] [--logs dist/pulumi-lab/<env>]');
    console.log('npm run pulumi-lab -- --example    # examples/pulumi-program on a lab planned like staging');
    return 0;
  }
  // The example's Calico-style network uses staging's pool, so its lab is planned like staging's.
  const environment = findEnvironment(values.example ? 'staging' : values.env!);
  const nodes = Number(values.nodes);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 8) throw new Error(`--nodes: "${values.nodes}" is not valid; expected 1 to 8`);
  const logsDir = path.resolve(values.logs ?? path.join(REPO_ROOT, 'dist', 'pulumi-lab', values.example ? 'example' : environment.name));
  const started = Date.now();
  const log = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  const engine = await ensurePulumiEngine({ log });
  const files = await buildAndSynth(environment, log);
  const lab = await startCluster(environment, { nodes, log });
  try {
    const results = values.example
      ? await pulumiExampleChecks(lab, engine, log)
      : [...(await prepareCluster(lab, environment, files)), ...(await pulumiLabChecks(lab, environment, files, engine, log))];
    collectLogs(lab, logsDir);
    console.log(formatChecks(`pulumi lab: ${values.example ? 'examples/pulumi-program' : environment.name} on ${lab.nodes.length} nodes (${lab.id}), pulumi ${engine.version}, kubernetes provider ${engine.kubernetesProviderVersion}`, results));
    console.log(`logs: ${logsDir}`);
    return results.some((r) => !r.ok && !r.skipped) ? 1 : 0;
  } finally {
    await lab.destroy();
  }
}

if (require.main === module) {
  main().then((code) => process.exit(code), (error: unknown) => {
    console.error(`pulumi-lab: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
