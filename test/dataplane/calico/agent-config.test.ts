import { parseCalicoAgentConfig } from '../../../lib/dataplane/calico/agent-config';

describe('calico agent configuration', () => {
  test('calico-node environment as the manifests set it', () => {
    const c = parseCalicoAgentConfig([], {
      NODE_NAME: 'node-a', DATASTORE_TYPE: 'kubernetes', IP_AUTODETECTION_METHOD: 'can-reach=10.0.0.1', NO_DEFAULT_POOLS: 'true',
      FELIX_HEALTHPORT: '9099', HOST_PROC_SYS_NET: '/host/proc/sys/net',
    });
    expect(c).toMatchObject({ node: 'node-a', datastore: { type: 'kubernetes' }, autodetect: 'can-reach=10.0.0.1', healthPort: 9099, procSysNet: '/host/proc/sys/net', stateDir: '/var/lib/calico' });
    // Refresh interval and log level come from FelixConfiguration + FELIX_* unless a flag overrides them.
    expect(c.resyncSeconds).toBeUndefined();
    expect(c.logLevel).toBeUndefined();
    expect(c.defaultPool).toBeUndefined();
  });

  test('default pool from CALICO_IPV4POOL_*; flags override the environment', () => {
    const c = parseCalicoAgentConfig(['--etcd-endpoints=http://10.0.0.1:2379', '--pool-vxlan=CrossSubnet'], {
      NODENAME: 'n1', DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: 'http://ignored:1', CALICO_IPV4POOL_CIDR: '10.244.0.0/16', CALICO_IPV4POOL_VXLAN: 'Always',
    });
    expect(c.datastore).toEqual({ type: 'etcdv3', endpoints: ['http://10.0.0.1:2379'] });
    expect(c.defaultPool).toEqual({ cidr: '10.244.0.0/16', blockSize: 26, vxlanMode: 'CrossSubnet', ipipMode: 'Never', natOutgoing: true });
  });

  test('CNI_SERVICE_ACCOUNT + CNI_KUBECONFIG as the manifests set them: the plugin\'s kubeconfig, in the pod\'s namespace', () => {
    const env = { NODE_NAME: 'node-a', DATASTORE_TYPE: 'kubernetes', CNI_SERVICE_ACCOUNT: 'calico-cni-plugin', CNI_KUBECONFIG: '/etc/cni/net.d/calico-kubeconfig' };
    expect(parseCalicoAgentConfig([], { ...env, POD_NAMESPACE: 'kube-system' }).cniKubeconfig)
      .toEqual({ serviceAccount: 'calico-cni-plugin', path: '/etc/cni/net.d/calico-kubeconfig', namespace: 'kube-system' });
    // Without POD_NAMESPACE the app reads the service-account directory's namespace.
    expect(parseCalicoAgentConfig([], env).cniKubeconfig).toEqual({ serviceAccount: 'calico-cni-plugin', path: '/etc/cni/net.d/calico-kubeconfig' });
    expect(parseCalicoAgentConfig(['--cni-kubeconfig=/tmp/k'], env).cniKubeconfig?.path).toBe('/tmp/k');
    expect(parseCalicoAgentConfig([], { NODE_NAME: 'node-a' }).cniKubeconfig).toBeUndefined();
  });

  test('CNI kubeconfig settings: both or neither, Kubernetes datastore only, valid names; one line each', () => {
    const base = { NODE_NAME: 'n' };
    expect(() => parseCalicoAgentConfig([], { ...base, CNI_KUBECONFIG: '/etc/cni/net.d/calico-kubeconfig' }))
      .toThrow(/^CNI_SERVICE_ACCOUNT: \(unset\) is not valid; expected the CNI plugin's ServiceAccount name, set together with CNI_KUBECONFIG \(\/etc\/cni\/net.d\/calico-kubeconfig\)$/);
    expect(() => parseCalicoAgentConfig([], { ...base, CNI_SERVICE_ACCOUNT: 'calico-cni-plugin' }))
      .toThrow(/^CNI_KUBECONFIG: \(unset\) is not valid; expected the path of the CNI plugin's kubeconfig, set together with CNI_SERVICE_ACCOUNT \(calico-cni-plugin\)$/);
    expect(() => parseCalicoAgentConfig([], { ...base, CNI_SERVICE_ACCOUNT: 'Calico_CNI', CNI_KUBECONFIG: '/k' }))
      .toThrow(/^CNI_SERVICE_ACCOUNT: "Calico_CNI" is not valid; expected a ServiceAccount name/);
    expect(() => parseCalicoAgentConfig([], { ...base, CNI_SERVICE_ACCOUNT: 'calico-cni-plugin', CNI_KUBECONFIG: 'calico-kubeconfig' }))
      .toThrow(/^CNI_KUBECONFIG: "calico-kubeconfig" is not valid; expected an absolute file path/);
    expect(() => parseCalicoAgentConfig([], { ...base, CNI_SERVICE_ACCOUNT: 'calico-cni-plugin', CNI_KUBECONFIG: '/k', POD_NAMESPACE: 'Kube System' }))
      .toThrow(/^POD_NAMESPACE: "Kube System" is not valid; expected a namespace name/);
    expect(() => parseCalicoAgentConfig([], { ...base, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: 'http://10.0.0.1:2379', CNI_KUBECONFIG: '/k' }))
      .toThrow(/^CNI_KUBECONFIG: "\/k" is not valid; expected unset with DATASTORE_TYPE etcdv3/);
    for (const parse of [
      () => parseCalicoAgentConfig([], { ...base, CNI_SERVICE_ACCOUNT: 'x' }),
      () => parseCalicoAgentConfig([], { ...base, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: 'http://e:2379', CNI_SERVICE_ACCOUNT: 'x', CNI_KUBECONFIG: '/k' }),
    ]) expect(parse).toThrow(/^[^\n]+$/);
  });

  test('bad input is one line naming the setting', () => {
    expect(() => parseCalicoAgentConfig([], {})).toThrow('NODENAME: "" is not valid; expected this node\'s name');
    expect(() => parseCalicoAgentConfig([], { NODENAME: 'n', IP_AUTODETECTION_METHOD: 'nearest' })).toThrow('IP_AUTODETECTION_METHOD: "nearest" is not valid');
    expect(() => parseCalicoAgentConfig([], { NODENAME: 'n', CALICO_IPV4POOL_VXLAN: 'Always', CALICO_IPV4POOL_IPIP: 'Always' })).toThrow('CALICO_IPV4POOL_IPIP: "Always" is not valid; expected Never when CALICO_IPV4POOL_VXLAN is set');
    expect(() => parseCalicoAgentConfig(['--bogus=1'], { NODENAME: 'n' })).toThrow('--bogus: "1" is not valid');
    expect(() => parseCalicoAgentConfig([], { NODENAME: 'n', FELIX_HEALTHPORT: '99999' })).toThrow('FELIX_HEALTHPORT: "99999" is not valid; expected an integer from 0 to 65535');
    expect(parseCalicoAgentConfig(['--version'], {}).version).toBe(true);
  });
});
