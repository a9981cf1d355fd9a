import { FlannelBackend } from '../../lib/model/flannel/backend';
import { Environment } from './environment';

/** Staging: nodes share one L2 segment, so host-gw routes pods without encapsulation. */
export const staging: Environment = {
  name: 'staging',
  description: 'staging cluster on one L2 segment: host-gw',
  imageRegistry: 'registry.staging.example.com/cnikit',
  stack: {
    kind: 'flannel',
    props: {
      podNetwork: '10.44.0.0/16',
      backend: FlannelBackend.hostGw(),
      expectedNodeCount: 40,
      serviceNetwork: '10.45.0.0/16',
      nodeNetwork: '10.40.0.0/22',
      interfaceRegex: ['^(eth|ens)[0-9]+$'],
    },
  },
};
