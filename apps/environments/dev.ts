import { FlannelBackend } from '../../lib/model/flannel/backend';
import { Environment } from './environment';

/** A small development cluster: flannel's stock VXLAN network. */
export const dev: Environment = {
  name: 'dev',
  description: 'small development cluster: VXLAN, Kubernetes API datastore',
  stack: {
    kind: 'flannel',
    props: {
      podNetwork: '10.244.0.0/16',
      backend: FlannelBackend.vxlan(),
      expectedNodeCount: 5,
      nodeNetwork: '192.168.56.0/24',
    },
  },
};
