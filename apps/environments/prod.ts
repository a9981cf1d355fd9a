import { IpAutodetection } from '../../lib/model/calico/autodetection';
import { PolicyAction, PolicyPort, Protocol } from '../../lib/model/calico/policy';
import { EncapsulationMode } from '../../lib/model/calico/pool';
import { Selector } from '../../lib/model/calico/selector';
import { Environment } from './environment';

const app = (name: string) => Selector.label('app').eq(name);
const shop = 'shop';

/**
 * Production: Calico-style on a routed fabric, dual-stack, up to 1,000 nodes. No encapsulation: BGP
 * carries the pod routes. Nodes labelled `route-reflector=true` reflect routes (no full mesh of
 * ~500,000 sessions) and peer with the rack routers over IPv4 and IPv6; Typha fans the datastore out (7 replicas for
 * 1,000 nodes). A default-deny baseline keeps DNS working; the example shop application opens
 * exactly ingress → frontend → api → postgres and api → partner APIs.
 */
export const prod: Environment = {
  name: 'prod',
  description: 'production: Calico-style BGP with route reflectors and Typha, dual-stack, default deny, up to 1,000 nodes',
  imageRegistry: 'registry.example.com/cnikit',
  stack: {
    kind: 'calico',
    props: {
      pools: [
        { name: 'prod-ipv4', cidr: '10.128.0.0/14', blockSize: 26, ipipMode: EncapsulationMode.NEVER, natOutgoing: true },
        { name: 'prod-ipv6', cidr: 'fd00:10:128::/48', blockSize: 122 },
      ],
      serviceNetwork: '10.96.0.0/16',
      serviceNetworkV6: 'fd00:10:96::/112',
      nodeCount: 1000,
      bgpAsNumber: 64512,
      bgpRouteReflectorSelector: Selector.label('route-reflector').eq('true'),
      bgpRouteReflectorClusterId: '244.0.0.1',
      bgpServiceClusterIps: ['10.96.0.0/16'],
      // The rack routers over both families: as in Calico, an IPv4 BGPPeer is an IPv4 session that
      // carries IPv4 routes only, so the fabric learns the IPv6 blocks over a BGPPeer of their own.
      bgpPeers: [{
        name: 'rack-routers', peerIp: '10.0.255.1', asNumber: 65000,
        nodeSelector: Selector.label('route-reflector').eq('true'),
        passwordSecretName: 'bgp-peer-secrets', passwordSecretKey: 'rack-routers',
      }, {
        name: 'rack-routers-v6', peerIp: 'fd00:0:255::1', asNumber: 65000,
        nodeSelector: Selector.label('route-reflector').eq('true'),
        passwordSecretName: 'bgp-peer-secrets', passwordSecretKey: 'rack-routers',
      }],
      ipAutodetection: IpAutodetection.cidrs('10.0.0.0/16'),
    },
    policies: {
      defaultDeny: {},
      networkSets: [{ name: 'partner-apis', namespace: shop, labels: { role: 'partner-api' }, nets: ['203.0.113.0/24'] }],
      networkPolicies: [
        {
          name: 'frontend', namespace: shop, order: 100, selector: app('frontend'),
          ingress: [{ action: PolicyAction.ALLOW, protocol: Protocol.TCP,
            source: { namespaceSelector: Selector.label('kubernetes.io/metadata.name').eq('ingress-nginx') },
            destination: { ports: [PolicyPort.named('http')] } }],
          egress: [{ action: PolicyAction.ALLOW, protocol: Protocol.TCP, destination: { selector: app('api'), ports: [PolicyPort.number(8080)] } }],
        },
        {
          name: 'api', namespace: shop, order: 100, selector: app('api'),
          ingress: [{ action: PolicyAction.ALLOW, protocol: Protocol.TCP, source: { selector: app('frontend') }, destination: { ports: [PolicyPort.number(8080)] } }],
          egress: [
            { action: PolicyAction.ALLOW, protocol: Protocol.TCP, destination: { selector: app('postgres'), ports: [PolicyPort.number(5432)] } },
            { action: PolicyAction.ALLOW, protocol: Protocol.TCP, destination: { selector: Selector.label('role').eq('partner-api'), ports: [PolicyPort.number(443)] } },
          ],
        },
        {
          // The default-deny baseline closes every pod's egress too: the ingress controller needs its
          // own allowance to reach the frontend it routes to.
          name: 'ingress-to-shop-frontend', namespace: 'ingress-nginx', order: 100, selector: Selector.all(),
          egress: [{ action: PolicyAction.ALLOW, protocol: Protocol.TCP,
            destination: { namespaceSelector: Selector.label('kubernetes.io/metadata.name').eq(shop), selector: app('frontend'), ports: [PolicyPort.named('http')] } }],
        },
        {
          name: 'postgres', namespace: shop, order: 100, selector: app('postgres'),
          ingress: [{ action: PolicyAction.ALLOW, protocol: Protocol.TCP, source: { selector: app('api'), serviceAccountNames: ['api'] }, destination: { ports: [PolicyPort.number(5432)] } }],
        },
      ],
    },
    // Who may reach whom under these policies, probed between real pods by the cluster lab.
    policyMatrix: 'test/lab/policy-shop-matrix.yaml',
  },
};
