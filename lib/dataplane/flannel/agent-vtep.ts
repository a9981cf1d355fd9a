import { promises as fs } from 'fs';
import * as path from 'path';
import { randomMac } from '../kernel/normalize';
import { LinkState } from '../kernel/types';
import { Lease } from './lease';
import { peerVtepMac } from './backends/vxlan';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export type VtepMacSource = 'device' | 'state-file' | 'previous-lease' | 'random';

/**
 * The VTEP MAC must survive restarts and reboots, or peers keep stale neighbour/FDB entries
 * (flannel #1795, #1828). In order: the existing device's MAC, the one persisted in the state
 * directory, the one our previous lease published, a new random one. The choice is persisted.
 */
export async function chooseVtepMac(options: {
  readonly device: string;
  readonly links: readonly LinkState[];
  readonly stateDir: string;
  readonly previousLease?: Lease;
  /** Which of the previous lease's backend data to read (BackendData or BackendV6Data). @default 4 */
  readonly family?: 4 | 6;
}): Promise<{ mac: string; source: VtepMacSource }> {
  const file = path.join(options.stateDir, `${options.device}.mac`);
  const existing = options.links.find((l) => l.name === options.device && l.kind === 'vxlan')?.mac.toLowerCase();
  let chosen: { mac: string; source: VtepMacSource } | undefined;
  if (existing && MAC.test(existing)) chosen = { mac: existing, source: 'device' };
  if (!chosen) {
    const saved = await fs.readFile(file, 'utf8').then((t) => t.trim().toLowerCase(), () => undefined);
    if (saved && MAC.test(saved)) chosen = { mac: saved, source: 'state-file' };
  }
  if (!chosen && options.previousLease) {
    const mac = peerVtepMac(options.previousLease, options.family ?? 4);
    if (mac) chosen = { mac, source: 'previous-lease' };
  }
  chosen ??= { mac: randomMac(), source: 'random' };
  await fs.mkdir(options.stateDir, { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temp, `${chosen.mac}\n`, { mode: 0o644 });
  await fs.rename(temp, file);
  return chosen;
}
