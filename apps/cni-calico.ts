/**
 * The CNI plugin in Calico mode (`cnikit-calico`, and `cnikit-calico-ipam` as its IPAM plugin: the same
 * bundle installed under both names). Its own bundle, apart from apps/cni-plugin.ts, because it carries
 * the etcd3/gRPC client (~10x the flannel plugin's code): in one bundle every flannel pod's ADD paid for
 * loading it (BENCHMARKS.md, CNI). VERSION answers before anything else is loaded.
 */
import { runCniExecutable } from '../lib/dataplane/cni/executable';

runCniExecutable(async (stdin) => {
  const [{ runCalicoCni }, { linuxCalicoKernels }] = await Promise.all([
    import('../lib/dataplane/cni/calico-main'),
    import('../lib/dataplane/cni/calico-kernels'),
  ]);
  return runCalicoCni(process.env, stdin, linuxCalicoKernels());
});
