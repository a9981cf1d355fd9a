import { KeyValueStore } from '../datastore/types';
import { AssignRequest, BlockIpam, IpamConflictError, IpamExhaustedError } from '../ipam/block-ipam';
import { FileLock } from '../ipam/calico-host-lock';
import { CALICO_KEYS } from '../ipam/calico-store';
import { blockAllocations } from '../ipam/block-model';
import { CalicoNetConf, resolveNodename } from './calico-config';
import { InvocationDeadline, LOCK_WAIT_TIMEOUTS } from './deadline';
import { CniError, CNI_ERROR } from './errors';
import { resultForVersion } from './result';
import { CniInvocation, CniResult } from './types';

/** `<network>.<containerID>`: Calico's IPAM handle for a pod (`k8s-pod-network.<id>` upstream). */
export function podHandle(network: string, containerId: string): string {
  return `${network}.${containerId}`;
}

/** The pod attributes stored with each allocation: what GC and borrowed-address routes read. */
export function podAttributes(node: string, inv: CniInvocation): Record<string, string> {
  return {
    node,
    ...(inv.args.K8S_POD_NAMESPACE ? { namespace: inv.args.K8S_POD_NAMESPACE } : {}),
    ...(inv.args.K8S_POD_NAME ? { pod: inv.args.K8S_POD_NAME } : {}),
    timestamp: new Date().toISOString(),
  };
}

/**
 * The block-IPAM side of the plugin (also usable on its own as `type: cnikit-calico-ipam`):
 * assigns one address per requested family under the container's handle, releases by handle.
 */
export class CalicoIpamPlugin {
  /** `deadline`: the invocation's datastore deadline (deadline.ts), which also bounds the wait for the IPAM host lock. */
  constructor(private readonly store: KeyValueStore, private readonly deadline?: InvocationDeadline) {}

  private ipam(conf: CalicoNetConf): BlockIpam {
    const deadline = this.deadline;
    const signal = deadline && (() => deadline.waitSignal(`IPAM host lock ${conf.ipam.lockFile}`, deadline.seconds * LOCK_WAIT_TIMEOUTS));
    return new BlockIpam(this.store, { hostLock: new FileLock(conf.ipam.lockFile, { signal }) });
  }

  /** Addresses (without prefix), v4 first. A failure after a partial assignment releases it. */
  async assign(inv: CniInvocation, conf: CalicoNetConf): Promise<string[]> {
    const node = await resolveNodename(conf);
    const handleId = podHandle(conf.name, inv.containerId ?? '');
    const ipam = this.ipam(conf);
    const existing = await ipam.addressesOf(handleId);
    if (existing.length) return existing; // a repeated ADD for the same container keeps its addresses
    const attributes = podAttributes(node, inv);
    try {
      const requests: AssignRequest[] = [
        ...(conf.ipam.assignIpv4 ? [{ node, handleId, family: 4 as const, attributes, pools: conf.ipam.ipv4Pools }] : []),
        ...(conf.ipam.assignIpv6 ? [{ node, handleId, family: 6 as const, attributes, pools: conf.ipam.ipv6Pools }] : []),
      ];
      return (await ipam.autoAssignAll(requests)).flat();
    } catch (error) {
      await ipam.releaseByHandle(handleId).catch(() => undefined);
      if (error instanceof IpamExhaustedError || error instanceof IpamConflictError) throw new CniError(CNI_ERROR.tryAgainLater, error.message);
      throw error;
    }
  }

  async assignedTo(inv: CniInvocation, conf: CalicoNetConf): Promise<string[]> {
    return this.ipam(conf).addressesOf(podHandle(conf.name, inv.containerId ?? ''));
  }

  async release(inv: CniInvocation, conf: CalicoNetConf): Promise<string[]> {
    return this.ipam(conf).releaseByHandle(podHandle(conf.name, inv.containerId ?? ''));
  }

  /** CNI 1.1 GC: releases this node's pod handles of this network that are not valid attachments. */
  async gc(conf: CalicoNetConf): Promise<string[]> {
    const node = await resolveNodename(conf);
    const valid = new Set((conf.validAttachments ?? []).map((a) => podHandle(conf.name, a.containerID)));
    const ipam = this.ipam(conf);
    const stale = new Set<string>();
    for (const block of await ipam.blocks()) {
      for (const a of blockAllocations(block)) {
        if (a.attributes.node === node && a.handleId?.startsWith(`${conf.name}.`) && !valid.has(a.handleId)) stale.add(a.handleId);
      }
    }
    const released: string[] = [];
    for (const handleId of stale) released.push(...await ipam.releaseByHandle(handleId));
    return released;
  }

  /** ADD can be served: node name known and at least one pool exists. */
  async status(conf: CalicoNetConf): Promise<void> {
    await resolveNodename(conf).catch((error: Error) => {
      throw new CniError(CNI_ERROR.notAvailable, error.message);
    });
    const pools = await this.store.list(CALICO_KEYS.pools).catch((error: Error) => {
      throw new CniError(CNI_ERROR.notAvailable, `datastore ${this.store.kind} is not reachable: ${error.message}`);
    });
    if (!pools.items.length) throw new CniError(CNI_ERROR.notAvailable, 'no IP pool exists in the datastore: the agent creates the default pool when it starts');
  }

  /** The IPAM plugin's own ADD result: ips only, /32 and /128 (as calico-ipam). */
  async add(inv: CniInvocation, conf: CalicoNetConf): Promise<CniResult> {
    const addresses = await this.assign(inv, conf);
    return resultForVersion({
      cniVersion: conf.cniVersion,
      ips: addresses.map((a) => ({ address: `${a}/${a.includes(':') ? 128 : 32}` })),
      routes: [],
      dns: {},
    }, conf.cniVersion);
  }
}
