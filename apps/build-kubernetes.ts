// `npm run kubernetes`: builds the cluster lab's Kubernetes components from their Go modules
// (tools/kubernetes) into the cache, or does nothing when they are built. The test command runs it.
import { ensureKubernetes } from '../lib/lab/cluster/kubernetes';

ensureKubernetes({ log: (line) => console.log(line) }).then(
  (binaries) => console.log(`kubernetes ${binaries.version}: ${binaries.binDir}`),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
