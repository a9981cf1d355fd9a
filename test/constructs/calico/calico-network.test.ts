import { testChart } from '../../support/charts';
import { CalicoNetwork, CalicoNetworkProps } from '../../../lib/constructs/calico/calico-network';
import {
  agentClusterRules, cniPluginClusterRules, controllersClusterRules, typhaClusterRules,
} from '../../../lib/constructs/calico/rbac';
import { policyAgentClusterRules } from '../../../lib/constructs/common/policy-agent';
import { Mtu } from '../../../lib/model/calico/mtu';
import { EncapsulationMode } from '../../../lib/model/calico/pool';
import { TyphaMode } from '../../../lib/model/calico/typha';
import { KubeJson, at, find, synthValid } from './synth';

const stack = (props: CalicoNetworkProps = {}, chartNamespace?: string) =>
  synthValid((chart) => new CalicoNetwork(chart, 'calico', props), chartNamespace);

type Container = Record<string, unknown>;
const podSpec = (o: KubeJson) => at<Record<string, unknown>>(o, 'spec', 'template', 'spec');
const container = (o: KubeJson, name: string) => at<Container[]>(podSpec(o), 'containers').find((c) => c.name === name) as Container;

describe('CalicoNetwork with defaults', () => {
  const objects = stack();

  test('renders the upstream inventory (minus the parts the kit does not need), every object schema-valid', () => {
    const inventory = objects.filter((o) => o.kind !== 'CustomResourceDefinition').map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(inventory).toEqual([
      'BGPConfiguration/default',
      'ClusterRole/calico-cni-plugin', 'ClusterRole/calico-kube-controllers', 'ClusterRole/calico-node',
      'ClusterRoleBinding/calico-cni-plugin', 'ClusterRoleBinding/calico-kube-controllers', 'ClusterRoleBinding/calico-node',
      'ConfigMap/calico-config',
      'DaemonSet/calico-node',
      'Deployment/calico-kube-controllers',
      'FelixConfiguration/default',
      'IPAMConfig/default',
      'IPPool/default-ipv4-ippool',
      'KubeControllersConfiguration/default',
      'PodDisruptionBudget/calico-kube-controllers',
      'Role/calico-node', 'RoleBinding/calico-node',
      'ServiceAccount/calico-cni-plugin', 'ServiceAccount/calico-kube-controllers', 'ServiceAccount/calico-node',
    ]);
    expect(objects.filter((o) => o.kind === 'CustomResourceDefinition')).toHaveLength(18);
  });

  test('custom resources come after their CRDs', () => {
    const lastCrd = objects.map((o) => o.kind).lastIndexOf('CustomResourceDefinition');
    const firstCr = objects.findIndex((o) => o.apiVersion === 'crd.projectcalico.org/v1');
    expect(firstCr).toBeGreaterThan(lastCrd);
  });

  test('the default pool, BGP and Felix settings', () => {
    expect(find(objects, 'IPPool', 'default-ipv4-ippool').spec).toEqual({
      cidr: '192.168.0.0/16', blockSize: 26, ipipMode: 'Always', vxlanMode: 'Never', natOutgoing: true,
      nodeSelector: 'all()', disabled: false, disableBGPExport: false, allowedUses: ['Workload', 'Tunnel'],
    });
    expect(find(objects, 'BGPConfiguration', 'default').spec).toEqual({ asNumber: 64512, nodeToNodeMeshEnabled: true, listenPort: 179, logSeverityScreen: 'Info' });
    // Only what a process of the kit obeys (test/model/calico/felix-contract.test.ts); health is the DaemonSet's env.
    expect(find(objects, 'FelixConfiguration', 'default').spec).toEqual({
      logSeverityScreen: 'Info', defaultEndpointToHostAction: 'Accept', prometheusMetricsEnabled: false, prometheusMetricsPort: 9091,
      vxlanPort: 4789, vxlanVNI: 4096, routeRefreshInterval: '90s', nftablesRefreshInterval: '180s',
    });
    expect(find(objects, 'IPAMConfig', 'default').spec).toEqual({ strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 0 });
  });

  test('the ConfigMap carries the conflist: kit plugin, kit IPAM, then portmap', () => {
    const data = at<Record<string, string>>(find(objects, 'ConfigMap', 'calico-config'), 'data');
    expect(data).toMatchObject({ typha_service_name: 'none', calico_backend: 'bird', veth_mtu: '0', ip_autodetection_method: 'first-found' });
    const conflist = JSON.parse(data.cni_network_config);
    expect(conflist.plugins.map((p: { type: string }) => p.type)).toEqual(['cnikit-calico', 'portmap']);
    expect(conflist.plugins[0].ipam).toEqual({ type: 'cnikit-calico-ipam', assign_ipv4: 'true', assign_ipv6: 'false' });
    expect(conflist).toMatchObject({ name: 'k8s-pod-network', cniVersion: '1.0.0' });
  });

  test('the node agent: host network, every taint tolerated, node-critical, probes, preStop, host paths', () => {
    const ds = find(objects, 'DaemonSet', 'calico-node');
    const spec = podSpec(ds);
    expect(spec).toMatchObject({
      hostNetwork: true, priorityClassName: 'system-node-critical', serviceAccountName: 'calico-node',
      tolerations: [{ operator: 'Exists' }], nodeSelector: { 'kubernetes.io/os': 'linux' },
    });
    expect(at(ds, 'spec', 'updateStrategy')).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    const agent = container(ds, 'calico-node');
    expect(agent.securityContext).toEqual({
      privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: false, runAsUser: 0,
      capabilities: { add: ['NET_ADMIN', 'NET_BIND_SERVICE'], drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(at(agent, 'livenessProbe', 'httpGet')).toMatchObject({ host: 'localhost', path: '/liveness', port: 9099 });
    expect(at(agent, 'readinessProbe', 'httpGet')).toMatchObject({ host: 'localhost', path: '/readiness', port: 9099 });
    expect(at(agent, 'lifecycle', 'preStop', 'exec', 'command')).toEqual(['cnikit-calico-agent', '--shutdown']);
    expect(at(agent, 'resources')).toEqual({ requests: { cpu: '250m', memory: '128Mi' } });
    const volumes = at<{ name: string; hostPath?: { path: string } }[]>(spec, 'volumes');
    expect(volumes.filter((v) => v.hostPath).map((v) => v.hostPath?.path).sort())
      .toEqual(['/etc/cni/net.d', '/etc/cni/net.d', '/opt/cni/bin', '/proc/sys/net', '/run/cnikit', '/var/lib/calico', '/var/run/calico', '/var/run/netns']);
    const init = at<Container[]>(spec, 'initContainers')[0];
    expect(init.args).toEqual(expect.arrayContaining(['--plugin=cnikit-calico=cni-calico.js', '--plugin=cnikit-calico-ipam=cni-calico.js', '--conf-name=10-cnikit-calico.conflist',
      '--shim-port=7331', '--shim-token-file=/run/cnikit/cni-server.token']));
    expect(init.image).toBe('ghcr.io/cnikit/cni-plugin:0.1.0');
    expect(agent.image).toBe('ghcr.io/cnikit/calico-agent:0.1.0');
  });

  test('thick-plugin mode: the resident CNI server beside the agent, privileged, with the plugin\'s host paths', () => {
    const ds = find(objects, 'DaemonSet', 'calico-node');
    const server = container(ds, 'cni-server');
    expect(server).toMatchObject({
      image: 'ghcr.io/cnikit/calico-agent:0.1.0', command: ['cnikit-cni-server'], args: ['--port=7331', '--token-file=/run/cnikit/cni-server.token'],
      securityContext: { privileged: true, allowPrivilegeEscalation: true, runAsUser: 0 },
    });
    expect(server.volumeMounts).toEqual([
      { mountPath: '/var/run/netns', name: 'netns', mountPropagation: 'HostToContainer' },
      { mountPath: '/var/run/calico', name: 'var-run-calico' },
      { mountPath: '/var/lib/calico', name: 'var-lib-calico', readOnly: true },
      { mountPath: '/etc/cni/net.d', name: 'cni-net-dir', readOnly: true },
      { mountPath: '/run/cnikit', name: 'cni-server-token' },
    ]);
    const plain = find(stack({ cniServer: false }), 'DaemonSet', 'calico-node');
    expect(at<Container[]>(podSpec(plain), 'containers').map((c) => c.name)).toEqual(['calico-node', 'policy-agent']);
    expect((at<Container[]>(podSpec(plain), 'initContainers')[0].args as string[]).filter((a) => a.startsWith('--shim'))).toEqual([]);
    expect(() => stack({ cniServer: 'no' } as unknown as CalicoNetworkProps)).toThrow('calico.cniServer: "no" is not valid; expected true or false');
  });

  test('network policy: a policy-agent container per node, cali* interfaces, the API server, NET_ADMIN only', () => {
    const ds = find(objects, 'DaemonSet', 'calico-node');
    expect(at<Container[]>(podSpec(ds), 'containers').map((c) => c.name)).toEqual(['calico-node', 'cni-server', 'policy-agent']);
    const policy = container(ds, 'policy-agent');
    expect(policy).toMatchObject({
      image: 'ghcr.io/cnikit/calico-agent:0.1.0', command: ['cnikit-policy-agent'],
      args: ['--datastore=kubernetes', '--node-name=$(NODE_NAME)', '--mode=interface', '--backend=nft', '--felix-configuration'],
      env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
      securityContext: {
        privileged: false, allowPrivilegeEscalation: false, runAsUser: 0, readOnlyRootFilesystem: true,
        capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
      },
      resources: { requests: { cpu: '50m', memory: '64Mi' } },
    });
    // No health endpoint to probe, no host paths (nftables over netlink only), no CPU limit.
    expect(policy.livenessProbe).toBeUndefined();
    expect(policy.readinessProbe).toBeUndefined();
    expect(policy.startupProbe).toBeUndefined();
    expect(policy.volumeMounts).toBeUndefined();
    expect(at<Record<string, unknown>>(policy, 'resources').limits).toBeUndefined();

    const off = find(stack({ networkPolicy: false }), 'DaemonSet', 'calico-node');
    expect(at<Container[]>(podSpec(off), 'containers').map((c) => c.name)).toEqual(['calico-node', 'cni-server']);
    expect(() => stack({ networkPolicy: 'yes' } as unknown as CalicoNetworkProps)).toThrow('calico.networkPolicy: "yes" is not valid; expected true or false');
  });

  test('the controllers: one replica, Recreate, cluster-critical, non-root, with a PDB', () => {
    const d = find(objects, 'Deployment', 'calico-kube-controllers');
    expect(at(d, 'spec', 'replicas')).toBe(1);
    expect(at(d, 'spec', 'strategy')).toEqual({ type: 'Recreate' });
    expect(podSpec(d)).toMatchObject({ priorityClassName: 'system-cluster-critical', serviceAccountName: 'calico-kube-controllers' });
    expect(container(d, 'calico-kube-controllers').securityContext).toMatchObject({ runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    const pdb = find(objects, 'PodDisruptionBudget', 'calico-kube-controllers');
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: at(d, 'spec', 'selector', 'matchLabels') } });
  });
});

describe('RBAC: one least-privilege identity per component', () => {
  const rulesOf = (objects: KubeJson[], name: string) => at<unknown[]>(find(objects, 'ClusterRole', name), 'rules');

  test('each ClusterRole holds exactly its component rules and is bound to its own ServiceAccount only', () => {
    const objects = stack({ nodeCount: 200 });
    const expected: Record<string, unknown[]> = {
      // 200 nodes: Typha; the default pool is IPIP: a tunnel address.
      // The policy agent runs (networkPolicy defaults on): it records Events on policies it refuses.
      'calico-node': agentClusterRules({ typha: true, tunnelAddress: true, policyAgent: true }), 'calico-cni-plugin': cniPluginClusterRules(),
      'calico-kube-controllers': controllersClusterRules(), 'calico-typha': typhaClusterRules(),
    };
    for (const [name, rules] of Object.entries(expected)) {
      expect(rulesOf(objects, name)).toEqual(rules);
      expect(at(find(objects, 'ClusterRoleBinding', name), 'subjects')).toEqual([{ kind: 'ServiceAccount', name, namespace: 'kube-system' }]);
    }
  });

  test('without Typha the agent\'s ClusterRole grants everything the policy agent lists and watches, and no get of it', () => {
    const agentRules = agentClusterRules({ typha: false, policyAgent: true });
    // Calico mode (--felix-configuration) follows the FelixConfigurations through the same cache: list + watch.
    expect(agentRules.find((r) => r.apiGroups.includes('crd.projectcalico.org') && r.resources.includes('felixconfigurations'))?.verbs)
      .toEqual(['list', 'watch']);
    for (const rule of policyAgentClusterRules()) {
      for (const group of rule.apiGroups) {
        for (const resource of rule.resources) {
          const grants = agentRules.filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource)).flatMap((r) => r.verbs);
          expect({ group, resource, verbs: grants }).toEqual({ group, resource, verbs: [...rule.verbs] });
        }
      }
    }
  });

  test('with Typha the agent lists and watches nothing: it gets Typha\'s Endpoints, and Typha holds every watch it would', () => {
    const served = (rules: readonly { apiGroups: readonly string[]; resources: readonly string[]; verbs: readonly string[] }[], verb: string) =>
      rules.filter((r) => r.verbs.includes(verb)).flatMap((r) => r.apiGroups.flatMap((g) => r.resources.map((res) => `${g}/${res}`))).sort();
    const withTypha = agentClusterRules({ typha: true, tunnelAddress: false });
    expect(served(withTypha, 'watch')).toEqual([]);
    // Start-up reads the pools once; nothing else is listed.
    expect(served(withTypha, 'list')).toEqual(['crd.projectcalico.org/ippools']);
    expect(withTypha).toContainEqual({ apiGroups: [''], resources: ['endpoints'], verbs: ['get'] });
    // What the agents would watch themselves is exactly what Typha lists and watches for them.
    expect(served(typhaClusterRules(), 'watch')).toEqual(served(agentClusterRules({ typha: false, tunnelAddress: false }), 'watch'));
    expect(agentClusterRules({ typha: false })).not.toContainEqual(expect.objectContaining({ resources: ['endpoints'] }));
  });

  test('only an encapsulated network\'s agent writes IPAM (its tunnel address), with exactly the CNI plugin\'s IPAM verbs', () => {
    const writes = (rules: readonly { resources: readonly string[]; verbs: readonly string[] }[]) =>
      rules.filter((r) => r.verbs.some((v) => ['create', 'update', 'delete'].includes(v)));
    expect(writes(agentClusterRules({ tunnelAddress: false }))).toEqual([]);
    expect(writes(agentClusterRules({ tunnelAddress: true }))).toEqual(writes(cniPluginClusterRules()));
    const bgp = stack({ pools: [{ name: 'p', cidr: '10.44.0.0/16', ipipMode: EncapsulationMode.NEVER }], nodeCount: 200 });
    expect(rulesOf(bgp, 'calico-node')).toEqual(agentClusterRules({ typha: true, tunnelAddress: false, policyAgent: true }));
  });

  test('the controllers read their KubeControllersConfiguration (get, list, watch) and write no settings', () => {
    // KubeControllersConfigFollower: get of `default` at start-up and after each change, list + watch of the kind.
    // No create (the manifests declare `default`) and no status update (the kit does not report a running config).
    const grants = controllersClusterRules().filter((r) => r.resources.includes('kubecontrollersconfigurations'));
    expect(grants).toEqual([{ apiGroups: ['crd.projectcalico.org'], resources: ['kubecontrollersconfigurations'], verbs: ['get', 'list', 'watch'] }]);
    expect(controllersClusterRules().flatMap((r) => r.resources)).not.toContain('kubecontrollersconfigurations/status');
  });

  test('nobody may patch Nodes: the agents patch nodes/status only', () => {
    const objects = stack({ nodeCount: 200 });
    for (const name of ['calico-node', 'calico-cni-plugin', 'calico-kube-controllers', 'calico-typha']) {
      const patched = rulesOf(objects, name).filter((r) => at<string[]>(r, 'verbs').some((v) => ['patch', 'update', '*'].includes(v)))
        .flatMap((r) => at<string[]>(r, 'resources')).filter((res) => res === 'nodes' || res === '*');
      expect({ name, patched }).toEqual({ name, patched: [] });
    }
    expect(rulesOf(objects, 'calico-node')).toContainEqual({ apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] });
  });

  test('nobody but the agent and CNI plugin may write IPAM; Typha only reads; only the agent mints tokens', () => {
    const objects = stack({ nodeCount: 200 });
    const writes = (name: string) => rulesOf(objects, name)
      .filter((r) => at<string[]>(r, 'verbs').some((v) => ['create', 'update', 'delete', 'patch'].includes(v)))
      .flatMap((r) => at<string[]>(r, 'resources'));
    expect(writes('calico-typha')).toEqual([]);
    // The plugin writes IPAM and nothing else (it never annotates pods).
    expect(writes('calico-cni-plugin').sort()).toEqual(['blockaffinities', 'ipamblocks', 'ipamhandles']);
    expect(writes('calico-node')).not.toContain('ippools');
    for (const name of ['calico-node', 'calico-cni-plugin', 'calico-kube-controllers', 'calico-typha']) {
      expect(rulesOf(objects, name).flatMap((r) => at<string[]>(r, 'resources'))).not.toContain('secrets');
      expect(rulesOf(objects, name).flatMap((r) => at<string[]>(r, 'resources'))).not.toContain('serviceaccounts/token');
    }
    expect(at(find(objects, 'Role', 'calico-node'), 'rules')).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: ['calico-cni-plugin'] },
    ]);
  });

  test('BGP password Secrets are readable by the agent, by name, in its namespace only', () => {
    const objects = stack({ bgpPeers: [{ name: 'tor', peerIp: '10.0.0.1', asNumber: 65001, passwordSecretName: 'bgp-secrets', passwordSecretKey: 'tor' }] });
    expect(at(find(objects, 'Role', 'calico-node'), 'rules', 1)).toEqual(
      { apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['bgp-secrets'] });
    expect(find(objects, 'BGPPeer', 'tor').spec).toEqual({
      peerIP: '10.0.0.1', asNumber: 65001, nextHopMode: 'Auto', password: { secretKeyRef: { name: 'bgp-secrets', key: 'tor' } },
    });
  });
});

describe('Typha', () => {
  const typhaObjects = (objects: KubeJson[]) => objects.filter((o) => o.metadata.name === 'calico-typha').map((o) => o.kind).sort();

  test.each<[number, number]>([[3, 0], [50, 0], [51, 3], [500, 4], [1000, 7], [5000, 20]])('%i nodes → %i replicas', (nodeCount, replicas) => {
    const objects = stack({ nodeCount });
    const data = at<Record<string, string>>(find(objects, 'ConfigMap', 'calico-config'), 'data');
    if (replicas === 0) {
      expect(typhaObjects(objects)).toEqual([]);
      expect(data.typha_service_name).toBe('none');
      return;
    }
    expect(typhaObjects(objects)).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    expect(data.typha_service_name).toBe('calico-typha');
    const d = find(objects, 'Deployment', 'calico-typha');
    expect(at(d, 'spec', 'replicas')).toBe(replicas);
    expect(podSpec(d)).toMatchObject({ hostNetwork: true, serviceAccountName: 'calico-typha', terminationGracePeriodSeconds: 300 });
    expect(at(find(objects, 'Service', 'calico-typha'), 'spec')).toEqual({
      selector: at(d, 'spec', 'selector', 'matchLabels'), ports: [{ name: 'calico-typha', port: 5473, targetPort: 5473, protocol: 'TCP' }],
    });
  });

  test('with Typha both node containers follow it (Service from calico-config, in the stack\'s namespace); without, neither looks', () => {
    const envOf = (objects: KubeJson[], name: string) => at<{ name: string }[]>(container(find(objects, 'DaemonSet', 'calico-node'), name), 'env')
      .filter((e) => e.name.startsWith('FELIX_TYPHA'));
    const typha = stack({ nodeCount: 200, namespace: 'calico-system' });
    const service = { name: 'FELIX_TYPHAK8SSERVICENAME', valueFrom: { configMapKeyRef: { key: 'typha_service_name', name: 'calico-config' } } };
    const namespace = { name: 'FELIX_TYPHAK8SNAMESPACE', value: 'calico-system' };
    expect(envOf(typha, 'calico-node')).toEqual([service, namespace]);
    expect(envOf(typha, 'policy-agent')).toEqual([service, namespace]);
    // Discovery reads the Service's Endpoints with the pod's (calico-node) ServiceAccount.
    expect(at<{ resources: string[]; verbs: string[] }[]>(find(typha, 'ClusterRole', 'calico-node'), 'rules')
      .some((r) => r.resources.includes('endpoints') && r.verbs.includes('get'))).toBe(true);
    const none = stack({ nodeCount: 3 });
    expect(envOf(none, 'calico-node')).toEqual([service]); // "none": Felix's off
    expect(envOf(none, 'policy-agent')).toEqual([]);
  });

  test('forced on and off', () => {
    expect(typhaObjects(stack({ nodeCount: 2, typha: TyphaMode.ENABLED }))).toContain('Deployment');
    expect(typhaObjects(stack({ nodeCount: 900, typha: TyphaMode.DISABLED }))).toEqual([]);
  });
});

describe('networking variants', () => {
  test('VXLAN CrossSubnet without BGP: no BGPConfiguration, no NET_BIND_SERVICE, vxlan backend', () => {
    const objects = stack({ pools: [{ name: 'pods', cidr: '10.244.0.0/16', vxlanMode: EncapsulationMode.CROSS_SUBNET }], mtu: Mtu.fromLinkMtu(1500) });
    expect(objects.some((o) => o.kind === 'BGPConfiguration')).toBe(false);
    expect(at(find(objects, 'ConfigMap', 'calico-config'), 'data', 'calico_backend')).toBe('vxlan');
    expect(at(find(objects, 'ConfigMap', 'calico-config'), 'data', 'veth_mtu')).toBe('1450');
    expect(find(objects, 'FelixConfiguration', 'default').spec).toMatchObject({ vxlanMTU: 1450 });
    expect(at(container(find(objects, 'DaemonSet', 'calico-node'), 'calico-node'), 'securityContext', 'capabilities', 'add')).toEqual(['NET_ADMIN']);
  });

  test('route reflectors: mesh off and a peering from every node to the reflectors', () => {
    const objects = stack({ bgpRouteReflectorSelector: "route-reflector == 'true'", bgpRouteReflectorClusterId: '244.0.0.2' });
    expect(at(find(objects, 'BGPConfiguration', 'default'), 'spec', 'nodeToNodeMeshEnabled')).toBe(false);
    expect(find(objects, 'BGPPeer', 'cnikit-route-reflectors').spec).toEqual({ nodeSelector: 'all()', peerSelector: "route-reflector == 'true'", nextHopMode: 'Auto' });
    expect(at(find(objects, 'ConfigMap', 'calico-config'), 'data')).toMatchObject({ route_reflector_selector: "route-reflector == 'true'", route_reflector_cluster_id: '244.0.0.2' });
  });

  test('service advertisement and a per-node peer', () => {
    const objects = stack({ bgpServiceClusterIps: ['10.96.0.0/12'], bgpPeers: [{ name: 'rack1-tor', peerIp: '192.0.2.1:1179', asNumber: 65010, node: 'node-1' }] });
    expect(at(find(objects, 'BGPConfiguration', 'default'), 'spec', 'serviceClusterIPs')).toEqual([{ cidr: '10.96.0.0/12' }]);
    expect(find(objects, 'BGPPeer', 'rack1-tor').spec).toEqual({ peerIP: '192.0.2.1:1179', asNumber: 65010, node: 'node-1', nextHopMode: 'Auto' });
  });
});

describe('namespaces', () => {
  test('cluster-scoped objects carry no namespace even inside a namespaced chart', () => {
    const objects = stack({}, 'apps');
    const clusterScoped = ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'IPPool', 'BGPConfiguration', 'FelixConfiguration', 'IPAMConfig', 'KubeControllersConfiguration'];
    for (const o of objects.filter((x) => clusterScoped.includes(x.kind))) expect(o.metadata.namespace).toBeUndefined();
    expect(find(objects, 'DaemonSet', 'calico-node').metadata.namespace).toBe('kube-system');
  });

  test('another namespace is created, labelled privileged', () => {
    const objects = stack({ namespace: 'calico-system' });
    expect(find(objects, 'Namespace', 'calico-system').metadata.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'privileged' });
    expect(find(objects, 'DaemonSet', 'calico-node').metadata.namespace).toBe('calico-system');
  });
});

describe('bad input fails at construction', () => {
  test.each<[CalicoNetworkProps, string]>([
    [{ pools: [{ name: 'a', cidr: '10.96.0.0/16' }] }, 'calico.pools[0].cidr: "10.96.0.0/16" is not valid; expected a range that does not overlap the service network 10.96.0.0/12'],
    [{ bgpPeers: [{ name: 'tor', peerIp: '10.0.0.1' }] }, 'calico.bgpPeers[0].asNumber: (unset) is not valid'],
    [{ imageRegistry: 'Bad Registry' }, 'calico.images.registry: "Bad Registry" is not valid'],
  ])('%#', (props, message) => {
    expect(() => new CalicoNetwork(testChart(), 'calico', props)).toThrow(message);
  });
});

test('fails on an unknown prop', () => {
  expect(() => new CalicoNetwork(testChart(), 'calico', { namespaces: 'x' } as CalicoNetworkProps))
    .toThrow('calico.namespaces: "namespaces" is not valid; expected an option of CalicoNetwork: pools,');
});

test('dual-stack: IPv6 autodetection and assignment', () => {
  const objects = stack({ pools: [{ name: 'v4', cidr: '10.244.0.0/16' }, { name: 'v6', cidr: 'fd00:10:244::/48' }], serviceNetworkV6: 'fd00:10:96::/112' });
  const data = at<Record<string, string>>(find(objects, 'ConfigMap', 'calico-config'), 'data');
  expect(data.ip6_autodetection_method).toBe('first-found');
  expect(JSON.parse(data.cni_network_config).plugins[0].ipam).toMatchObject({ assign_ipv4: 'true', assign_ipv6: 'true' });
  const env = at<{ name: string; value?: string }[]>(container(find(objects, 'DaemonSet', 'calico-node'), 'calico-node'), 'env');
  expect(env.find((e) => e.name === 'IP6')?.value).toBe('autodetect');
  // IPv6 policy is always enforced (the policy agent's table is inet): no ipv6Support to render.
  expect(at(find(objects, 'FelixConfiguration', 'default'), 'spec', 'ipv6Support')).toBeUndefined();
});

test('snapshot of the default stack (CRDs aside: their schemas are pinned by test/crds)', () => {
  expect(stack().filter((o) => o.kind !== 'CustomResourceDefinition')).toMatchSnapshot();
});
