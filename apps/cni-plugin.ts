/**
 * The CNI plugin executable (`cnikit-flannel` in /opt/cni/bin). Bundled by esbuild into one
 * file (`npm run build:cni`) so the runtime starts no TypeScript tooling: `node` + one script.
 */
import { readFileSync } from 'node:fs';
import { linuxPluginKernels } from '../lib/dataplane/cni/linux-kernels';
import { runCni } from '../lib/dataplane/cni/main';

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

runCni(process.env, process.env.CNI_COMMAND === 'VERSION' && process.stdin.isTTY ? '' : readStdin(), linuxPluginKernels).then(
  (outcome) => {
    if (outcome.stdout) process.stdout.write(outcome.stdout + '\n');
    process.exitCode = outcome.exitCode;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
