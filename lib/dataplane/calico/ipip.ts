import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Pool } from '../ipam/block-model';

/** What the start-up check looks at; injectable so the decision is tested without the module. */
export interface ModuleProbe {
  /** True when the module is loaded or built in (`/sys/module/<name>`). */
  loaded(name: string): boolean;
  /** Tries `modprobe <name>`; resolves whether it succeeded. */
  load(name: string): Promise<boolean>;
}

export const linuxModuleProbe: ModuleProbe = {
  loaded: (name) => existsSync(`/sys/module/${name}`) || readModules().includes(`\n${name} `),
  load: (name) => new Promise((resolve) => execFile('modprobe', ['-q', name], (error) => resolve(!error))),
};

function readModules(): string {
  try {
    return `\n${readFileSync('/proc/modules', 'utf8')}`;
  } catch {
    return '';
  }
}

/** Thrown at start-up when a pool asks for IPIP and the kernel cannot do it. */
export class IpipUnavailableError extends Error {
  constructor(pool: Pool) {
    super(`ippools/${pool.name}.ipipMode: "${pool.ipipMode}" is not usable on this node; expected "Never" because the kernel has no ipip module (modprobe ipip failed): use vxlanMode ${pool.ipipMode} instead`);
    this.name = 'IpipUnavailableError';
  }
}

/**
 * IPIP is detected, not assumed: when an enabled IPv4 pool uses it, the `ipip` module must be
 * loaded or loadable. Returns whether IPIP is in use; throws IpipUnavailableError otherwise.
 */
export async function checkIpip(pools: readonly Pool[], probe: ModuleProbe = linuxModuleProbe): Promise<boolean> {
  const pool = pools.find((p) => p.cidr.family === 4 && !p.disabled && p.ipipMode !== 'Never');
  if (!pool) return false;
  if (probe.loaded('ipip') || (await probe.load('ipip') && probe.loaded('ipip'))) return true;
  throw new IpipUnavailableError(pool);
}
