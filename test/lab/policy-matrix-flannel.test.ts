import { policyMatrixSuite } from './policy-suite';

policyMatrixSuite('flannel');
