import { CalicoDatastoreConfig, openCalicoStore } from '../calico/datastore';
import { KeyValueStore } from '../datastore/types';
import { CALICO_PLUGIN_TYPES, parseCalicoNetConf } from './calico-config';
import { CalicoIpamPlugin } from './calico-ipam-plugin';
import { CalicoCniPlugin, CalicoPluginKernels } from './calico-plugin';
import { InvocationDeadline, deadlineStore } from './deadline';
import { checkNetns, parseEnvironment } from './env';
import { CniError, CNI_ERROR } from './errors';
import { CniOutcome, asCniError } from './main';
import { SUPPORTED_VERSIONS } from './types';

export type StoreOpener = (config: CalicoDatastoreConfig) => Promise<KeyValueStore>;

/** True when the conflist entry on stdin is for the Calico-mode plugin or its IPAM plugin. */
export function isCalicoType(type: unknown): boolean {
  return type === CALICO_PLUGIN_TYPES.plugin || type === CALICO_PLUGIN_TYPES.ipam;
}

/** A Calico-mode outcome; `settled` resolves once no datastore call of the invocation is in flight any more. */
export interface CalicoCniOutcome extends CniOutcome {
  readonly settled: Promise<void>;
  /** Datastore calls were still in flight when it answered (past the deadline, or a failure beside them). */
  readonly pending: boolean;
}

/**
 * One Calico-mode invocation (`cnikit-calico` or `cnikit-calico-ipam`), from the environment and
 * stdin to stdout and the exit code; failures are the spec's error object with exit 1. Its datastore
 * calls have a deadline each (`datastore_timeout_seconds`); past one it answers error 11.
 */
export async function runCalicoCni(
  env: NodeJS.ProcessEnv, stdin: string, kernels: CalicoPluginKernels, openStore: StoreOpener = openCalicoStore,
  /** Leave the store open when done (a resident server reuses it). @default false */
  keepStore = false,
): Promise<CalicoCniOutcome> {
  let cniVersion = '1.1.0';
  let store: KeyValueStore | undefined;
  let deadline: InvocationDeadline | undefined;
  const settled = () => deadline?.settled() ?? Promise.resolve();
  try {
    if (env.CNI_COMMAND === 'VERSION') {
      return { stdout: JSON.stringify({ cniVersion: versionOf(stdin) ?? '1.1.0', supportedVersions: SUPPORTED_VERSIONS }), exitCode: 0, settled: settled(), pending: deadline?.pending ?? false };
    }
    cniVersion = versionOf(stdin) ?? cniVersion;
    const inv = parseEnvironment(env);
    const conf = parseCalicoNetConf(stdin);
    await checkNetns(inv);
    const timed = new InvocationDeadline(conf.datastoreTimeoutSeconds, `datastore ${conf.datastore.type}`);
    deadline = timed;
    try {
      store = await timed.run(() => openStore(conf.datastore));
    } catch (error) {
      if (error instanceof CniError) throw error;
      throw new CniError(CNI_ERROR.tryAgainLater, `cannot open the ${conf.datastore.type} datastore: ${(error as Error).message}`);
    }
    const timedStore = deadlineStore(store, timed);
    const ipamOnly = conf.type === CALICO_PLUGIN_TYPES.ipam;
    const plugin = ipamOnly ? new CalicoIpamPlugin(timedStore, timed) : new CalicoCniPlugin(kernels, timedStore, timed);
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
    return { stdout, exitCode: 0, settled: settled(), pending: deadline?.pending ?? false };
  } catch (error) {
    return { stdout: JSON.stringify(asCniError(error).toJSON(cniVersion)), exitCode: 1, settled: settled(), pending: deadline?.pending ?? false };
  } finally {
    deadline?.dispose();
    // a store whose calls are still in flight past the deadline is closed once they settle, not waited for
    if (!keepStore && store) void settled().then(() => store?.close()).catch(() => undefined);
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
