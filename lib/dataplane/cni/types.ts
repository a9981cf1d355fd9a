/** CNI result and configuration shapes (SPEC.md 1.0.0 / 1.1.0, with the 0.3.x/0.4.0 `version` fields on conversion). */

export interface CniInterface {
  readonly name: string;
  readonly mac?: string;
  /** 1.1.0 */
  readonly mtu?: number;
  readonly sandbox?: string;
}

export interface CniIpConfig {
  /** Only in results of spec < 1.0.0. */
  readonly version?: '4' | '6';
  readonly address: string;
  readonly gateway?: string;
  readonly interface?: number;
}

export interface CniRoute {
  readonly dst: string;
  readonly gw?: string;
  readonly mtu?: number;
  readonly advmss?: number;
  readonly priority?: number;
  readonly table?: number;
  readonly scope?: number;
}

export interface CniDns {
  readonly nameservers?: readonly string[];
  readonly domain?: string;
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces?: readonly CniInterface[];
  readonly ips?: readonly CniIpConfig[];
  readonly routes?: readonly CniRoute[];
  readonly dns?: CniDns;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'GC' | 'STATUS';

/** What the runtime passed in the environment. */
export interface CniInvocation {
  readonly command: CniCommand;
  readonly containerId?: string;
  readonly netns?: string;
  readonly ifname?: string;
  readonly args: Readonly<Record<string, string>>;
  readonly path: readonly string[];
}

export interface GcAttachment {
  readonly containerID: string;
  readonly ifname: string;
}

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
