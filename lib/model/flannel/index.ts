export * from './backend';
export * from './datastore';
export * from './network';
export * from './net-conf';
export * from './cni-conf';
export * from './agent';
