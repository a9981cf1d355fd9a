import { ValidationError } from '../../model/errors';
import { KernelApplyError, NotOwnedError } from '../kernel';
import { CnikitNetConf, parseNetConf } from './config';
import { checkNetns, parseEnvironment } from './env';
import { CniError, CNI_ERROR } from './errors';
import { CnikitPlugin, PluginKernels } from './plugin';
import { SUPPORTED_VERSIONS } from './types';

export interface CniOutcome {
  /** What goes to stdout (a result, VERSION info, an error object, or nothing). */
  readonly stdout: string;
  readonly exitCode: number;
}

/**
 * One plugin invocation, from the environment and stdin to stdout and the exit code. Every
 * failure becomes the spec's error object `{cniVersion, code, msg, details}` with exit 1.
 */
export async function runCni(env: NodeJS.ProcessEnv, stdin: string, kernels: PluginKernels): Promise<CniOutcome> {
  let cniVersion = '1.1.0';
  try {
    if (env.CNI_COMMAND === 'VERSION') {
      const requested = safeVersion(stdin);
      return ok(JSON.stringify({ cniVersion: requested ?? '1.1.0', supportedVersions: SUPPORTED_VERSIONS }));
    }
    cniVersion = safeVersion(stdin) ?? cniVersion;
    const invocation = parseEnvironment(env);
    const conf: CnikitNetConf = parseNetConf(stdin);
    await checkNetns(invocation);
    const plugin = new CnikitPlugin(kernels);
    switch (invocation.command) {
      case 'ADD':
        return ok(JSON.stringify(await plugin.add(invocation, conf)));
      case 'DEL':
        await plugin.del(invocation, conf);
        return ok('');
      case 'CHECK':
        await plugin.check(invocation, conf);
        return ok('');
      case 'STATUS':
        await plugin.status(conf);
        return ok('');
      case 'GC':
        await plugin.gc(conf);
        return ok('');
      default:
        throw new CniError(CNI_ERROR.invalidEnvironment, `CNI_COMMAND: ${invocation.command} is not handled`);
    }
  } catch (error) {
    return { stdout: JSON.stringify(asCniError(error).toJSON(cniVersion)), exitCode: 1 };
  }
}

function ok(stdout: string): CniOutcome {
  return { stdout, exitCode: 0 };
}

function safeVersion(stdin: string): string | undefined {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    return typeof v === 'string' && v ? v : undefined;
  } catch {
    return undefined;
  }
}

export function asCniError(error: unknown): CniError {
  if (error instanceof CniError) return error;
  if (error instanceof ValidationError) return new CniError(CNI_ERROR.invalidConfig, error.message);
  if (error instanceof KernelApplyError || error instanceof NotOwnedError) return new CniError(CNI_ERROR.internal, error.message);
  if (error instanceof Error && 'code' in error && typeof (error as NodeJS.ErrnoException).code === 'string') {
    return new CniError(CNI_ERROR.ioFailure, error.message);
  }
  return new CniError(CNI_ERROR.internal, error instanceof Error ? error.message : String(error));
}
