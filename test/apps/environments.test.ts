import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ENVIRONMENTS, buildEnvironment, environment, environmentObjects } from '../../apps/environments';
import { calicoResourceErrors, isCalicoResource } from '../crds/cr-validator';
import { validateK8sObjects } from '../support/k8s-schema';

type K8sObject = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function objects(name: string, imageDigests?: Record<string, string>): K8sObject[] {
  return environmentObjects(buildEnvironment(environment(name), imageDigests ? { imageDigests } : {})) as K8sObject[];
}

function netConf(name: string): K8sObject {
  return JSON.parse(objects(name).find((o) => o.kind === 'ConfigMap')!.data['net-conf.json']);
}

test('the bundled environments are dev, staging and prod', () => {
  expect(ENVIRONMENTS.map((env) => env.name)).toEqual(['dev', 'staging', 'prod']);
  expect(() => environment('qa')).toThrow('no environment "qa"; expected one of dev, staging, prod');
});

test('dev: VXLAN on a small cluster', () => {
  expect(netConf('dev')).toMatchObject({ Network: '10.244.0.0/16', EnableIPv6: false, Backend: { Type: 'vxlan', VNI: 1, DirectRouting: false } });
});

test('staging: Calico-style VXLAN CrossSubnet without BGP, its own registry', () => {
  const all = objects('staging');
  expect(all.find((o) => o.kind === 'IPPool')!.spec).toMatchObject({ cidr: '10.44.0.0/16', vxlanMode: 'CrossSubnet', ipipMode: 'Never' });
  expect(all.some((o) => o.kind === 'BGPConfiguration')).toBe(false);
  const ds = all.find((o) => o.kind === 'DaemonSet')!;
  expect(ds.spec.template.spec.containers[0].image).toBe('registry.staging.example.com/cnikit/calico-agent:0.1.0');
  expect(all.find((o) => o.kind === 'ConfigMap')!.data).toMatchObject({ calico_backend: 'vxlan', ip_autodetection_method: 'interface=^(eth|ens)[0-9]+$' });
});

test('prod: Calico-style BGP with route reflectors and Typha, dual-stack, default deny, room for 1,000 nodes', () => {
  const built = buildEnvironment(environment('prod'));
  expect(built.charts.map((c) => c.node.id)).toEqual(['cnikit-calico-crds', 'cnikit-calico', 'cnikit-calico-policies']);
  const all = environmentObjects(built) as K8sObject[];
  expect(all.filter((o) => o.kind === 'IPPool').map((o) => o.spec.cidr)).toEqual(['10.128.0.0/14', 'fd00:10:128::/48']);
  expect(all.find((o) => o.kind === 'BGPConfiguration')!.spec).toMatchObject({ asNumber: 64512, nodeToNodeMeshEnabled: false });
  expect(all.find((o) => o.kind === 'BGPPeer' && o.metadata.name === 'cnikit-route-reflectors')!.spec.peerSelector).toBe("route-reflector == 'true'");
  expect(all.find((o) => o.kind === 'Deployment' && o.metadata.name === 'calico-typha')!.spec.replicas).toBe(7);
  expect(all.find((o) => o.kind === 'GlobalNetworkPolicy')!.metadata.name).toBe('default-deny');
  expect(all.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.name)).toEqual(['frontend', 'api', 'ingress-to-shop-frontend', 'postgres']);
  // The policies chart opens with the namespaces its policies and network sets live in.
  const policies = built.charts[2].toJson() as K8sObject[];
  expect(policies.slice(0, 2)).toEqual([
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' }, spec: {} },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ingress-nginx' }, spec: {} },
  ]);
  expect(policies.slice(2).some((o) => o.kind === 'Namespace')).toBe(false);
});

/** What `kubectl apply` in this order would fail on: objects in a namespace not created before them (nor built in), namespaces created twice. */
function applyOrderProblems(all: readonly K8sObject[]): string[] {
  const known = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease']);
  const created = new Set<string>();
  const problems: string[] = [];
  for (const o of all) {
    if (o.kind === 'Namespace') {
      if (created.has(o.metadata.name) || known.has(o.metadata.name)) problems.push(`Namespace ${o.metadata.name} created twice (or a built-in one)`);
      created.add(o.metadata.name);
    } else if (o.metadata.namespace !== undefined && !known.has(o.metadata.namespace) && !created.has(o.metadata.namespace)) {
      problems.push(`${o.kind} ${o.metadata.namespace}/${o.metadata.name}: namespace not created before it`);
    }
  }
  return problems;
}

test('every environment applies in order on a fresh cluster: each namespace is created, once, before anything in it', () => {
  for (const env of ENVIRONMENTS) expect([env.name, applyOrderProblems(objects(env.name))]).toEqual([env.name, []]);
  // The check catches the failure it is for.
  const prod = objects('prod');
  expect(applyOrderProblems(prod.filter((o) => !(o.kind === 'Namespace' && o.metadata.name === 'shop')))).toEqual([
    'NetworkPolicy shop/frontend: namespace not created before it', 'NetworkPolicy shop/api: namespace not created before it',
    'NetworkPolicy shop/postgres: namespace not created before it', 'NetworkSet shop/partner-apis: namespace not created before it',
  ]);
});

test('the policies chart leaves the network\'s own namespace to the network chart', () => {
  const prod = environment('prod');
  if (prod.stack.kind !== 'calico') throw new Error('prod is Calico-style');
  const moved = {
    ...prod,
    stack: {
      ...prod.stack,
      props: { ...prod.stack.props, namespace: 'calico-system' },
      policies: { ...prod.stack.policies, networkPolicies: [...(prod.stack.policies?.networkPolicies ?? []), { name: 'agents', namespace: 'calico-system' }] },
    },
  };
  const all = environmentObjects(buildEnvironment(moved)) as K8sObject[];
  expect(applyOrderProblems(all)).toEqual([]);
  const namespaces = all.filter((o) => o.kind === 'Namespace');
  expect(namespaces.map((o) => o.metadata.name)).toEqual(['calico-system', 'shop', 'ingress-nginx']);
  expect(namespaces[0].metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'privileged' });
});

test('every environment synthesizes objects valid against the strict Kubernetes schema (custom resources: their CRD\'s)', () => {
  for (const env of ENVIRONMENTS) {
    const all = objects(env.name);
    expect(validateK8sObjects(all.filter((o) => !isCalicoResource(o)))).toEqual([]);
    expect(all.filter((o) => isCalicoResource(o)).flatMap((o) => calicoResourceErrors(o))).toEqual([]);
  }
});

test('image digests pin the images', () => {
  const digest = `sha256:${'1'.repeat(64)}`;
  const ds = objects('prod', { 'calico-agent': digest }).find((o) => o.kind === 'DaemonSet')!;
  expect(ds.spec.template.spec.containers[0].image).toBe(`registry.example.com/cnikit/calico-agent@${digest}`);
  expect(ds.spec.template.spec.initContainers[0].image).toBe('registry.example.com/cnikit/cni-plugin:0.1.0');
});

test('building touches no file', () => {
  const outdir = path.join(os.tmpdir(), `cnikit-build-${process.pid}`);
  const built = buildEnvironment(environment('dev'), { outdir });
  expect(built.app.outdir).toBe(outdir);
  expect(fs.existsSync(outdir)).toBe(false);
});

test('a bad environment names itself in the one-line error', () => {
  const bad = { ...environment('dev'), stack: { kind: 'flannel' as const, props: { podNetwork: '10.96.0.0/16' } } };
  expect(() => buildEnvironment(bad)).toThrow(
    'dev.flannel.podNetwork: "10.96.0.0/16" is not valid; expected a range that does not overlap flannel.serviceNetwork (10.96.0.0/12)');
});
