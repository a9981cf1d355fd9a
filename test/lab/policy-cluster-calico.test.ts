import { clusterPolicySuite } from './policy-cluster-suite';

clusterPolicySuite('calico');
