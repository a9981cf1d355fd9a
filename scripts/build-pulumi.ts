// `npm run pulumi-engine`: builds the Pulumi CLI (tools/pulumi) and the Kubernetes resource provider
// (tools/pulumi-kubernetes) from their Go modules into the cache and installs the provider as a
// plugin of that CLI, or does nothing when they are built (docs/pulumi.md, "The engine, built here").
// The test command runs it, so the tests' own time holds no build.
import { ensurePulumiEngine } from '../lib/lab/cluster/pulumi-engine';

ensurePulumiEngine({ log: (line) => console.log(line) }).then(
  (engine) => console.log(`pulumi ${engine.version} with the kubernetes provider ${engine.kubernetesProviderVersion}: ${engine.root}`),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  },
);
