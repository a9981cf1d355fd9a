/**
 * The CNI plugin in Calico mode (`cnikit-calico`, and `cnikit-calico-ipam` as its IPAM plugin: the same
 * bundle installed under both names). Its own bundle, apart from apps/cni-plugin.ts, because it carries
 * the etcd3/gRPC client (~10x the flannel plugin's code): in one bundle every flannel pod's ADD paid for
 * loading it (BENCHMARKS.md, CNI). VERSION answers before anything else is loaded.
 */
import { readFileSync } from 'node:fs';

const SUPPORTED = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

function requestedVersion(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v ? v : '1.1.0';
  } catch {
    return '1.1.0';
  }
}

async function main(): Promise<void> {
  const stdin = readStdin();
  if (process.env.CNI_COMMAND === 'VERSION') {
    process.stdout.write(`${JSON.stringify({ cniVersion: requestedVersion(stdin), supportedVersions: SUPPORTED })}\n`);
    return;
  }
  const [{ runCalicoCni }, { linuxCalicoKernels }] = await Promise.all([
    import('../lib/dataplane/cni/calico-main'),
    import('../lib/dataplane/cni/calico-kernels'),
  ]);
  const outcome = await runCalicoCni(process.env, stdin, linuxCalicoKernels());
  if (outcome.stdout) process.stdout.write(`${outcome.stdout}\n`);
  process.exitCode = outcome.exitCode;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
