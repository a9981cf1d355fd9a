import { createHash } from 'node:crypto';
import { hostWorkloadSysctls, podWorkloadOps, workloadEndpointName, workloadVethName } from '../../../lib/dataplane/calico/workload-endpoint';
import { parseCalicoNetConf } from '../../../lib/dataplane/cni/calico-config';

describe('Calico-style workload endpoint', () => {
  test('veth name is cali + 11 hex of sha1(namespace.pod), 15 characters', () => {
    const name = workloadVethName('default', 'nginx');
    expect(name).toBe(`cali${createHash('sha1').update('default.nginx').digest('hex').slice(0, 11)}`);
    expect(name).toHaveLength(15);
  });

  test('WorkloadEndpoint names double the dashes inside each part', () => {
    expect(workloadEndpointName('node-1', 'web-7f9', 'eth0')).toBe('node--1-k8s-web--7f9-eth0');
  });

  const w = { node: 'n', namespace: 'ns', pod: 'p', containerId: 'c', ifname: 'eth0', netns: '/x', mtu: 1450, podMac: '02:00:00:00:00:01' };

  test('dual-stack pod: /32 and /128, link route to 169.254.1.1, defaults via the fake gateways', () => {
    const ops = podWorkloadOps({ ...w, addresses: ['10.0.0.5', 'fd00::5'] });
    expect(ops).toContainEqual({ op: 'addr.replace', address: { dev: 'eth0', cidr: '10.0.0.5/32', nodad: false } });
    expect(ops).toContainEqual({ op: 'addr.replace', address: { dev: 'eth0', cidr: 'fd00::5/128', nodad: true } });
    expect(ops).toContainEqual({ op: 'route.replace', route: { dst: '169.254.1.1/32', dev: 'eth0', scope: 'link', protocol: 3 } });
    expect(ops).toContainEqual({ op: 'route.replace', route: { dst: '::/0', via: 'fe80::ecee:eeff:feee:eeee', dev: 'eth0', protocol: 3 } });
    const sysctls = hostWorkloadSysctls({ ...w, addresses: ['10.0.0.5', 'fd00::5'] });
    const veth = workloadVethName('ns', 'p');
    expect(sysctls[`net.ipv4.conf.${veth}.proxy_arp`]).toBe('1');
    expect(sysctls[`net.ipv6.conf.${veth}.proxy_ndp`]).toBe('1');
  });

  test('the upstream-shaped conflist entry parses; Kubernetes mode keeps no WorkloadEndpoint records', () => {
    const conf = parseCalicoNetConf(JSON.stringify({
      cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'cnikit-calico', log_level: 'info', datastore_type: 'kubernetes', mtu: 0,
      ipam: { type: 'cnikit-calico-ipam', assign_ipv4: 'true', assign_ipv6: 'false' }, policy: { type: 'k8s' },
      kubernetes: { kubeconfig: '/etc/cni/net.d/calico-kubeconfig' },
    }));
    expect(conf.datastore).toEqual({ type: 'kubernetes', kubeconfig: '/etc/cni/net.d/calico-kubeconfig' });
    expect(conf.workloadEndpoints).toBe(false);
    expect(conf.ipam).toMatchObject({ assignIpv4: true, assignIpv6: false });
    expect(() => parseCalicoNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'cnikit-calico', datastore_type: 'etcdv3' })))
      .toThrow('etcd_endpoints: (unset) is not valid; expected comma-separated http(s):// URLs for datastore_type etcdv3');
  });
});
