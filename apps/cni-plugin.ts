/**
 * The CNI plugin executable (`cnikit-flannel` in /opt/cni/bin). Bundled by esbuild into one
 * file (`npm run build:cni`) so the runtime starts no TypeScript tooling: `node` + one script.
 * Start-up is most of a per-pod executable's cost (BENCHMARKS.md): VERSION answers before
 * anything is loaded, and the rest of the plugin is loaded only for the other commands.
 * Calico mode is apps/cni-calico.ts, a bundle of its own: its etcd client must not load here.
 */
import { runCniExecutable } from '../lib/dataplane/cni/executable';

runCniExecutable(async (stdin) => {
  const [{ runCni }, { linuxPluginKernels }] = await Promise.all([
    import('../lib/dataplane/cni/main'),
    import('../lib/dataplane/cni/linux-kernels'),
  ]);
  return runCni(process.env, stdin, linuxPluginKernels);
});
