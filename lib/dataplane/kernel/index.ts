export * from './types';
export * from './ownership';
export * from './normalize';
export { describeOp } from './describe';
export { MemoryKernel, MemoryNamespace, MemoryNetwork } from './memory-kernel';
export { LinuxKernel, LinuxKernelOptions } from './linux-kernel';
export { renderNftScript, parseNftJson, ruleSetsEqual } from './nft';
export { parseAddresses, parseFdb, parseLinks, parseNeighbours, parseRoutes } from './ip-json';
export { commandLines, batchFailures } from './ip-commands';
