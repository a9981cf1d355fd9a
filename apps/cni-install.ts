// The CNI installer image's entrypoint (the `install-cni` init container, see
// lib/constructs/common/cni-installer.ts for the arguments it is given): copies the CNI plugin, with the
// Node runtime it runs on, into the host's CNI binary directory, then the network configuration.
import { parseArgs } from 'node:util';
import { installCniPlugin } from '../lib/image/cni-install';
import { HOST_RUNTIME_MANIFEST } from '../lib/image/host-runtime';
import { BUNDLE_DIR } from '../lib/image/image-spec';
import { KIT_VERSION } from '../lib/model/images';

const usage = `usage: cni-install install --plugin=NAME[=BUNDLE]... [--bin-dir=DIR] [--bundle=FILE] [--conf-source=FILE --conf-name=NAME [--conf-dir=DIR]]
                           [--shim-port=PORT [--shim-token-file=FILE] [--host-bin-dir=DIR]]
       cni-install --version
  --plugin       an executable name in the CNI binary directory (the conflist's "type"), with the bundle it runs:
                 a file name in ${BUNDLE_DIR} or a path (default --bundle); repeatable
  --bin-dir      the host's CNI binary directory as mounted here (default /host/opt/cni/bin)
  --bundle       the bundle of a --plugin that names none (default ${BUNDLE_DIR}/cni-plugin.js)
  --conf-source  a network configuration to install into --conf-dir (default /host/etc/cni/net.d) as --conf-name
  --shim-port, --shim-token-file   thick-plugin mode: install the bash shim forwarding to the resident CNI
                 server on that loopback port (token file as the host sees it), falling back to the plugin
  --host-bin-dir the CNI binary directory as the host sees it (default /opt/cni/bin), for the shim's paths`;

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
      'shim-port': { type: 'string' },
      'shim-token-file': { type: 'string', default: '/run/cnikit/cni-server.token' },
      'host-bin-dir': { type: 'string', default: '/opt/cni/bin' },
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
  const shimPort = values['shim-port'];
  if (shimPort !== undefined && !/^[0-9]{1,5}$/.test(shimPort)) throw new Error(`--shim-port=${shimPort} is not a TCP port: expected 1-65535, e.g. 7331`);
  const plugins = values.plugin.map((flag) => {
    const [name = '', bundle = values.bundle] = flag.split('=', 2);
    if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`--plugin=${flag}: ${JSON.stringify(name)} is not a plugin name; expected NAME or NAME=BUNDLE, e.g. cnikit-calico=cni-calico.js`);
    return { name, bundle: bundle.includes('/') ? bundle : `${BUNDLE_DIR}/${bundle}` };
  });
  const result = await installCniPlugin({
    binDir: values['bin-dir'],
    plugins,
    runtimeManifest: HOST_RUNTIME_MANIFEST,
    conf: confSource === undefined || confName === undefined ? undefined : { source: confSource, dir: values['conf-dir'], fileName: confName },
    shim: shimPort === undefined ? undefined : { port: Number(shimPort), tokenFile: values['shim-token-file'] },
    hostBinDir: values['host-bin-dir'],
  });
  process.stdout.write(`installed ${result.launchers.join(', ')} (${result.copied ? 'new payload' : 'payload already present'} in ${result.payloadDir})\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`cni-install: ${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
  process.exit(1);
});
