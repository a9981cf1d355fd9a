import { LinuxKernel, RTPROT } from '../kernel';
import { PluginKernels } from './plugin';

/** The real kernels: this process's namespace is the node's; the pod's is CNI_NETNS. */
export const linuxPluginKernels: PluginKernels = {
  host: (ownership) => new LinuxKernel({ ownership }),
  container: (netns, ifname) => new LinuxKernel({ netns, ownership: { links: [ifname, 'lo'], routeProtocol: RTPROT.boot } }),
};
