import { clusterPolicySuite } from './policy-cluster-suite';

clusterPolicySuite('flannel');
