// The CNI installer image's entrypoint (an init container): copies the CNI plugin, with the Node runtime
// it runs on, into the host's CNI binary directory, and optionally the network configuration.
import { parseArgs } from 'node:util';
import { HOST_RUNTIME_MANIFEST } from '../lib/image/host-runtime';
import { installCniPlugin } from '../lib/image/cni-install';
import { IMAGE_ROOT } from '../lib/image/image-spec';
import { KIT_VERSION } from '../lib/model/images';

const usage = `usage: cni-install [--bin-dir DIR] [--name TYPE] [--plugin FILE] [--conf FILE --conf-dir DIR --conf-name NAME]
  --bin-dir   the host's CNI binary directory as mounted here (default /host/opt/cni/bin)
  --name      the plugin's executable name, the "type" in the network configuration (default cnikit)
  --plugin    the plugin bundle (default ${IMAGE_ROOT}/cni-plugin.js)
  --conf      a network configuration to install into --conf-dir (default /host/etc/cni/net.d) as --conf-name`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'bin-dir': { type: 'string', default: '/host/opt/cni/bin' },
      name: { type: 'string', default: 'cnikit' },
      plugin: { type: 'string', default: `${IMAGE_ROOT}/cni-plugin.js` },
      conf: { type: 'string' },
      'conf-dir': { type: 'string', default: '/host/etc/cni/net.d' },
      'conf-name': { type: 'string' },
      version: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  if (values.version) {
    process.stdout.write(`cni-install ${KIT_VERSION}\n`);
    return;
  }
  if (values.conf !== undefined && values['conf-name'] === undefined) throw new Error('--conf needs --conf-name (e.g. 10-cnikit.conflist)');
  const result = await installCniPlugin({
    binDir: values['bin-dir'],
    name: values.name,
    plugin: values.plugin,
    runtimeManifest: HOST_RUNTIME_MANIFEST,
    conf: values.conf === undefined ? undefined : { source: values.conf, dir: values['conf-dir'], fileName: values['conf-name'] ?? '' },
  });
  process.stdout.write(`installed ${result.launcher} (${result.copied ? 'new payload' : 'payload already present'} in ${result.payloadDir})\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`cni-install: ${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
  process.exit(1);
});
