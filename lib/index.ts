// The public surface of cnikit. Only re-exports live here.
export * from './model/errors';
export * from './model/cidr';
export * from './model/checks';
export * from './model/images';
export * from './model/cni-server';
export * from './model/policy-agent';
export * from './model/flannel';
export * from './constructs/common';
export * from './constructs/flannel';
export * from './model/calico';
export * from './crds';
export * as calicoResources from './imports/crd.projectcalico.org';
export * from './constructs/calico';
export * from './constructs/policy';
export * as kernel from './dataplane/kernel';
export * as cni from './dataplane/cni';
export * as policy from './dataplane/policy';
export * as calicoDataplane from './dataplane/calico';
export * as bgp from './dataplane/bgp';
// Pulumi components live in the cnikit/pulumi entry point (lib/pulumi/index.ts), not here, so that
// cdk8s-only users never load @pulumi/pulumi (an optional peer dependency).
