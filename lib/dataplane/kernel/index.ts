export * from './types';
export * from './ownership';
export * from './normalize';
export { describeOp } from './describe';
export { MemoryKernel, MemoryNamespace, MemoryNetwork } from './memory-kernel';
