export * from './calico';
export * from './schema';
export * from './render';
