// The public surface of cnikit. Only re-exports live here.
export * from './model/errors';
export * from './model/cidr';
