import { policyMatrixSuite } from './policy-suite';

policyMatrixSuite('calico');
