import { parseCalicoAgentConfig } from '../../../lib/dataplane/calico/agent-config';

describe('calico agent configuration', () => {
  test('calico-node environment as the manifests set it', () => {
    const c = parseCalicoAgentConfig([], {
      NODE_NAME: 'node-a', DATASTORE_TYPE: 'kubernetes', IP_AUTODETECTION_METHOD: 'can-reach=10.0.0.1', NO_DEFAULT_POOLS: 'true',
      FELIX_HEALTHPORT: '9099', HOST_PROC_SYS_NET: '/host/proc/sys/net',
    });
    expect(c).toMatchObject({ node: 'node-a', datastore: { type: 'kubernetes' }, autodetect: 'can-reach=10.0.0.1', healthPort: 9099, procSysNet: '/host/proc/sys/net', stateDir: '/var/lib/calico', resyncSeconds: 90 });
    expect(c.defaultPool).toBeUndefined();
  });

  test('default pool from CALICO_IPV4POOL_*; flags override the environment', () => {
    const c = parseCalicoAgentConfig(['--etcd-endpoints=http://10.0.0.1:2379', '--pool-vxlan=CrossSubnet'], {
      NODENAME: 'n1', DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: 'http://ignored:1', CALICO_IPV4POOL_CIDR: '10.244.0.0/16', CALICO_IPV4POOL_VXLAN: 'Always',
    });
    expect(c.datastore).toEqual({ type: 'etcdv3', endpoints: ['http://10.0.0.1:2379'] });
    expect(c.defaultPool).toEqual({ cidr: '10.244.0.0/16', blockSize: 26, vxlanMode: 'CrossSubnet', ipipMode: 'Never', natOutgoing: true });
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
