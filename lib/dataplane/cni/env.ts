import { promises as fs } from 'node:fs';
import { CniError, CNI_ERROR } from './errors';
import { CniCommand, CniInvocation } from './types';

const COMMANDS: readonly CniCommand[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'];
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Reads and validates the CNI_* variables for the command; a bad one is error 4, naming it. */
export function parseEnvironment(env: NodeJS.ProcessEnv): CniInvocation {
  const command = env.CNI_COMMAND ?? '';
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CniError(CNI_ERROR.invalidEnvironment, `CNI_COMMAND: ${JSON.stringify(command)} is not valid; expected one of ${COMMANDS.join(', ')}`);
  }
  const cmd = command as CniCommand;
  const perContainer = cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK';
  const containerId = env.CNI_CONTAINERID || undefined;
  const netns = env.CNI_NETNS || undefined;
  const ifname = env.CNI_IFNAME || undefined;
  const missing: string[] = [];
  if (perContainer && !containerId) missing.push('CNI_CONTAINERID');
  if ((cmd === 'ADD' || cmd === 'CHECK') && !netns) missing.push('CNI_NETNS');
  if (perContainer && !ifname) missing.push('CNI_IFNAME');
  if (cmd !== 'VERSION' && env.CNI_PATH === undefined) missing.push('CNI_PATH');
  if (missing.length) {
    throw new CniError(CNI_ERROR.invalidEnvironment, `required environment variables missing for ${cmd}: ${missing.join(', ')}`);
  }
  if (containerId !== undefined && !CONTAINER_ID.test(containerId)) {
    throw new CniError(CNI_ERROR.invalidEnvironment, `CNI_CONTAINERID: ${JSON.stringify(containerId)} is not valid; expected [A-Za-z0-9][A-Za-z0-9_.-]*`);
  }
  if (ifname !== undefined && (ifname.length > 15 || ifname === '.' || ifname === '..' || /[/:\s]/.test(ifname))) {
    throw new CniError(CNI_ERROR.invalidEnvironment, `CNI_IFNAME: ${JSON.stringify(ifname)} is not valid; expected an interface name of at most 15 characters without /, : or spaces`);
  }
  const args: Record<string, string> = {};
  for (const pair of (env.CNI_ARGS ?? '').split(';').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CNI_ERROR.invalidEnvironment, `CNI_ARGS: ${JSON.stringify(pair)} is not valid; expected KEY=VALUE pairs separated by ;`);
    args[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { command: cmd, containerId, netns, ifname, args, path: (env.CNI_PATH ?? '').split(':').filter(Boolean) };
}

/**
 * ADD and CHECK need the container's namespace: a path that does not exist is error 4 naming
 * CNI_NETNS, before anything is allocated. DEL does not look (the namespace may be gone already;
 * the spec has DEL succeed and free what the container held).
 */
export async function checkNetns(inv: CniInvocation): Promise<void> {
  if ((inv.command !== 'ADD' && inv.command !== 'CHECK') || inv.netns === undefined) return;
  try {
    await fs.stat(inv.netns);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as Error).message})`;
    throw new CniError(CNI_ERROR.invalidEnvironment, `CNI_NETNS: ${JSON.stringify(inv.netns)} ${why}; expected the path of the container's network namespace`);
  }
}
