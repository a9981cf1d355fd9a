export * from './cluster-scoped';
export * from './cni-installer';
export * from './labels';
export * from './node-agent';
export * from './privileged-namespace';
export * from './cni-server';
export * from './policy-agent';
