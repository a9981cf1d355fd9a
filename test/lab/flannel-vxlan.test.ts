import { describeLab, flatClusterSuite } from './flannel-suite';

describeLab('lab: 3-node VXLAN cluster on one L2 segment', () => {
  flatClusterSuite({ Type: 'vxlan' }, true);
});
