import { CalicoDatastoreConfig, openCalicoStore } from '../calico/datastore';
import { KeyValueStore } from '../datastore/types';
import { CALICO_PLUGIN_TYPES, parseCalicoNetConf } from './calico-config';
import { CalicoIpamPlugin } from './calico-ipam-plugin';
import { CalicoCniPlugin, CalicoPluginKernels } from './calico-plugin';
import { parseEnvironment } from './env';
import { CniError, CNI_ERROR } from './errors';
import { CniOutcome, asCniError } from './main';
import { SUPPORTED_VERSIONS } from './types';

export type StoreOpener = (config: CalicoDatastoreConfig) => Promise<KeyValueStore>;

/** True when the conflist entry on stdin is for the Calico-mode plugin or its IPAM plugin. */
export function isCalicoType(type: unknown): boolean {
  return type === CALICO_PLUGIN_TYPES.plugin || type === CALICO_PLUGIN_TYPES.ipam;
}

/**
 * One Calico-mode invocation (`cnikit-calico` or `cnikit-calico-ipam`), from the environment and
 * stdin to stdout and the exit code; failures are the spec's error object with exit 1.
 */
export async function runCalicoCni(
  env: NodeJS.ProcessEnv, stdin: string, kernels: CalicoPluginKernels, openStore: StoreOpener = openCalicoStore,
  /** Leave the store open when done (a resident server reuses it). @default false */
  keepStore = false,
): Promise<CniOutcome> {
  let cniVersion = '1.1.0';
  let store: KeyValueStore | undefined;
  try {
    if (env.CNI_COMMAND === 'VERSION') {
      return { stdout: JSON.stringify({ cniVersion: versionOf(stdin) ?? '1.1.0', supportedVersions: SUPPORTED_VERSIONS }), exitCode: 0 };
    }
    const inv = parseEnvironment(env);
    cniVersion = versionOf(stdin) ?? cniVersion;
    const conf = parseCalicoNetConf(stdin);
    try {
      store = await openStore(conf.datastore);
    } catch (error) {
      throw new CniError(CNI_ERROR.tryAgainLater, `cannot open the ${conf.datastore.type} datastore: ${(error as Error).message}`);
    }
    const ipamOnly = conf.type === CALICO_PLUGIN_TYPES.ipam;
    const plugin = ipamOnly ? new CalicoIpamPlugin(store) : new CalicoCniPlugin(kernels, store);
    let stdout = '';
    switch (inv.command) {
      case 'ADD':
        stdout = JSON.stringify(await plugin.add(inv, conf));
        break;
      case 'DEL':
        if (plugin instanceof CalicoIpamPlugin) await plugin.release(inv, conf);
        else await plugin.del(inv, conf);
        break;
      case 'CHECK':
        if (plugin instanceof CalicoCniPlugin) await plugin.check(inv, conf);
        break;
      case 'STATUS':
        await plugin.status(conf);
        break;
      case 'GC':
        await plugin.gc(conf);
        break;
      default:
        throw new CniError(CNI_ERROR.invalidEnvironment, `CNI_COMMAND: ${inv.command} is not handled`);
    }
    return { stdout, exitCode: 0 };
  } catch (error) {
    return { stdout: JSON.stringify(asCniError(error).toJSON(cniVersion)), exitCode: 1 };
  } finally {
    if (!keepStore) await store?.close().catch(() => undefined);
  }
}

function versionOf(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v ? v : undefined;
  } catch {
    return undefined;
  }
}
