import { testApp } from '../support/charts';
import { ApiObject, Chart, Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { PrivilegedNamespace, clusterScoped, cniInstallerArgs, kitLabels } from '../../lib/constructs/common';

test('clusterScoped drops the chart namespace cdk8s stamps on every object', () => {
  const chart = new Chart(testApp(), 'c', { namespace: 'stamped' });
  clusterScoped(new kplus.k8s.KubeClusterRole(chart, 'role', { metadata: { name: 'r' } }));
  new kplus.k8s.KubeRole(chart, 'namespaced', { metadata: { name: 'n' } });
  const [role, namespaced] = Testing.synth(chart);
  expect(role.metadata).toEqual({ name: 'r' });
  expect(namespaced.metadata).toEqual({ name: 'n', namespace: 'stamped' });
});

test('clusterScoped is a no-op in a chart without namespace', () => {
  const chart = new Chart(testApp(), 'c');
  const ns = new PrivilegedNamespace(chart, 'ns', { name: 'x', labels: { a: 'b' } });
  expect(ApiObject.of(ns.namespace).toJson().metadata).toEqual({ name: 'x', labels: { a: 'b', 'pod-security.kubernetes.io/enforce': 'privileged' } });
});

test('kit labels and the installer contract', () => {
  expect(kitLabels('cnikit-calico', 'node-agent')).toEqual({
    'app.kubernetes.io/name': 'cnikit-calico', 'app.kubernetes.io/component': 'node-agent',
    'app.kubernetes.io/part-of': 'cnikit', 'app.kubernetes.io/version': '0.1.0',
  });
  const plugins = [{ name: 'a', bundle: 'a.js' }, { name: 'b', bundle: 'a.js' }];
  expect(cniInstallerArgs({ plugins, confSourcePath: '/etc/x/cni.json', confFileName: '10-x.conflist' })).toEqual([
    'install', '--bin-dir=/host/opt/cni/bin', '--conf-dir=/host/etc/cni/net.d', '--plugin=a=a.js', '--plugin=b=a.js',
    '--conf-source=/etc/x/cni.json', '--conf-name=10-x.conflist',
  ]);
});
