// A small construct tree with one object of every tier, used until (and besides) the real stacks.
import { ApiObject, App, Chart, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';

export const WIDGET_GROUP = 'example.cnikit.io';

/** Two charts: cluster-scoped objects apart (cdk8s stamps a chart's namespace on everything). */
export function fixtureApp(): App {
  const app = new App();
  const cluster = new Chart(app, 'cluster');
  new kplus.k8s.KubeCustomResourceDefinition(cluster, 'crd', {
    metadata: { name: `widgets.${WIDGET_GROUP}` },
    spec: {
      group: WIDGET_GROUP,
      names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
      scope: 'Namespaced',
      versions: [
        {
          name: 'v1',
          served: true,
          storage: true,
          schema: { openApiv3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer' } } } } } },
        },
      ],
    },
  });
  new kplus.k8s.KubeNamespace(cluster, 'ns', { metadata: { name: 'demo', labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } });
  new kplus.k8s.KubeClusterRole(cluster, 'role', {
    metadata: { name: 'demo-agent' },
    rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }],
  });

  const workloads = new Chart(app, 'workloads', { namespace: 'demo', disableResourceNameHashes: true });
  const sa = new kplus.ServiceAccount(workloads, 'agent', { metadata: { name: 'agent' } });
  new kplus.ConfigMap(workloads, 'config', { metadata: { name: 'agent-config' }, data: { 'net-conf.json': '{"Network":"10.244.0.0/16"}' } });
  new kplus.DaemonSet(workloads, 'ds', {
    metadata: { name: 'agent' },
    serviceAccount: sa,
    containers: [
      {
        image: 'example.org/agent:1.0',
        securityContext: { ensureNonRoot: false, readOnlyRootFilesystem: false },
        resources: { cpu: { request: kplus.Cpu.millis(100) }, memory: { request: Size.mebibytes(50) } },
      },
    ],
  });
  new kplus.k8s.KubeService(workloads, 'svc', {
    metadata: { name: 'agent-metrics' },
    spec: { selector: { app: 'agent' }, ports: [{ port: 9100, targetPort: kplus.k8s.IntOrString.fromNumber(9100) }] },
  });
  new ApiObject(workloads, 'widget', {
    apiVersion: `${WIDGET_GROUP}/v1`,
    kind: 'Widget',
    metadata: { name: 'default' },
    spec: { size: 3 },
  });
  return app;
}
