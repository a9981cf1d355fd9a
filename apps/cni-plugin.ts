/**
 * The CNI plugin executable (`cnikit-flannel` in /opt/cni/bin). Bundled by esbuild into one
 * file (`npm run build:cni`) so the runtime starts no TypeScript tooling: `node` + one script.
 * Start-up is most of a per-pod executable's cost (BENCHMARKS.md): VERSION answers before
 * anything is loaded, and the rest of the plugin is loaded only for the other commands.
 * Calico mode is apps/cni-calico.ts, a bundle of its own: its etcd client must not load here.
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
  const [{ runCni }, { linuxPluginKernels }] = await Promise.all([
    import('../lib/dataplane/cni/main'),
    import('../lib/dataplane/cni/linux-kernels'),
  ]);
  const outcome = await runCni(process.env, stdin, linuxPluginKernels);
  if (outcome.stdout) process.stdout.write(`${outcome.stdout}\n`);
  process.exitCode = outcome.exitCode;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
