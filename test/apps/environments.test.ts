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
