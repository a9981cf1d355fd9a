export * from './types';
export * from './errors';
export { CnikitNetConf, NETCONF_DEFAULTS, parseNetConf } from './config';
export { parseEnvironment } from './env';
export { resultForVersion, mergeResults, versionAtLeast } from './result';
export { CnikitPlugin, PluginKernels, HOST_VETH_PREFIX, hostVethName, readNodeNetwork } from './plugin';
export { runCni, CniOutcome } from './main';
export { linuxPluginKernels } from './linux-kernels';
