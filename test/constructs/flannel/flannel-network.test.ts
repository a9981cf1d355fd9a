import { testApp } from '../../support/charts';
import { Chart, Testing } from 'cdk8s';
import { FlannelNetwork, FlannelNetworkProps } from '../../../lib/constructs/flannel';
import { FlannelBackend, FlannelDatastore, flannelCniConfList, flannelNetConf } from '../../../lib/model/flannel';
import { validateK8sObjects } from '../../support/k8s-schema';

type K8sObject = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function synth(props: FlannelNetworkProps = {}, chartNamespace?: string): { objects: K8sObject[]; network: FlannelNetwork } {
  const chart = new Chart(testApp(), 'test', chartNamespace !== undefined ? { namespace: chartNamespace } : {});
  const network = new FlannelNetwork(chart, 'Network', props);
  return { objects: Testing.synth(chart) as K8sObject[], network };
}

function find(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  expect(found).toHaveLength(1);
  return found[0];
}

const fullFeatured: FlannelNetworkProps = {
  podNetwork: '10.42.0.0/16', podNetworkV6: 'fd00:42::/56', serviceNetworkV6: 'fd00:43::/112',
  datastore: FlannelDatastore.etcd({ endpoints: ['https://10.0.0.10:2379'], tlsSecretName: 'etcd-client' }),
  backend: FlannelBackend.wireGuard({ pskSecretName: 'wireguard-psk' }),
  interfaceRegex: ['^eth'], agentMemoryLimitMebibytes: 200, namespace: 'net', maxUnavailable: 3,
  imageDigests: { 'flannel-agent': `sha256:${'0'.repeat(64)}` },
};

describe('FlannelNetwork', () => {
  test('renders the stock stack (snapshot)', () => {
    expect(synth().objects).toMatchSnapshot();
  });

  test('renders a dual-stack etcd/WireGuard stack (snapshot)', () => {
    expect(synth(fullFeatured).objects).toMatchSnapshot();
  });

  test('every object is valid against the strict Kubernetes schema', () => {
    for (const props of [{}, fullFeatured, { backend: FlannelBackend.hostGw() }, { cniServer: false }, { networkPolicy: true }]) {
      expect(validateK8sObjects(synth(props).objects)).toEqual([]);
    }
  });

  test('the schema check fails a misspelled field', () => {
    const ds = find(synth().objects, 'DaemonSet');
    ds.spec.template.spec.containers[0].imagePullPolcy = 'Always';
    expect(validateK8sObjects([ds])).toEqual([
      'apps/v1/DaemonSet cnikit-flannel: /spec/template/spec/containers/0 must NOT have additional properties (imagePullPolcy)',
    ]);
  });

  test('objects come in apply order: namespace, identity and config, then the DaemonSet', () => {
    expect(synth().objects.map((o) => o.kind)).toEqual(['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet']);
  });

  test('cluster-scoped objects carry no namespace, even in a chart with one; namespaced ones use the stack\'s', () => {
    const { objects } = synth({ namespace: 'net' }, 'chart-default');
    for (const o of objects) {
      if (['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind)) expect(o.metadata.namespace).toBeUndefined();
      else expect(o.metadata.namespace).toBe('net');
    }
    expect(find(objects, 'ClusterRoleBinding').subjects).toEqual([{ kind: 'ServiceAccount', name: 'cnikit-flannel', namespace: 'net' }]);
  });

  test('the namespace enforces the privileged Pod Security level', () => {
    expect(find(synth().objects, 'Namespace').metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });

  test('RBAC is exactly what the agent calls: the node watch cache and its own node\'s status', () => {
    expect(find(synth().objects, 'ClusterRole').rules).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
    ]);
    expect(find(synth().objects, 'ServiceAccount').automountServiceAccountToken).toBe(true);
  });

  describe('networkPolicy: true (canal-style)', () => {
    const { objects } = synth({ networkPolicy: true });
    const pod = find(objects, 'DaemonSet').spec.template.spec;

    test('a policy-agent container per node, by pod address, from the agent image, NET_ADMIN only, no probes', () => {
      expect(pod.containers.map((c: K8sObject) => c.name)).toEqual(['agent', 'cni-server', 'policy-agent']);
      const policy = pod.containers[2];
      expect(policy).toEqual({
        name: 'policy-agent',
        image: pod.containers[0].image,
        imagePullPolicy: 'IfNotPresent',
        command: ['cnikit-policy-agent'],
        args: ['--datastore=kubernetes', '--node-name=$(NODE_NAME)', '--mode=address', '--backend=nft'],
        env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
        resources: { requests: { cpu: '50m', memory: '64Mi' } },
        securityContext: {
          allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: false, runAsUser: 0,
          capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
        },
      });
    });

    test('the ClusterRole gains list/watch on what the policy agent follows and Events on policies it refuses, nothing else', () => {
      expect(find(objects, 'ClusterRole').rules).toEqual([
        { apiGroups: [''], resources: ['nodes'], verbs: ['list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
        { apiGroups: [''], resources: ['pods', 'namespaces', 'serviceaccounts'], verbs: ['list', 'watch'] },
        { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies'], verbs: ['list', 'watch'] },
        { apiGroups: ['crd.projectcalico.org'], resources: ['networkpolicies', 'globalnetworkpolicies', 'networksets', 'globalnetworksets', 'tiers'], verbs: ['list', 'watch'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create'] },
      ]);
    });

    test('off by default: no policy-agent, the ClusterRole as flannel\'s', () => {
      const stock = synth().objects;
      expect(find(stock, 'DaemonSet').spec.template.spec.containers.map((c: K8sObject) => c.name)).toEqual(['agent', 'cni-server']);
      expect(find(stock, 'ClusterRole').rules).toHaveLength(2);
    });
  });

  test('the ConfigMap carries the conflist and net-conf.json of the model', () => {
    const { objects, network } = synth(fullFeatured);
    const data = find(objects, 'ConfigMap').data;
    expect(JSON.parse(data['cni-conf.json'])).toEqual(flannelCniConfList());
    expect(JSON.parse(data['net-conf.json'])).toEqual(flannelNetConf(network.network));
  });

  describe('the DaemonSet', () => {
    const ds = find(synth().objects, 'DaemonSet');
    const pod = ds.spec.template.spec;
    const agent = pod.containers[0];
    const server = pod.containers[1];
    const installer = pod.initContainers[0];

    test('runs on every Linux node in the host network, tolerating every taint, node-critical', () => {
      expect(pod.hostNetwork).toBe(true);
      expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
      expect(pod.priorityClassName).toBe('system-node-critical');
      expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms)
        .toEqual([{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }]);
      expect(pod.serviceAccountName).toBe('cnikit-flannel');
      expect(pod.automountServiceAccountToken).toBe(true);
    });

    test('names the agent the default container and rolls the agents when the configuration changes', () => {
      const annotations = ds.spec.template.metadata.annotations;
      expect(annotations['kubectl.kubernetes.io/default-container']).toBe('agent');
      expect(annotations['cnikit.io/config-hash']).toMatch(/^[0-9a-f]{16}$/);
      const hash = (props: FlannelNetworkProps) => find(synth(props).objects, 'DaemonSet').spec.template.metadata.annotations['cnikit.io/config-hash'];
      expect(hash({})).toBe(annotations['cnikit.io/config-hash']);
      expect(hash({ subnetLength: 25 })).not.toBe(annotations['cnikit.io/config-hash']);
      expect(hash({ agentCpuRequestMillis: 300 })).toBe(annotations['cnikit.io/config-hash']);
    });

    test('rolls out one node at a time', () => {
      expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
      expect(find(synth({ maxUnavailable: 3 }).objects, 'DaemonSet').spec.updateStrategy.rollingUpdate.maxUnavailable).toBe(3);
    });

    test('selects its pods by stable labels only', () => {
      expect(ds.spec.selector).toEqual({ matchLabels: { 'app.kubernetes.io/component': 'node-agent', 'app.kubernetes.io/name': 'cnikit-flannel' } });
      expect(Object.keys(ds.spec.template.metadata.labels)).not.toContain('cdk8s.io/metadata.addr');
    });

    test('the agent has NET_ADMIN and NET_RAW as root, not privileged', () => {
      expect(agent.securityContext).toEqual({
        allowPrivilegeEscalation: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] }, privileged: false,
        readOnlyRootFilesystem: false, runAsNonRoot: false, runAsUser: 0,
      });
      expect(pod.securityContext.runAsNonRoot).toBe(false);
    });

    test('the agent has liveness /healthz and readiness /readyz probes and no startup probe', () => {
      expect(agent.livenessProbe).toEqual({ failureThreshold: 3, httpGet: { path: '/healthz', port: 8081, scheme: 'HTTP' }, initialDelaySeconds: 10, periodSeconds: 30 });
      expect(agent.readinessProbe).toEqual({ failureThreshold: 3, httpGet: { path: '/readyz', port: 8081, scheme: 'HTTP' }, initialDelaySeconds: 5, periodSeconds: 10 });
      expect(agent.startupProbe).toBeUndefined();
    });

    test('requests resources, never limits CPU, pulls only when missing', () => {
      expect(agent.resources).toEqual({ requests: { cpu: '100m', memory: '50Mi' } });
      expect(installer.resources.limits).toBeUndefined();
      expect(agent.imagePullPolicy).toBe('IfNotPresent');
      expect(installer.imagePullPolicy).toBe('IfNotPresent');
      const limited = find(synth({ agentMemoryLimitMebibytes: 300 }).objects, 'DaemonSet').spec.template.spec.containers[0];
      expect(limited.resources).toEqual({ requests: { cpu: '100m', memory: '50Mi' }, limits: { memory: '300Mi' } });
    });

    test('the agent learns its node, pod and namespace from the downward API', () => {
      expect(agent.env).toEqual([
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      ]);
    });

    test('host paths: CNI directories for the installer, run dir and xtables lock for the agent', () => {
      const hostPaths = Object.fromEntries(pod.volumes.filter((v: K8sObject) => v.hostPath).map((v: K8sObject) => [v.name, v.hostPath]));
      expect(hostPaths).toEqual({
        'cni-bin': { path: '/opt/cni/bin', type: 'DirectoryOrCreate' },
        'cni-conf': { path: '/etc/cni/net.d', type: 'DirectoryOrCreate' },
        run: { path: '/run/cnikit-flannel', type: 'DirectoryOrCreate' },
        'xtables-lock': { path: '/run/xtables.lock', type: 'FileOrCreate' },
        netns: { path: '/var/run/netns', type: 'DirectoryOrCreate' },
        'cni-data': { path: '/var/lib/cni/cnikit-flannel', type: 'DirectoryOrCreate' },
        'cni-server-token': { path: '/run/cnikit', type: 'DirectoryOrCreate' },
      });
      expect(agent.volumeMounts).toEqual([
        { mountPath: '/run/cnikit-flannel', name: 'run' },
        { mountPath: '/etc/cnikit-flannel', name: 'config', readOnly: true },
        { mountPath: '/run/xtables.lock', name: 'xtables-lock' },
      ]);
      expect(installer.volumeMounts).toEqual([
        { mountPath: '/host/opt/cni/bin', name: 'cni-bin' },
        { mountPath: '/host/etc/cni/net.d', name: 'cni-conf' },
        { mountPath: '/etc/cnikit-flannel', name: 'config', readOnly: true },
      ]);
    });

    test('the installer installs the plugin (as the thick-plugin shim) and conflist without extra privileges', () => {
      expect(installer.args).toEqual(['install', '--bin-dir=/host/opt/cni/bin', '--conf-dir=/host/etc/cni/net.d',
        '--plugin=cnikit-flannel=cni-plugin.js', '--conf-source=/etc/cnikit-flannel/cni-conf.json', '--conf-name=10-cnikit-flannel.conflist',
        '--shim-port=7331', '--shim-token-file=/run/cnikit/cni-server.token']);
      expect(installer.securityContext).toEqual({ allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: false, runAsUser: 0 });
      expect(installer.image).toBe('ghcr.io/cnikit/cni-plugin:0.1.0');
    });

    test('the resident CNI server runs beside the agent from its image, privileged, with the namespaces, IPAM store, subnet file and token dir', () => {
      expect(pod.containers.map((c: K8sObject) => c.name)).toEqual(['agent', 'cni-server']);
      expect(server.image).toBe(agent.image);
      expect(server.command).toEqual(['cnikit-cni-server']);
      expect(server.args).toEqual(['--port=7331', '--token-file=/run/cnikit/cni-server.token']);
      expect(server.securityContext).toEqual({
        allowPrivilegeEscalation: true, privileged: true, readOnlyRootFilesystem: false, runAsNonRoot: false, runAsUser: 0,
      });
      expect(server.volumeMounts).toEqual([
        { mountPath: '/var/run/netns', name: 'netns', mountPropagation: 'HostToContainer' },
        { mountPath: '/var/lib/cni/cnikit-flannel', name: 'cni-data' },
        { mountPath: '/run/cnikit-flannel', name: 'run', readOnly: true },
        { mountPath: '/run/cnikit', name: 'cni-server-token' },
      ]);
      expect(server.resources).toEqual({ requests: { cpu: '100m', memory: '40Mi' } });
      expect(server.livenessProbe).toBeUndefined();
      // The same paths inside as on the host: the conflist the shim forwards names host paths.
      const conf = flannelCniConfList() as unknown as { plugins: { subnetFile: string; dataDir: string }[] };
      expect(server.volumeMounts.map((m: K8sObject) => m.mountPath)).toEqual(expect.arrayContaining([conf.plugins[0]?.dataDir, '/run/cnikit-flannel']));
      expect(conf.plugins[0]?.subnetFile.startsWith('/run/cnikit-flannel/')).toBe(true);
    });

    test('cniServer: false installs the plain plugin and runs no server', () => {
      const plain = find(synth({ cniServer: false }).objects, 'DaemonSet').spec.template.spec;
      expect(plain.containers.map((c: K8sObject) => c.name)).toEqual(['agent']);
      expect(plain.initContainers[0].args.filter((a: string) => a.startsWith('--shim'))).toEqual([]);
      expect(plain.volumes.map((v: K8sObject) => v.name)).not.toContain('netns');
    });

    test('etcd TLS and the WireGuard key are mounted read-only from their Secrets, owner-only', () => {
      const full = find(synth(fullFeatured).objects, 'DaemonSet').spec.template.spec;
      expect(full.volumes).toEqual(expect.arrayContaining([
        { name: 'etcd-tls', secret: { secretName: 'etcd-client', defaultMode: 0o400 } },
        { name: 'wireguard-psk', secret: { secretName: 'wireguard-psk', defaultMode: 0o400 } },
      ]));
      expect(full.containers[0].volumeMounts).toEqual(expect.arrayContaining([
        { mountPath: '/etc/cnikit/etcd-tls', name: 'etcd-tls', readOnly: true },
        { mountPath: '/etc/cnikit/wireguard', name: 'wireguard-psk', readOnly: true },
      ]));
      expect(full.containers[0].image).toBe(`ghcr.io/cnikit/flannel-agent@sha256:${'0'.repeat(64)}`);
    });
  });

  test.each([
    [{ podNetwork: '10.244.0.0/33' }, 'flannel.podNetwork: "10.244.0.0/33" is not valid; expected an IPv4 CIDR such as 10.244.0.0/16'],
    [{ namespace: 'Kube_Flannel' }, 'flannel.namespace: "Kube_Flannel" is not valid; expected a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)'],
    [{ agentMemoryRequestMebibytes: 100, agentMemoryLimitMebibytes: 50 }, 'flannel.agentMemoryLimitMebibytes: 50 is not valid; expected an integer from 100 to 65536 MiB (at least the request)'],
    [{ imageRegistry: 'https://ghcr.io' }, 'flannel.imageRegistry: "https://ghcr.io" is not valid; expected a registry and optional path such as ghcr.io/cnikit or registry.example.com:5000/platform'],
    [{ imageDigests: { 'flannel-agent': 'latest' } }, 'flannel.imageDigests.flannel-agent: "latest" is not valid; expected a digest such as sha256:<64 lower-case hex digits>'],
    [{ maxUnavailable: 0 }, 'flannel.maxUnavailable: 0 is not valid; expected an integer from 1 to 10000'],
    [{ replicas: 3 } as FlannelNetworkProps, 'flannel.replicas: "replicas" is not valid; expected a prop of FlannelNetwork: enableIpv4, podNetwork, subnetLength, subnetMin, subnetMax, podNetworkV6, subnetLengthV6, subnetMinV6, subnetMaxV6, backend, datastore, masquerade, nftables, interfaceName, interfaceRegex, interfaceCanReach, expectedNodeCount, serviceNetwork, serviceNetworkV6, nodeNetwork, nodeNetworkV6, namespace, imageRegistry, imageVersion, imageDigests, agentCpuRequestMillis, agentMemoryRequestMebibytes, agentMemoryLimitMebibytes, priorityClassName, maxUnavailable, cniServer, networkPolicy'],
    [{ cniServer: 'yes' } as unknown as FlannelNetworkProps, 'flannel.cniServer: "yes" is not valid; expected true or false'],
    [{ networkPolicy: 1 } as unknown as FlannelNetworkProps, 'flannel.networkPolicy: 1 is not valid; expected true or false'],
  ])('fails at construction on %j', (props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});
