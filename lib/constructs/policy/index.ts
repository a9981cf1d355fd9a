export * from './calico-global-network-policy';
export * from './calico-network-policy';
export * from './calico-tier';
export * from './default-deny';
export * from './network-set';
export * from './policy-set';
