// The CNI installer image's entrypoint (the `install-cni` init container, see
// lib/constructs/common/cni-installer.ts for the arguments it is given): copies the CNI plugin, with the
// Node runtime it runs on, into the host's CNI binary directory, then the network configuration.
import { parseArgs } from 'node:util';
import { installCniPlugin } from '../lib/image/cni-install';
import { HOST_RUNTIME_MANIFEST } from '../lib/image/host-runtime';
import { BUNDLE_DIR } from '../lib/image/image-spec';
import { KIT_VERSION } from '../lib/model/images';

const usage = `usage: cni-install install --plugin=NAME... [--bin-dir=DIR] [--bundle=FILE] [--conf-source=FILE --conf-name=NAME [--conf-dir=DIR]]
       cni-install --version
  --plugin       an executable name for the plugin in the CNI binary directory (the conflist's "type"); repeatable
  --bin-dir      the host's CNI binary directory as mounted here (default /host/opt/cni/bin)
  --bundle       the plugin bundle (default ${BUNDLE_DIR}/cni-plugin.js)
  --conf-source  a network configuration to install into --conf-dir (default /host/etc/cni/net.d) as --conf-name`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'bin-dir': { type: 'string', default: '/host/opt/cni/bin' },
      plugin: { type: 'string', multiple: true, default: [] },
      bundle: { type: 'string', default: `${BUNDLE_DIR}/cni-plugin.js` },
      'conf-source': { type: 'string' },
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
  if (positionals.length !== 1 || positionals[0] !== 'install') throw new Error(`expected the command "install", got ${JSON.stringify(positionals.join(' '))}`);
  if (values.plugin.length === 0) throw new Error('--plugin is missing: name at least one executable, e.g. --plugin=cnikit-flannel');
  const confSource = values['conf-source'];
  const confName = values['conf-name'];
  if ((confSource === undefined) !== (confName === undefined)) throw new Error('--conf-source and --conf-name go together (e.g. --conf-name=10-cnikit-flannel.conflist)');
  const result = await installCniPlugin({
    binDir: values['bin-dir'],
    names: values.plugin,
    bundle: values.bundle,
    runtimeManifest: HOST_RUNTIME_MANIFEST,
    conf: confSource === undefined || confName === undefined ? undefined : { source: confSource, dir: values['conf-dir'], fileName: confName },
  });
  process.stdout.write(`installed ${result.launchers.join(', ')} (${result.copied ? 'new payload' : 'payload already present'} in ${result.payloadDir})\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`cni-install: ${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
  process.exit(1);
});
