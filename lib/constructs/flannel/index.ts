export * from './flannel-network';
export * from './flannel-agent';
export * from './flannel-config';
export * from './flannel-rbac';
