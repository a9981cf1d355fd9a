// The Pulumi surface of cnikit, published as `cnikit/pulumi` (not re-exported from the package root, so
// cdk8s-only users never load @pulumi/pulumi, an optional peer dependency). Only re-exports live here.
export * from './kube-object';
export * from './synthesize';
export * from './registration-plan';
export * from './register';
export * from './images';
export * from './cdk8s-manifest';
export * from './network-stack';
export * from './flannel-network';
export * from './calico-network';
export * from './network-policy-set';
export * from './stack-summaries';
