// The Pulumi program (apps/pulumi) per bundled environment, against what `npm run synth` writes.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parse, parseAllDocuments } from 'yaml';
import { ENVIRONMENTS, Environment } from '../../apps/environments';
import { readImageDigests } from '../../apps/image-digests';
import { synthEnvironments } from '../../apps/synth';
import { differences, failProgram, normalized, ProgramRun, reachable, Registration, runProgram } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');
type Doc = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

/** The manifests `npm run synth` writes for one environment, parsed back from its YAML files. */
function synthesizedYaml(environment: Environment): Doc[] {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-pulumi-parity-'));
  try {
    const [dir] = synthEnvironments([environment], out, readImageDigests(ROOT));
    return fs
      .readdirSync(dir)
      .filter((file) => file.endsWith('.k8s.yaml'))
      .flatMap((file) => parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8')).map((doc) => doc.toJS() as Doc))
      .filter((doc) => doc !== null);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/** The configuration a committed `Pulumi.<stack>.yaml` gives the program, as the CLI passes it (strings). */
function stackFileConfig(stack: string): Record<string, string> {
  const file = parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), 'utf8')) as { config?: Record<string, unknown> };
  return Object.fromEntries(Object.entries(file.config ?? {}).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
}

/** Namespaces the API server creates in every cluster. */
const BUILT_IN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

const identity = (o: { apiVersion?: unknown; kind?: unknown; metadata?: unknown }): string => {
  const m = o.metadata as { name: string; namespace?: string };
  return `${o.apiVersion}/${o.kind}/${m.namespace ?? ''}/${m.name}`;
};

/** The Pulumi type token an object must be registered with (the typed class's, or the generic one's). */
const typeToken = (o: Doc): string => `kubernetes:${o.apiVersion.includes('/') ? o.apiVersion : `core/${o.apiVersion}`}:${o.kind}`;

/** Every way the registered Kubernetes resources differ from the synthesized manifests; empty when equal. */
function parityDifferences(children: readonly Registration[], docs: readonly Doc[]): string[] {
  const registered = new Map(children.map((r) => [identity(r.inputs), r]));
  const synthesized = new Map(docs.map((d) => [identity(d), d]));
  const problems: string[] = [];
  for (const key of synthesized.keys()) if (!registered.has(key)) problems.push(`${key}: synthesized but not registered`);
  for (const key of registered.keys()) if (!synthesized.has(key)) problems.push(`${key}: registered but not synthesized`);
  if (children.length !== registered.size) problems.push('an object was registered twice');
  for (const [key, doc] of synthesized) {
    const registration = registered.get(key);
    if (registration === undefined) continue;
    if (registration.type !== typeToken(doc)) problems.push(`${key}: registered as ${registration.type}`);
    for (const field of differences(normalized(registration.inputs), normalized(doc))) problems.push(`${key}: ${field} differs`);
  }
  return problems;
}

describe.each(ENVIRONMENTS.map((env) => [env.name, env] as const))('the Pulumi program, stack %s', (name, environment) => {
  let run: ProgramRun;
  let docs: Doc[];
  beforeAll(async () => {
    run = await runProgram(name, stackFileConfig(name));
    docs = synthesizedYaml(environment);
  });
  const children = (): Registration[] => run.registrations.filter((r) => r.custom && r.name.startsWith(`cnikit-${name}-`));

  test(`the committed Pulumi.${name}.yaml selects the ${name} environment`, () => {
    expect(stackFileConfig(name)['cnikit:environment']).toBe(name);
  });

  test('runs under one component, with the default Kubernetes provider', () => {
    const components = run.registrations.filter((r) => !r.custom && r.type !== 'pulumi:pulumi:Stack');
    expect(components).toEqual([expect.objectContaining({ type: 'cnikit:index:Cdk8sManifest', name: `cnikit-${name}` })]);
    expect(children().length).toBe(run.registrations.filter((r) => r.custom).length);
    // No cnikit:kubeContext: no explicit provider, so kubernetes:context / $KUBECONFIG decide.
    expect(run.registrations.filter((r) => r.type.startsWith('pulumi:providers:'))).toEqual([]);
  });

  test('registers exactly the synthesized manifests: same kinds, names, namespaces, every field', () => {
    expect(docs.length).toBeGreaterThan(0);
    expect(children()).toHaveLength(docs.length);
    expect(parityDifferences(children(), docs)).toEqual([]);
  });

  test('the parity check fails on a single differing field', () => {
    const changed = docs.map((d) => structuredClone(d));
    const daemonSet = changed.find((d) => d.kind === 'DaemonSet') as Doc & { spec: { template: { spec: { containers: { image: string }[] } } } };
    daemonSet.spec.template.spec.containers[0].image += '-other';
    expect(parityDifferences(children(), changed)).toEqual([`${identity(daemonSet)}: spec.template.spec.containers[0].image differs`]);
  });

  test('ordering: CRDs before the custom resources they serve, namespaces before everything in them', () => {
    const nameOf = new Map(children().map((r) => [identity(r.inputs), r.name]));
    const before = (resource: string): Set<string> => reachable(resource, (n) => run.dependsOn.get(n) ?? []);
    // The CRD serving each group/kind.
    const crdOf = new Map(
      docs
        .filter((d) => d.kind === 'CustomResourceDefinition')
        .map((d) => {
          const spec = d.spec as { group: string; names: { kind: string } };
          return [`${spec.group}/${spec.names.kind}`, nameOf.get(identity(d)) as string];
        }),
    );
    const namespaces = new Map(docs.filter((d) => d.kind === 'Namespace').map((d) => [d.metadata.name, nameOf.get(identity(d)) as string]));
    let customResources = 0;
    for (const doc of docs) {
      const resource = nameOf.get(identity(doc)) as string;
      expect(run.dependsOn.has(resource)).toBe(true);
      const namespace = doc.metadata.namespace === undefined ? undefined : namespaces.get(doc.metadata.namespace);
      if (namespace !== undefined) expect(before(resource)).toContain(namespace);
      // On a fresh cluster only the built-in namespaces exist: the stack creates every other one it uses.
      if (doc.metadata.namespace !== undefined && !BUILT_IN_NAMESPACES.includes(doc.metadata.namespace)) {
        expect([identity(doc), namespace]).toEqual([identity(doc), expect.any(String)]);
      }
      const crd = crdOf.get(`${doc.apiVersion.split('/')[0]}/${doc.kind}`);
      if (crd !== undefined) {
        expect(before(resource)).toContain(crd);
        customResources++;
      }
    }
    // Calico-style environments carry their CRDs and custom resources; Flannel-style ones have none.
    expect(customResources > 0).toBe(docs.some((d) => d.kind === 'CustomResourceDefinition'));
    // Every edge points at a resource of this stack.
    for (const deps of run.dependsOn.values()) for (const dep of deps) expect(dep).not.toBe('(unknown resource)');
  });

  test('outputs resolve to the environment\'s namespace, agent, pod networks, images and objects', () => {
    const outputs = run.outputs;
    expect(outputs.environment).toBe(name);
    const daemonSet = docs.find((d) => d.kind === 'DaemonSet' && d.metadata.name === outputs.agentDaemonSet);
    expect(daemonSet?.metadata.namespace).toBe(outputs.namespace);
    expect((outputs.podNetworks as string[]).length).toBeGreaterThan(0);
    const images = docs.flatMap((d) => {
      const pod = (d.spec as { template?: { spec?: { containers?: { image: string }[]; initContainers?: { image: string }[] } } } | undefined)?.template?.spec;
      return [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])].map((c) => c.image);
    });
    expect(outputs.images).toEqual([...new Set(images)].sort());
    expect((outputs.objects as string[]).length).toBe(docs.length);
  });
});

test('Pulumi.yaml runs the program in apps/pulumi with the project\'s TypeScript', () => {
  const project = parse(fs.readFileSync(path.join(ROOT, 'Pulumi.yaml'), 'utf8')) as {
    name: string;
    main: string;
    runtime: { name: string; options: { typescript: boolean } };
    config: Record<string, unknown>;
  };
  expect(project).toMatchObject({ name: 'cnikit', runtime: { name: 'nodejs', options: { typescript: true } } });
  expect(fs.existsSync(path.join(ROOT, project.main, 'index.ts'))).toBe(true);
  // Pulumi makes every declared key without a default required: only the environment is declared.
  expect(Object.keys(project.config)).toEqual(['environment']);
});

describe('the Pulumi program with stack overrides', () => {
  test('cnikit:imageRegistry replaces the registry of every image', async () => {
    const run = await runProgram('dev', { 'cnikit:environment': 'dev', 'cnikit:imageRegistry': 'mirror.example.org:5000/cnikit' });
    const images = run.outputs.images as string[];
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image.startsWith('mirror.example.org:5000/cnikit/')).toBe(true);
  });

  test('cnikit:expectedNodes reaches the model: a Calico-style staging sized for 400 nodes runs Typha', async () => {
    const typha = (run: ProgramRun): Registration | undefined =>
      run.registrations.find((r) => r.type === 'kubernetes:apps/v1:Deployment' && (r.inputs.metadata as { name: string }).name === 'calico-typha');
    const run = await runProgram('staging', { 'cnikit:environment': 'staging', 'cnikit:expectedNodes': '400' });
    expect((typha(run)?.inputs.spec as { replicas: number }).replicas).toBeGreaterThanOrEqual(3);
    const small = await runProgram('staging', { 'cnikit:environment': 'staging', 'cnikit:expectedNodes': '3' });
    expect(typha(small)).toBeUndefined();
  });

  test('cnikit:kubeContext builds an explicit provider every object is deployed with', async () => {
    const run = await runProgram('dev', { 'cnikit:environment': 'dev', 'cnikit:kubeContext': 'kind-dev' });
    expect(run.registrations.find((r) => r.type === 'pulumi:providers:kubernetes' && r.name === 'cluster')?.inputs).toMatchObject({ context: 'kind-dev' });
    const children = run.registrations.filter((r) => r.custom && r.name.startsWith('cnikit-dev-'));
    expect(children.length).toBeGreaterThan(0);
    for (const child of children) expect(child.provider).toMatch(/pulumi:providers:kubernetes::cluster::cluster-id$/);
  });

  test.each([
    [{ 'cnikit:environment': 'qa' }, 'cnikit:environment: "qa" is not valid; expected one of dev, staging, prod'],
    [{}, 'cnikit:environment: (unset) is not valid; expected one of dev, staging, prod'],
    [{ 'cnikit:environment': 'dev', 'cnikit:imageRegistry': 'not a registry' }, 'cnikit:imageRegistry: "not a registry" is not valid'],
    [{ 'cnikit:environment': 'dev', 'cnikit:expectedNodes': 'ten' }, 'cnikit:expectedNodes: "ten" is not valid; expected a whole number of nodes, at least 1'],
    [{ 'cnikit:environment': 'dev', 'cnikit:expectedNodes': '100000' }, 'dev.flannel.expectedNodeCount: 100000'],
  ])('bad stack config %j fails with a clear message before any resource is registered', async (config, message) => {
    const run = await failProgram('dev', config);
    expect(run.error).toBeInstanceOf(Error);
    expect((run.error as Error).message).toContain(message);
    expect((run.error as Error).message.split('\n')).toHaveLength(1);
    expect(run.registrations).toEqual([]);
  });
});
