import { KubeObject, objectKey, toKubeObject } from '../../lib/pulumi/kube-object';
import { planRegistration, resourceNameOf, tierOf } from '../../lib/pulumi/registration-plan';
import { synthesizeObjects } from '../../lib/pulumi/synthesize';
import { fixtureApp, WIDGET_GROUP } from './fixture-chart';

const obj = (apiVersion: string, kind: string, name: string, namespace?: string): KubeObject => ({
  apiVersion,
  kind,
  metadata: namespace === undefined ? { name } : { name, namespace },
});

describe('planRegistration', () => {
  const plan = planRegistration('net', synthesizeObjects(fixtureApp()));

  test('puts every object in its tier, tiers in order, synthesis order kept within a tier', () => {
    expect(plan.map((p) => [p.tier, p.key])).toEqual([
      ['crds', `CustomResourceDefinition.apiextensions.k8s.io/widgets.${WIDGET_GROUP}`],
      ['namespaces', 'Namespace/demo'],
      ['rbac-and-config', 'ClusterRole.rbac.authorization.k8s.io/demo-agent'],
      ['rbac-and-config', 'ServiceAccount/demo/agent'],
      ['rbac-and-config', 'ConfigMap/demo/agent-config'],
      ['workloads', 'DaemonSet.apps/demo/agent'],
      ['workloads', 'Service/demo/agent-metrics'],
      [`custom-resources`, `Widget.${WIDGET_GROUP}/demo/default`],
    ]);
  });

  test('names are <component>-<kind>-<namespace>-<name>, lowercased, without namespace when cluster-scoped', () => {
    expect(plan.map((p) => p.name)).toEqual([
      `net-customresourcedefinition-widgets.${WIDGET_GROUP}`,
      'net-namespace-demo',
      'net-clusterrole-demo-agent',
      'net-serviceaccount-demo-agent',
      'net-configmap-demo-agent-config',
      'net-daemonset-demo-agent',
      'net-service-demo-agent-metrics',
      'net-widget-demo-default',
    ]);
    expect(planRegistration('net', synthesizeObjects(fixtureApp())).map((p) => p.name)).toEqual(plan.map((p) => p.name));
  });

  test('each tier waits for the nearest non-empty tier it follows; custom resources do not wait for workloads', () => {
    const deps = (key: string): string[] => {
      const entry = plan.find((p) => p.key === key);
      return (entry?.dependsOn ?? []).map((i) => plan[i].key);
    };
    expect(deps(`CustomResourceDefinition.apiextensions.k8s.io/widgets.${WIDGET_GROUP}`)).toEqual([]);
    expect(deps('Namespace/demo')).toEqual([`CustomResourceDefinition.apiextensions.k8s.io/widgets.${WIDGET_GROUP}`]);
    expect(deps('ConfigMap/demo/agent-config')).toEqual(['Namespace/demo']);
    const config = ['ClusterRole.rbac.authorization.k8s.io/demo-agent', 'ServiceAccount/demo/agent', 'ConfigMap/demo/agent-config'];
    expect(deps('DaemonSet.apps/demo/agent')).toEqual(config);
    expect(deps(`Widget.${WIDGET_GROUP}/demo/default`)).toEqual(config);
    plan.forEach((p, index) => p.dependsOn.forEach((d) => expect(d).toBeLessThan(index)));
  });

  test('skips empty tiers: without CRDs and config, a workload waits for its namespace directly', () => {
    const small = planRegistration('x', [obj('apps/v1', 'Deployment', 'web', 'app'), obj('v1', 'Namespace', 'app')]);
    expect(small.map((p) => p.key)).toEqual(['Namespace/app', 'Deployment.apps/app/web']);
    expect(small[1].dependsOn).toEqual([0]);
    expect(small[0].dependsOn).toEqual([]);
  });

  test('an object of a group no CRD in the set serves is not a custom resource of this set', () => {
    expect(tierOf(obj('crd.projectcalico.org/v1', 'IPPool', 'default'), new Set())).toBe('workloads');
    expect(tierOf(obj('crd.projectcalico.org/v1', 'IPPool', 'default'), new Set(['crd.projectcalico.org']))).toBe('custom-resources');
    expect(tierOf(obj('scheduling.k8s.io/v1', 'PriorityClass', 'p'), new Set())).toBe('rbac-and-config');
  });

  test('objects of different groups may share a name; the type keeps their URNs apart', () => {
    const a = obj('networking.k8s.io/v1', 'NetworkPolicy', 'deny', 'app');
    const b = obj('crd.projectcalico.org/v1', 'NetworkPolicy', 'deny', 'app');
    expect(resourceNameOf('p', a)).toBe(resourceNameOf('p', b));
    expect(objectKey(a)).not.toBe(objectKey(b));
    expect(planRegistration('p', [a, b])).toHaveLength(2);
  });

  test('fails on an object that appears twice, naming it', () => {
    const ns = obj('v1', 'Namespace', 'app');
    expect(() => planRegistration('p', [ns, { ...ns }])).toThrow('objects: "Namespace/app" appears twice; every object must be unique');
  });

  test('fails on a CRD without spec.group', () => {
    const crd = obj('apiextensions.k8s.io/v1', 'CustomResourceDefinition', 'things.example.org');
    expect(() => planRegistration('p', [crd])).toThrow(
      'CustomResourceDefinition.apiextensions.k8s.io/things.example.org.spec.group: (unset) is not valid; expected the API group the CRD serves',
    );
  });
});

describe('toKubeObject', () => {
  test('fails with the field, the value and what is expected', () => {
    expect(() => toKubeObject('x', 'objects[0]')).toThrow('objects[0]: "x" is not valid; expected a Kubernetes object (a JSON object)');
    expect(() => toKubeObject({ apiVersion: 'v1', metadata: { name: 'a' } }, 'o')).toThrow('o.kind: (unset) is not valid; expected a non-empty string');
    expect(() => toKubeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }, 'o')).toThrow(
      'o.metadata.name: (unset) is not valid; expected a non-empty string',
    );
    expect(() => toKubeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: '' } }, 'o')).toThrow(
      'o.metadata.namespace: "" is not valid; expected a non-empty string or no namespace',
    );
  });
});
