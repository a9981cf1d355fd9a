// The Calico-style dataplane's reusable parts (exported as `calicoDataplane`): block IPAM, routing
// and workload-endpoint computations, autodetection. The agent and controllers are executables
// (apps/calico-agent.ts, apps/calico-controllers.ts) and are not loaded from here.
export * from '../ipam/block-model';
export { BlockIpam, BlockIpamOptions, AssignRequest, IpamExhaustedError, IpamConflictError } from '../ipam/block-ipam';
export { CALICO_ETCD_PREFIX, CALICO_KEYS, prefixedStore } from '../ipam/calico-store';
export { HostLock, InProcessLock, FileLock } from '../ipam/calico-host-lock';
export * from './workload-endpoint';
export * from './routes';
export { checkIpip, IpipUnavailableError, ModuleProbe } from './ipip';
export {
  AutodetectMethod, DetectedAddress, InterfaceInfo, DEFAULT_SKIPPED_INTERFACES, parseAutodetectMethod, selectNodeAddress,
} from './autodetect';
