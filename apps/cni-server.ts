/**
 * The resident cnikit CNI server (lib/dataplane/cni/server.ts), run in the agent's pod on the
 * host network. Writes a fresh token to --token-file (0600) and listens on 127.0.0.1:--port; the
 * `cnikit-flannel` (or `cnikit-calico`, `cnikit-calico-ipam`) shim (lib/dataplane/cni/shim.ts)
 * forwards each CNI invocation to it. Calico mode's code (and its etcd client) is loaded at its
 * first call, so a Flannel-style node never loads it.
 *
 *   node cni-server.js [--port=7331] [--token-file=/run/cnikit/cni-server.token]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CALICO_PLUGIN_TYPES } from '../lib/dataplane/cni/calico-config';
import type { CalicoServerMode } from '../lib/dataplane/cni/calico-server';
import { CniHandler, CniServer } from '../lib/dataplane/cni/server';
import { linuxPluginKernels } from '../lib/dataplane/cni/linux-kernels';

function flag(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  return process.argv.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

async function main(): Promise<void> {
  const port = Number(flag('port', '7331'));
  const tokenFile = flag('token-file', '/run/cnikit/cni-server.token');
  const token = randomBytes(32).toString('hex');
  mkdirSync(path.dirname(tokenFile), { recursive: true, mode: 0o700 });
  const temp = `${tokenFile}.${process.pid}.tmp`;
  writeFileSync(temp, `${token}\n`, { mode: 0o600 });
  renameSync(temp, tokenFile);
  let calico: Promise<CalicoServerMode> | undefined;
  const calicoHandler: CniHandler = async (env, stdin) => {
    calico ??= import('../lib/dataplane/cni/calico-server').then(({ CalicoServerMode: Mode }) => new Mode());
    return (await calico).handle(env, stdin);
  };
  const handlers = { [CALICO_PLUGIN_TYPES.plugin]: calicoHandler, [CALICO_PLUGIN_TYPES.ipam]: calicoHandler };
  const server = new CniServer(linuxPluginKernels, { token, port, handlers });
  const bound = await server.listen();
  process.stdout.write(`${JSON.stringify({ msg: 'cnikit CNI server listening', address: `127.0.0.1:${bound}`, tokenFile })}\n`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void server.close().then(async () => (await calico)?.close()).then(() => process.exit(0)));
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
