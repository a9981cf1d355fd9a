// `npm run kubernetes`: builds the cluster lab's Kubernetes components and the upstream e2e suite
// (e2e.test, ginkgo, agnhost) from their Go modules (tools/kubernetes) into the cache, or does
// nothing when they are built. The test command runs it, so the tests' own time holds no build.
import { E2E_COMMANDS, ensureKubernetes, KUBERNETES_COMMANDS } from '../lib/lab/cluster/kubernetes';

ensureKubernetes({ commands: [...KUBERNETES_COMMANDS, ...E2E_COMMANDS], log: (line) => console.log(line) }).then(
  (binaries) => console.log(`kubernetes ${binaries.version}: ${binaries.binDir}`),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
