import { clusterPlan } from '../../../apps/environments/cluster';
import { environment } from '../../../apps/environments';
import { underlayFor } from '../../../lib/lab/cluster/cluster-lab';

describe('the cluster lab takes its settings from the environment', () => {
  test('dev: service and pod networks from the model, node podCIDRs of the subnet length, flat', () => {
    const plan = clusterPlan(environment('dev'));
    expect(plan).toEqual({
      network: { serviceCidrs: ['10.96.0.0/12'], podCidrs: ['10.244.0.0/16'], nodeCidrMask: { v4: 24 } },
      dualStack: false,
      natOutgoing: true,
      topology: 'flat',
      bgp: false,
      typha: false,
      vxlan: [],
      routeRefreshSeconds: 0,
      nodeLabels: [],
      routers: [],
      secrets: [],
    });
    // 10.96.0.0/12 holds 10.99: the lab's default underlay would collide with Service IPs.
    expect(underlayFor(plan.network)).toBe('172.31');
  });

  test("a stack's deployment props (networkPolicy, cniServer) are not network settings: both stacks plan with them", () => {
    const dev = environment('dev');
    const staging = environment('staging');
    const withDeploymentProps = <E extends typeof dev>(env: E): E => ({ ...env, stack: { ...env.stack, props: { ...env.stack.props, networkPolicy: true, cniServer: true } } }) as E;
    expect(clusterPlan(withDeploymentProps(dev))).toEqual(clusterPlan(dev));
    expect(clusterPlan(withDeploymentProps(staging))).toEqual(clusterPlan(staging));
  });

  test('staging: CrossSubnet pools get two subnets', () => {
    expect(clusterPlan(environment('staging'))).toMatchObject({
      topology: 'two-subnets', natOutgoing: true, dualStack: true, vxlan: [{ family: 4, crossSubnet: true }, { family: 6, crossSubnet: true }],
    });
  });

  test("prod: dual-stack, and the nodes go where its cidr= autodetection looks for them", () => {
    const plan = clusterPlan(environment('prod'));
    expect(plan).toMatchObject({ dualStack: true, topology: 'flat', network: { nodeNetwork: '10.0.0.0/16', podCidrs: ['10.128.0.0/14', 'fd00:10:128::/48'] } });
    expect(underlayFor(plan.network)).toBe('10.0');
  });

  test('prod on 4 nodes: one route reflector, its BGPPeers (IPv4 and IPv6) one rack router peering with it over both families, the password Secret they name', () => {
    const plan = clusterPlan(environment('prod'), 4);
    expect(plan.bgp).toBe(true);
    expect(plan.typha).toBe(true);
    expect(plan.nodeLabels).toEqual([{ 'route-reflector': 'true' }, undefined, undefined, undefined]);
    expect(plan.routers).toEqual([{
      name: 'rack-routers', address: '10.0.255.1', address6: 'fd00:0:255::1', asn: 65000,
      neighbours: [{ node: 0, asn: 64512, password: 'cnikit-lab-rack-routers' }, { node: 0, asn: 64512, ipv6: true, password: 'cnikit-lab-rack-routers' }],
    }]);
    expect(plan.secrets).toEqual([{ namespace: 'kube-system', name: 'bgp-peer-secrets', data: { 'rack-routers': 'cnikit-lab-rack-routers' } }]);
  });

  test('a node network that is too small or overlaps a service or pod network is refused, naming both', () => {
    expect(() => underlayFor({ serviceCidrs: ['10.96.0.0/12'], podCidrs: ['10.244.0.0/16'], nodeNetwork: '10.0.0.0/24' })).toThrow('cluster lab: nodeNetwork 10.0.0.0/24 is too small; expected a /16 or larger IPv4 network');
    expect(() => underlayFor({ serviceCidrs: ['10.96.0.0/12'], podCidrs: ['10.244.0.0/16'], nodeNetwork: '10.96.0.0/16' })).toThrow('cluster lab: nodeNetwork 10.96.0.0/16 overlaps 10.96.0.0/12');
  });
});
