import { FlannelBackend } from '../../lib/model/flannel/backend';
import { Environment } from './environment';

/**
 * Production: dual-stack, VXLAN across racks with direct routing inside a rack, room for 1,000 nodes
 * (/14 split into /24s = 1,024 subnets).
 */
export const prod: Environment = {
  name: 'prod',
  description: 'production: dual-stack VXLAN with direct routing, up to 1,000 nodes',
  imageRegistry: 'registry.example.com/cnikit',
  stack: {
    kind: 'flannel',
    props: {
      podNetwork: '10.128.0.0/14',
      podNetworkV6: 'fd00:10:128::/48',
      subnetLengthV6: 64,
      backend: FlannelBackend.vxlan({ vni: 4096, directRouting: true }),
      expectedNodeCount: 1000,
      serviceNetwork: '10.96.0.0/16',
      serviceNetworkV6: 'fd00:10:96::/112',
      nodeNetwork: '10.0.0.0/16',
      agentCpuRequestMillis: 200,
      agentMemoryRequestMebibytes: 100,
      maxUnavailable: 5,
    },
  },
};
