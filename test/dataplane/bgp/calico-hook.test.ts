import { Cidr } from '../../../lib/model/cidr';
import { emptyBlock, resolvePool } from '../../../lib/dataplane/ipam/block-model';
import { CalicoNode, desiredRouting } from '../../../lib/dataplane/calico/routes';
import { parseCalicoAgentConfig } from '../../../lib/dataplane/calico/agent-config';

/** The two hooks the BGP speaker needs in the Calico-style agent (CALICO_NETWORKING_BACKEND=bird). */
const block = (cidr: string, node: string) => emptyBlock(Cidr.parse(cidr, 'x'), node, false);
const node = (name: string, ip: string): CalicoNode => ({ name, spec: { bgp: { ipv4Address: ip } } });

describe('Calico-style agent with the BGP backend', () => {
  const input = (bgp: boolean, vxlanMode: 'Never' | 'CrossSubnet') => ({
    node: 'a', nodeAddress: '10.0.1.2/24', uplink: 'eth0', uplinkMtu: 1500, bgp,
    nodes: [node('a', '10.0.1.2/24'), node('b', '10.0.1.3/24'), node('c', '10.0.2.2/24')],
    blocks: [block('10.244.0.0/26', 'a'), block('10.244.0.64/26', 'b'), block('10.244.0.128/26', 'c')],
    pools: [resolvePool('default', { cidr: '10.244.0.0/16', vxlanMode })],
  });

  it('leaves remote blocks of an unencapsulated pool to BGP, keeps the blackhole for its own, refuses nothing', () => {
    const d = desiredRouting(input(true, 'Never'));
    expect(d.routes).toEqual([{ dst: '10.244.0.0/26', type: 'blackhole', protocol: 80 }]);
    expect(d.refusals).toEqual([]);
    // Without BGP the agent routes same-subnet blocks itself.
    expect(desiredRouting(input(false, 'Never')).routes).toContainEqual({ dst: '10.244.0.64/26', via: '10.0.1.3', dev: 'eth0', protocol: 80 });
  });

  it('CALICO_NETWORKING_BACKEND selects it (bird | vxlan | none), default vxlan, anything else is a one-line error', () => {
    const base = { NODENAME: 'a', DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: 'http://127.0.0.1:2379' };
    expect(parseCalicoAgentConfig([], base).networkingBackend).toBe('vxlan');
    expect(parseCalicoAgentConfig([], { ...base, CALICO_NETWORKING_BACKEND: 'bird' }).networkingBackend).toBe('bird');
    expect(parseCalicoAgentConfig(['--networking-backend=none'], base).networkingBackend).toBe('none');
    expect(() => parseCalicoAgentConfig([], { ...base, CALICO_NETWORKING_BACKEND: 'gobgp' })).toThrow('CALICO_NETWORKING_BACKEND: "gobgp" is not valid; expected bird, vxlan or none');
  });
});
