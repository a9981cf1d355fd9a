import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ENVIRONMENTS, buildEnvironment, environment, environmentObjects } from '../../apps/environments';
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

test('staging: host-gw, its own registry', () => {
  expect(netConf('staging')).toMatchObject({ Network: '10.44.0.0/16', Backend: { Type: 'host-gw' } });
  const ds = objects('staging').find((o) => o.kind === 'DaemonSet')!;
  expect(ds.spec.template.spec.containers[0].image).toBe('registry.staging.example.com/cnikit/flannel-agent:0.1.0');
  expect(ds.spec.template.spec.containers[0].args).toContain('--iface-regex=^(eth|ens)[0-9]+$');
});

test('prod: dual-stack VXLAN with direct routing, room for 1,000 nodes', () => {
  expect(netConf('prod')).toMatchObject({
    Network: '10.128.0.0/14', IPv6Network: 'fd00:10:128::/48', EnableIPv6: true, SubnetLen: 24, IPv6SubnetLen: 64,
    Backend: { Type: 'vxlan', VNI: 4096, DirectRouting: true },
  });
  const built = buildEnvironment(environment('prod'));
  expect(built.charts).toHaveLength(1);
  expect(built.environment.stack.props.expectedNodeCount).toBe(1000);
});

test('every environment synthesizes objects valid against the strict Kubernetes schema', () => {
  for (const env of ENVIRONMENTS) expect(validateK8sObjects(objects(env.name))).toEqual([]);
});

test('image digests pin the images', () => {
  const digest = `sha256:${'1'.repeat(64)}`;
  const ds = objects('prod', { 'flannel-agent': digest }).find((o) => o.kind === 'DaemonSet')!;
  expect(ds.spec.template.spec.containers[0].image).toBe(`registry.example.com/cnikit/flannel-agent@${digest}`);
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
