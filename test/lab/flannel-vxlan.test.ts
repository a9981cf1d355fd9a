import { flatClusterSuite } from './flannel-suite';

describe('lab: 3-node VXLAN cluster on one L2 segment', () => {
  flatClusterSuite({ Type: 'vxlan' }, true);
});
