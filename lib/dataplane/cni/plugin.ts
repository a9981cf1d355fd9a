import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { Cidr } from '../../model/cidr';
import { ValidationError } from '../../model/errors';
import { PartialSubnetEnv, readSubnetEnv } from '../flannel/subnet-env';
import { AttachmentBusyError, HostLocalStore, IpamAllocation, IpamRange, RangeFullError } from '../ipam/host-local';
import { Kernel, KernelApplyError, KernelOp, LinkDetails, RTPROT, Route, familyOf, randomMac } from '../kernel';
import { CnikitNetConf } from './config';
import { CniError, CNI_ERROR } from './errors';
import { mergeResults, resultForVersion, versionAtLeast } from './result';
import { CniInvocation, CniResult, CniRoute } from './types';

/** How the plugin reaches the kernel: the node's namespace and a pod's (CNI_NETNS). */
export interface PluginKernels {
  host(ownership: { links: string[]; linkPrefixes: string[] }): Kernel;
  container(netns: string, ifname: string): Kernel;
}

/** Host-side veth names: `cnik` + 11 hex digits of sha1(containerID/ifname), so DEL finds it without state. */
export const HOST_VETH_PREFIX = 'cnik';

export function hostVethName(containerId: string, ifname: string): string {
  return HOST_VETH_PREFIX + createHash('sha1').update(`${containerId}/${ifname}`).digest('hex').slice(0, 11);
}

/** What the node subnet file says, resolved for one ADD. */
interface NodeNetwork {
  readonly mtu: number;
  readonly families: readonly { readonly network: Cidr; readonly subnet: Cidr; readonly gateway: string }[];
}

export class CnikitPlugin {
  constructor(private readonly kernels: PluginKernels) {}

  private store(conf: CnikitNetConf): HostLocalStore {
    return new HostLocalStore(path.join(conf.dataDir, 'ipam'));
  }

  private host(conf: CnikitNetConf): Kernel {
    return this.kernels.host({ links: [conf.bridge], linkPrefixes: [HOST_VETH_PREFIX] });
  }

  async add(inv: CniInvocation, conf: CnikitNetConf): Promise<CniResult> {
    const containerId = inv.containerId ?? '';
    const ifname = inv.ifname ?? '';
    // Queued before anything is awaited, so operations on one attachment run in arrival order.
    return this.exclusive(conf, containerId, ifname, async () => this.addLocked(inv, conf, await readNodeNetwork(conf.subnetFile)));
  }

  /**
   * ADD under the attachment's lock. Idempotent: a host veth of this attachment left by an
   * earlier ADD (completed, or cut short by a killed process) is replaced along with its pod end,
   * and the attachment's reservation is reused, so a retried ADD completes instead of failing.
   */
  private async addLocked(inv: CniInvocation, conf: CnikitNetConf, node: NodeNetwork): Promise<CniResult> {
    const containerId = inv.containerId ?? '';
    const ifname = inv.ifname ?? '';
    const netns = inv.netns ?? '';
    const mtu = conf.mtu ?? node.mtu;
    const ranges: IpamRange[] = node.families.map((f) => ({ subnet: f.subnet, gateway: f.gateway }));
    const host = this.host(conf);
    const store = this.store(conf);
    const vethName = hostVethName(containerId, ifname);

    const podMac = randomMac();
    const vethMac = randomMac();
    let bridge: LinkDetails | undefined;
    let allocations: IpamAllocation[] = [];
    try {
      // The IPAM reservation (files) and the host batch (one `ip` process) run side by side;
      // only the pod's batch needs the address. Both are waited for even when one fails: a rollback
      // that ran while the reservation was still being written would leak that address.
      const [allocated, hostSide, forwarding] = await Promise.allSettled([
        store.allocate(containerId, ifname, ranges, conf.name).catch((error: unknown) => {
          if (error instanceof RangeFullError) throw new CniError(CNI_ERROR.tryAgainLater, `IPAM: ${error.message}`);
          throw error;
        }),
        host.applyAndRead([{ op: 'link.del', name: vethName }, ...bridgeOps(conf, node, mtu), {
          op: 'link.add',
          link: { kind: 'veth', name: vethName, mac: vethMac, mtu, master: conf.bridge, up: true, peer: { name: ifname, netns, mac: podMac, mtu } },
        }, ...(conf.hairpinMode ? [{ op: 'link.set', change: { name: vethName, hairpin: true } } as const] : [])], conf.bridge),
        ensureForwarding(host, node),
      ]);
      for (const r of [allocated, hostSide, forwarding]) if (r.status === 'rejected') throw r.reason;
      if (allocated.status === 'fulfilled') allocations = allocated.value;
      if (hostSide.status === 'fulfilled') bridge = hostSide.value;
      await Promise.all([
        this.kernels.container(netns, ifname).apply(podOps(conf, node, ifname, allocations)),
        removeStaleBridgeAddresses(host, conf, node, bridge),
      ]);
    } catch (error) {
      await this.rollback(conf, containerId, ifname);
      if (error instanceof KernelApplyError && error.failures.some((f) => f.op.op === 'link.add' && f.op.link.kind === 'veth' && /File exists/.test(f.message))) {
        throw new CniError(CNI_ERROR.internal, `interface ${ifname} already exists in ${netns} and is not this plugin's (no host veth ${vethName}): remove it or pick another CNI_IFNAME`, error.message);
      }
      throw error;
    }

    const bridgeMac = bridge?.mac || bridgeMacFor(node);
    const ours: CniResult = {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: conf.bridge, mac: bridgeMac },
        { name: vethName, mac: vethMac },
        { name: ifname, mac: podMac, mtu, sandbox: netns },
      ],
      ips: allocations.map((a) => ({ address: a.address, gateway: a.gateway, interface: 2 })),
      routes: podRoutes(conf, node).map(({ dst, gw }) => ({ dst, gw })),
      dns: {},
    };
    return resultForVersion(mergeResults(conf.prevResult, ours), conf.cniVersion);
  }

  /** Idempotent: releases the addresses and removes the host veth (which takes the pod end with it). */
  async del(inv: CniInvocation, conf: CnikitNetConf): Promise<void> {
    const containerId = inv.containerId ?? '';
    const ifname = inv.ifname ?? '';
    await this.exclusive(conf, containerId, ifname, () => this.rollback(conf, containerId, ifname));
  }

  /** `fn` holding the attachment's lock; a lock not had in time is error 11 (the runtime retries). */
  private async exclusive<T>(conf: CnikitNetConf, containerId: string, ifname: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.store(conf).exclusive(containerId, ifname, fn);
    } catch (error) {
      if (error instanceof AttachmentBusyError) throw new CniError(CNI_ERROR.tryAgainLater, error.message);
      throw error;
    }
  }

  private async rollback(conf: CnikitNetConf, containerId: string, ifname: string): Promise<void> {
    await Promise.all([
      this.store(conf).release(containerId, ifname),
      this.host(conf).apply([{ op: 'link.del', name: hostVethName(containerId, ifname) }]),
    ]);
  }

  async check(inv: CniInvocation, conf: CnikitNetConf): Promise<void> {
    if (!versionAtLeast(conf.cniVersion, '0.4.0')) {
      throw new CniError(CNI_ERROR.incompatibleVersion, `cniVersion ${conf.cniVersion} does not allow CHECK (needs 0.4.0 or later)`);
    }
    const prev = conf.prevResult;
    if (!prev) throw new CniError(CNI_ERROR.invalidConfig, 'prevResult: (unset) is not valid; expected the result of the ADD for CHECK');
    const containerId = inv.containerId ?? '';
    const ifname = inv.ifname ?? '';
    const reserved = await this.store(conf).reservationsOf(containerId, ifname);
    if (!reserved.length) throw new CniError(CNI_ERROR.unknownContainer, `container ${containerId} (${ifname}) is unknown to network ${conf.name}: no address is reserved for it`);

    const vethName = hostVethName(containerId, ifname);
    const podKernel = this.kernels.container(inv.netns ?? '', ifname);
    const [veth, pod, podRoutesNow] = await Promise.all([
      this.host(conf).link(vethName),
      podKernel.link(ifname).catch(() => undefined),
      podKernel.routes({ table: 'all' }).catch(() => [] as Route[]),
    ]);
    const problems: string[] = [];
    if (!veth) problems.push(`host veth ${vethName} is missing`);
    else if (veth.master !== conf.bridge) problems.push(`host veth ${vethName} is not attached to ${conf.bridge}`);
    if (!pod) problems.push(`interface ${ifname} is missing in ${inv.netns}`);
    else {
      const sandboxIndex = (prev.interfaces ?? []).findIndex((i) => i.name === ifname && i.sandbox);
      if (sandboxIndex >= 0 && prev.interfaces?.[sandboxIndex].mac && prev.interfaces[sandboxIndex].mac !== pod.mac) {
        problems.push(`interface ${ifname} has MAC ${pod.mac}, expected ${prev.interfaces[sandboxIndex].mac}`);
      }
      for (const ip of prev.ips ?? []) {
        if (ip.interface !== undefined && ip.interface !== sandboxIndex) continue;
        if (!pod.addresses.some((a) => a.cidr === ip.address)) problems.push(`address ${ip.address} is missing on ${ifname}`);
        if (!reserved.some((r) => `${r.ip}/${ip.address.split('/')[1]}` === ip.address)) problems.push(`address ${ip.address} is not reserved in IPAM`);
      }
      for (const route of podRoutes(conf, await readNodeNetwork(conf.subnetFile).catch(() => ({ mtu: 0, families: [] })))) {
        if (!(prev.routes ?? []).some((r) => r.dst === route.dst)) continue;
        if (!podRoutesNow.some((r) => r.dst === route.dst && r.via === route.gw)) problems.push(`route ${route.dst} via ${route.gw} is missing`);
      }
    }
    if (problems.length) throw new CniError(CNI_ERROR.internal, `CHECK failed for ${containerId}: ${problems.join('; ')}`);
  }

  /** 0 when ADD can be served: the agent has written a usable subnet file. */
  async status(conf: CnikitNetConf): Promise<void> {
    try {
      await readNodeNetwork(conf.subnetFile);
    } catch (error) {
      throw new CniError(CNI_ERROR.notAvailable, error instanceof Error ? error.message : String(error));
    }
  }

  /** Releases every reservation of this network (and its host veth) not in `cni.dev/valid-attachments`. */
  async gc(conf: CnikitNetConf): Promise<void> {
    const valid = new Set((conf.validAttachments ?? []).map((a) => `${a.containerID}\n${a.ifname}`));
    const released = await this.store(conf).releaseAllExcept(valid, conf.name);
    const veths = [...new Set(released.map((r) => hostVethName(r.containerId, r.ifname)))];
    if (veths.length) await this.host(conf).apply(veths.map((name) => ({ op: 'link.del', name } as const)));
  }
}

/** Reads the agent's subnet file; missing or incomplete means "not ready yet" (error 11). */
export async function readNodeNetwork(file: string): Promise<NodeNetwork> {
  let env: PartialSubnetEnv | undefined;
  try {
    env = await readSubnetEnv(file);
  } catch (error) {
    if (error instanceof ValidationError) throw new CniError(CNI_ERROR.tryAgainLater, `subnet file is not usable: ${error.message}`);
    throw new CniError(CNI_ERROR.ioFailure, `cannot read subnet file ${file}: ${(error as Error).message}`);
  }
  if (!env) {
    throw new CniError(CNI_ERROR.tryAgainLater, `subnet file ${file} does not exist: the cnikit agent is not ready on this node yet (check the agent pod's log)`);
  }
  const families: { network: Cidr; subnet: Cidr; gateway: string }[] = [];
  if (env.network && env.subnet) families.push({ network: env.network, subnet: env.subnet, gateway: env.subnet.address(1n) });
  if (env.ipv6Network && env.ipv6Subnet) families.push({ network: env.ipv6Network, subnet: env.ipv6Subnet, gateway: env.ipv6Subnet.address(1n) });
  const missing = [
    ...(families.length ? [] : ['FLANNEL_NETWORK+FLANNEL_SUBNET (or the IPv6 pair)']),
    ...(env.mtu === undefined ? ['FLANNEL_MTU'] : []),
    ...(env.ipMasq === undefined ? ['FLANNEL_IPMASQ'] : []),
  ];
  if (missing.length) {
    throw new CniError(CNI_ERROR.tryAgainLater, `subnet file ${file} lacks ${missing.join(', ')}: the cnikit agent has not finished writing it (check the agent pod's log)`);
  }
  return { mtu: env.mtu ?? 1500, families };
}

/** The bridge: created if missing, up, holding the gateway addresses. */
function bridgeOps(conf: CnikitNetConf, node: NodeNetwork, mtu: number): KernelOp[] {
  return [
    { op: 'link.add', mayExist: true, link: { kind: 'bridge', name: conf.bridge, mtu, mac: bridgeMacFor(node) } },
    ...node.families.map((f) => ({ op: 'addr.replace', address: { dev: conf.bridge, cidr: `${f.gateway}/${f.subnet.prefix}`, nodad: f.subnet.family === 6 } } as const)),
    { op: 'link.set', change: { name: conf.bridge, up: true } },
  ];
}

/** Addresses of a re-joined node's old subnet on the bridge ("cni0 already has an IP address different from …", flannel #1850). */
async function removeStaleBridgeAddresses(host: Kernel, conf: CnikitNetConf, node: NodeNetwork, bridge: LinkDetails | undefined): Promise<void> {
  const wanted = node.families.map((f) => `${f.gateway}/${f.subnet.prefix}`);
  const families = new Set(node.families.map((f) => f.subnet.family));
  const stale = (bridge?.addresses ?? []).filter((a) => families.has(familyOf(a.cidr)) && !wanted.includes(a.cidr));
  if (stale.length) await host.apply(stale.map((address) => ({ op: 'addr.del', address: { dev: conf.bridge, cidr: address.cidr } } as const)));
}

function podOps(conf: CnikitNetConf, node: NodeNetwork, ifname: string, allocations: readonly IpamAllocation[]): KernelOp[] {
  return [
    ...allocations.map((a) => ({ op: 'addr.replace', address: { dev: ifname, cidr: a.address, nodad: a.family === 6 } } as const)),
    { op: 'link.set', change: { name: ifname, up: true } },
    { op: 'link.set', change: { name: 'lo', up: true } },
    ...podRoutes(conf, node).map((r) => ({ op: 'route.replace', route: { dst: r.dst, via: r.gw, dev: ifname, protocol: RTPROT.boot } } as const)),
  ];
}

/** Default route (when isDefaultGateway) and the cluster network route, both via the bridge's address. */
function podRoutes(conf: CnikitNetConf, node: NodeNetwork): (CniRoute & { gw: string })[] {
  return node.families.flatMap((f) => [
    ...(conf.isDefaultGateway ? [{ dst: f.subnet.family === 6 ? '::/0' : '0.0.0.0/0', gw: f.gateway }] : []),
    { dst: f.network.toString(), gw: f.gateway },
  ]);
}

/** `0a:58:` + the IPv4 gateway's bytes, as the reference bridge plugin did: stable across bridge re-creation. */
function bridgeMacFor(node: NodeNetwork): string {
  const v4 = node.families.find((f) => f.subnet.family === 4);
  if (!v4) return '0a:58:00:00:00:01';
  return `0a:58:${v4.gateway.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`;
}

async function ensureForwarding(host: Kernel, node: NodeNetwork): Promise<void> {
  const wanted: Record<string, string> = {};
  for (const f of node.families) {
    const key = f.subnet.family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding';
    if ((await host.sysctl(key)) !== '1') wanted[key] = '1';
  }
  await host.setSysctls(wanted);
}
