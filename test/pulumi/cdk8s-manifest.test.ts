import * as k8s from '@pulumi/kubernetes';
import * as pulumi from '@pulumi/pulumi';
import { Cdk8sManifest } from '../../lib/pulumi/cdk8s-manifest';
import { createResource } from '../../lib/pulumi/resource-classes';
import { synthesizeObjects } from '../../lib/pulumi/synthesize';
import { fixtureApp, WIDGET_GROUP } from './fixture-chart';
import { DependsOnRecorder, normalized, reachable, recordRegistrations, Registration, valueOf } from './harness';

let registrations: Registration[];
beforeAll(async () => {
  registrations = await recordRegistrations();
});

/** Builds the component and waits until the mocks have seen every registration. */
async function deploy(name: string, opts: pulumi.ComponentResourceOptions = {}): Promise<Cdk8sManifest> {
  const manifest = new Cdk8sManifest(name, { source: fixtureApp() }, opts);
  await valueOf(manifest.objectKeys);
  return manifest;
}

const childrenOf = (prefix: string): Registration[] => registrations.filter((r) => r.custom && r.name.startsWith(`${prefix}-`));

describe('Cdk8sManifest under Pulumi mocks', () => {
  test('registers every synthesized object as its own resource, with its typed class, inputs identical to synth', async () => {
    await deploy('m1');
    const synthesized = synthesizeObjects(fixtureApp());
    const children = childrenOf('m1');
    expect(children).toHaveLength(synthesized.length);
    expect(children.map((r) => r.type).sort()).toEqual(
      [
        'kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition',
        'kubernetes:core/v1:Namespace',
        'kubernetes:rbac.authorization.k8s.io/v1:ClusterRole',
        'kubernetes:core/v1:ServiceAccount',
        'kubernetes:core/v1:ConfigMap',
        'kubernetes:apps/v1:DaemonSet',
        'kubernetes:core/v1:Service',
        `kubernetes:${WIDGET_GROUP}/v1:Widget`,
      ].sort(),
    );
    for (const object of synthesized) {
      const match = children.filter((r) => r.inputs.kind === object.kind && (r.inputs.metadata as { name: string }).name === object.metadata.name);
      expect(match).toHaveLength(1);
      expect(normalized(match[0].inputs)).toEqual(normalized(object));
    }
    const component = registrations.find((r) => r.name === 'm1');
    expect(component).toMatchObject({ type: 'cnikit:index:Cdk8sManifest', custom: false });
  });

  test('children are parented to the component (their URNs carry its type)', async () => {
    const manifest = await deploy('m2');
    const urns = await Promise.all(manifest.objects.map((o) => valueOf(o.resource.urn)));
    for (const urn of urns) expect(urn).toContain('cnikit:index:Cdk8sManifest$kubernetes:');
  });

  test('each resource is constructed with dependsOn on the tier it follows: CRD before custom resource, namespace before its objects', async () => {
    const recorder = new DependsOnRecorder();
    const manifest = await deploy('m3', { transformations: [recorder.transformation] });
    const nameOf = (resource: pulumi.Resource): string => {
      const found = manifest.objects.find((o) => o.resource === resource);
      if (found === undefined) throw new Error('dependsOn names a resource outside the component');
      return found.name;
    };
    for (const o of manifest.objects) {
      expect(recorder.has(o.name)).toBe(true);
      expect(recorder.dependenciesOf(o.name, nameOf)).toEqual(o.dependsOn);
    }
    const before = (name: string): Set<string> => reachable(name, (n) => recorder.dependenciesOf(n, nameOf));
    expect(before('m3-widget-demo-default')).toContain(`m3-customresourcedefinition-widgets.${WIDGET_GROUP}`);
    for (const o of manifest.objects.filter((x) => x.object.metadata.namespace === 'demo')) {
      expect(before(o.name)).toContain('m3-namespace-demo');
    }
    expect(before('m3-widget-demo-default')).not.toContain('m3-daemonset-demo-agent');
  });

  test("the component's own dependsOn reaches the first tier, so every child waits for it", async () => {
    const recorder = new DependsOnRecorder();
    const earlier = new k8s.core.v1.Namespace('earlier', { metadata: { name: 'earlier' } });
    const manifest = await deploy('m7', { dependsOn: [earlier], transformations: [recorder.transformation] });
    const nameOf = (resource: pulumi.Resource): string =>
      resource === earlier ? 'earlier' : (manifest.objects.find((o) => o.resource === resource)?.name ?? '(outside)');
    const crd = manifest.objects.find((o) => o.tier === 'crds');
    expect(recorder.dependenciesOf(crd?.name ?? '', nameOf)).toEqual(['earlier']);
    for (const o of manifest.objects) {
      expect(reachable(o.name, (n) => (n === 'earlier' ? [] : recorder.dependenciesOf(n, nameOf)))).toContain('earlier');
    }
  });

  test('the provider option reaches every child', async () => {
    const provider = new k8s.Provider('target', { context: 'kind-cnikit' });
    await deploy('m4', { provider });
    const children = childrenOf('m4');
    expect(children.length).toBeGreaterThan(0);
    for (const child of children) expect(child.provider).toMatch(/::target::target-id$/);
    expect(registrations.find((r) => r.name === 'target')?.inputs).toMatchObject({ context: 'kind-cnikit' });
  });

  test('outputs resolve: object keys and namespaces; lookup by key', async () => {
    const manifest = await deploy('m5');
    expect(await valueOf(manifest.namespaces)).toEqual(['demo']);
    expect(await valueOf(manifest.objectKeys)).toContain('DaemonSet.apps/demo/agent');
    expect(await valueOf(manifest.resource('DaemonSet.apps/demo/agent').urn)).toMatch(/m5-daemonset-demo-agent$/);
    expect(() => manifest.resource('DaemonSet.apps/demo/nope')).toThrow('key: "DaemonSet.apps/demo/nope" is not valid; expected one of the registered objects');
  });

  test('fails, rather than dropping data, on a field the typed class would not forward', () => {
    const parent = new pulumi.ComponentResource('test:index:Parent', 'p6');
    expect(() =>
      createResource('x', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' }, dataa: { k: 'v' } }, { parent }),
    ).toThrow('ConfigMap/a.dataa: {"k":"v"} is not valid; expected one of the top-level fields of ConfigMap: apiVersion, kind, metadata, data, binaryData, immutable');
  });
});
