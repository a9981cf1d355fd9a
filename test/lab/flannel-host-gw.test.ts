import { describeLab, flatClusterSuite } from './flannel-suite';

describeLab('lab: 3-node host-gw cluster on one L2 segment', () => {
  flatClusterSuite({ Type: 'host-gw' }, false);
});
