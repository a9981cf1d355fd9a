import { IpAutodetection } from '../../lib/model/calico/autodetection';
import { EncapsulationMode } from '../../lib/model/calico/pool';
import { Environment } from './environment';

/**
 * Staging: Calico-style, VXLAN only between subnets (CrossSubnet): nodes on the same L2 segment route
 * pods directly, nodes in other subnets tunnel; no BGP needed. Dual-stack like prod: IPv6 pods tunnel
 * through vxlan-v6.calico over the nodes' IPv6 addresses.
 */
export const staging: Environment = {
  name: 'staging',
  description: 'staging cluster: Calico-style, VXLAN CrossSubnet, dual-stack, no BGP',
  imageRegistry: 'registry.staging.example.com/cnikit',
  stack: {
    kind: 'calico',
    props: {
      pools: [
        { name: 'staging-ipv4', cidr: '10.44.0.0/16', vxlanMode: EncapsulationMode.CROSS_SUBNET, natOutgoing: true },
        { name: 'staging-ipv6', cidr: 'fd00:10:44::/48', vxlanMode: EncapsulationMode.CROSS_SUBNET, natOutgoing: true },
      ],
      serviceNetwork: '10.45.0.0/16',
      serviceNetworkV6: 'fd00:10:45::/112',
      nodeCount: 40,
      ipAutodetection: IpAutodetection.interface('^(eth|ens)[0-9]+$'),
    },
  },
};
