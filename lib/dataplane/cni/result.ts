import { CniResult } from './types';

const compare = (a: string, b: string) => {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
};

/** True when `version` is at least `min` (semantic comparison of x.y.z). */
export function versionAtLeast(version: string, min: string): boolean {
  return compare(version, min) >= 0;
}

/**
 * The result in the shape of `cniVersion`: before 1.0.0 every ip carries `version`; before 1.1.0
 * interfaces have no `mtu` and routes no `mtu`/`advmss`/`priority`/`table`/`scope`.
 */
export function resultForVersion(result: CniResult, cniVersion: string): CniResult {
  const v10 = versionAtLeast(cniVersion, '1.0.0');
  const v11 = versionAtLeast(cniVersion, '1.1.0');
  return {
    cniVersion,
    ...(result.interfaces ? { interfaces: result.interfaces.map(({ mtu, ...rest }) => (v11 && mtu !== undefined ? { ...rest, mtu } : rest)) } : {}),
    ...(result.ips ? {
      ips: result.ips.map(({ version: _v, ...ip }) => (v10 ? ip : { version: ip.address.includes(':') ? '6' as const : '4' as const, ...ip })),
    } : {}),
    ...(result.routes ? {
      routes: result.routes.map((r) => (v11 ? r : { dst: r.dst, ...(r.gw ? { gw: r.gw } : {}) })),
    } : {}),
    dns: result.dns ?? {},
  };
}

/** Our interfaces/ips appended after a previous plugin's (when chained after another plugin). */
export function mergeResults(prev: CniResult | undefined, ours: CniResult): CniResult {
  if (!prev) return ours;
  const offset = prev.interfaces?.length ?? 0;
  return {
    cniVersion: ours.cniVersion,
    interfaces: [...(prev.interfaces ?? []), ...(ours.interfaces ?? [])],
    ips: [...(prev.ips ?? []), ...(ours.ips ?? []).map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + offset }))],
    routes: [...(prev.routes ?? []), ...(ours.routes ?? [])],
    dns: ours.dns ?? prev.dns ?? {},
  };
}
