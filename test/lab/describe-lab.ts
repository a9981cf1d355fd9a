import { canCreateNetns } from '../support/netns';

/** Lab suites need root (network namespaces); elsewhere they are skipped, visibly. */
export const describeLab = canCreateNetns() ? describe : describe.skip;
