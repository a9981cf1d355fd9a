import { LinuxKernel, RTPROT } from '../kernel';
import { CalicoPluginKernels } from './calico-plugin';

/** The real kernels for Calico mode: this process's namespace is the node's (or `hostNetns` in tests and the lab). */
export function linuxCalicoKernels(hostNetns?: string): CalicoPluginKernels {
  return {
    host: (ownership) => new LinuxKernel({ netns: hostNetns, ownership }),
    container: (netns, ifname) => new LinuxKernel({ netns, ownership: { links: [ifname, 'lo'], routeProtocol: RTPROT.boot } }),
  };
}
