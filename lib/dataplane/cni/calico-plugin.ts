import { KeyValueStore } from '../datastore/types';
import { CALICO_KEYS } from '../ipam/calico-store';
import { Kernel, KernelApplyError, Ownership, RTPROT, randomMac } from '../kernel';
import {
  HOST_VETH_MAC, POD_GATEWAY_V4, POD_GATEWAY_V6, WORKLOAD_VETH_PREFIX, Workload, WorkloadEndpointRecord, hostWorkloadOps,
  hostWorkloadSysctls, podWorkloadOps, workloadEndpointRecord, workloadVethName,
} from '../calico/workload-endpoint';
import { CalicoNetConf, resolveMtu, resolveNodename } from './calico-config';
import { CalicoIpamPlugin } from './calico-ipam-plugin';
import { InvocationDeadline } from './deadline';
import { CniError, CNI_ERROR } from './errors';
import { mergeResults, resultForVersion, versionAtLeast } from './result';
import { CniInvocation, CniResult } from './types';

/** How the Calico-mode plugin reaches the kernel: the node's namespace and a pod's (CNI_NETNS). */
export interface CalicoPluginKernels {
  host(ownership: Ownership): Kernel;
  container(netns: string, ifname: string): Kernel;
}

/** The host side owns `cali*` links, their sysctls, and the boot-protocol /32 routes it adds through them. */
export const CALICO_HOST_OWNERSHIP: Ownership = {
  linkPrefixes: [WORKLOAD_VETH_PREFIX],
  routeProtocol: RTPROT.boot,
  sysctlPrefixes: ['net.ipv4.conf.cali', 'net.ipv4.neigh.cali', 'net.ipv6.conf.cali', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'],
};

/** Pod name and namespace from CNI_ARGS; without them (not Kubernetes) the container ID stands in. */
function podIdentity(inv: CniInvocation): { namespace: string; pod: string } {
  return {
    namespace: inv.args.K8S_POD_NAMESPACE || 'default',
    pod: inv.args.K8S_POD_NAME || inv.containerId || '',
  };
}

function wepKey(record: WorkloadEndpointRecord): string {
  return `${CALICO_KEYS.workloadEndpoints}${record.metadata.namespace}/${record.metadata.name}`;
}

/**
 * The kit's CNI plugin in Calico mode (`type: cnikit-calico`): block IPAM, a `cali*` veth with
 * proxy ARP, /32 routes, and a WorkloadEndpoint record. Any failure after IPAM releases the
 * addresses and removes the veth; ADD repeated for a container completes it (same addresses, the
 * interface replaced); DEL is idempotent.
 */
export class CalicoCniPlugin {
  private readonly ipam: CalicoIpamPlugin;

  /** `deadline`: the invocation's datastore deadline (deadline.ts), which also bounds the wait for the IPAM host lock. */
  constructor(private readonly kernels: CalicoPluginKernels, private readonly store: KeyValueStore, deadline?: InvocationDeadline) {
    this.ipam = new CalicoIpamPlugin(store, deadline);
  }

  async add(inv: CniInvocation, conf: CalicoNetConf): Promise<CniResult> {
    const [node, mtu] = await Promise.all([resolveNodename(conf), resolveMtu(conf)]);
    const { namespace, pod } = podIdentity(inv);
    const containerId = inv.containerId ?? '';
    const ifname = inv.ifname ?? '';
    const netns = inv.netns ?? '';
    const host = this.kernels.host(CALICO_HOST_OWNERSHIP);
    const veth = workloadVethName(namespace, pod);
    // A veth of this pod's name is left by an earlier sandbox (its DEL has not come yet) or by a half-done
    // ADD of this one (a server killed mid-ADD, a retry after error 11): either way it is replaced, and the
    // IPAM handle's addresses are reused, so a retried ADD completes instead of failing on "File exists".
    if (await host.link(veth)) await host.apply([{ op: 'link.del', name: veth }]);
    const addresses = await this.ipam.assign(inv, conf);
    const workload: Workload = { node, namespace, pod, containerId, ifname, netns, mtu, addresses, podMac: randomMac() };
    try {
      await host.apply(hostWorkloadOps(workload));
      await Promise.all([
        host.setSysctls(hostWorkloadSysctls(workload)),
        this.kernels.container(netns, ifname).apply(podWorkloadOps(workload)),
        ensureForwarding(host, addresses),
      ]);
      if (conf.workloadEndpoints) {
        const record = workloadEndpointRecord(workload);
        await this.store.put(wepKey(record), JSON.stringify(record));
      }
    } catch (error) {
      await this.cleanup(inv, conf).catch(() => undefined);
      if (error instanceof KernelApplyError && error.failures.some((f) => f.op.op === 'link.add' && /File exists/.test(f.message))) {
        throw new CniError(CNI_ERROR.internal, `interface ${ifname} already exists in ${netns} (or host veth ${veth} exists)`, error.message);
      }
      throw error;
    }
    const v4 = addresses.some((a) => !a.includes(':'));
    const v6 = addresses.some((a) => a.includes(':'));
    const ours: CniResult = {
      cniVersion: conf.cniVersion,
      interfaces: [{ name: veth, mac: HOST_VETH_MAC }, { name: ifname, mac: workload.podMac, mtu, sandbox: netns }],
      ips: addresses.map((a) => ({ address: `${a}/${a.includes(':') ? 128 : 32}`, interface: 1 })),
      routes: [...(v4 ? [{ dst: '0.0.0.0/0', gw: POD_GATEWAY_V4 }] : []), ...(v6 ? [{ dst: '::/0', gw: POD_GATEWAY_V6 }] : [])],
      dns: {},
    };
    return resultForVersion(mergeResults(conf.prevResult, ours), conf.cniVersion);
  }

  /** Releases by handle, removes the record (only this container's) and the host veth; missing state is fine. */
  async del(inv: CniInvocation, conf: CalicoNetConf): Promise<void> {
    await this.cleanup(inv, conf);
  }

  private async cleanup(inv: CniInvocation, conf: CalicoNetConf): Promise<void> {
    const { namespace, pod } = podIdentity(inv);
    await Promise.all([
      this.ipam.release(inv, conf),
      this.deleteVeth(workloadVethName(namespace, pod), inv.containerId ?? ''),
      conf.workloadEndpoints ? this.deleteRecord(inv, conf, namespace, pod) : Promise.resolve(),
    ]);
  }

  /**
   * Removes the host veth unless a newer sandbox of the same pod owns it now (its alias names
   * another container): kubelet may tear an old sandbox down after the new one is set up, and the
   * veth name depends only on the pod (Calico guards the same way with the endpoint's containerID).
   */
  private async deleteVeth(veth: string, containerId: string): Promise<void> {
    const host = this.kernels.host(CALICO_HOST_OWNERSHIP);
    const link = await host.link(veth);
    if (!link || (link.alias !== undefined && link.alias !== containerId)) return;
    await host.apply([{ op: 'link.del', name: veth }]);
  }

  private async deleteRecord(inv: CniInvocation, conf: CalicoNetConf, namespace: string, pod: string): Promise<void> {
    const node = await resolveNodename(conf);
    const record = workloadEndpointRecord({ node, namespace, pod, containerId: '', ifname: inv.ifname ?? '', netns: '', mtu: 0, addresses: [], podMac: '' });
    const key = wepKey(record);
    const kv = await this.store.get(key);
    // A newer sandbox of the same pod owns the record now: leave it alone (Calico checks the containerID too).
    if (kv && (JSON.parse(kv.value) as WorkloadEndpointRecord).spec.containerID === inv.containerId) await this.store.delete(key, kv.revision).catch(() => undefined);
  }

  async check(inv: CniInvocation, conf: CalicoNetConf): Promise<void> {
    if (!versionAtLeast(conf.cniVersion, '0.4.0')) {
      throw new CniError(CNI_ERROR.incompatibleVersion, `cniVersion ${conf.cniVersion} does not allow CHECK (needs 0.4.0 or later)`);
    }
    const { namespace, pod } = podIdentity(inv);
    const addresses = await this.ipam.assignedTo(inv, conf);
    if (!addresses.length) throw new CniError(CNI_ERROR.unknownContainer, `container ${inv.containerId} is unknown to network ${conf.name}: its IPAM handle holds no address`);
    const veth = workloadVethName(namespace, pod);
    const ifname = inv.ifname ?? '';
    const [hostLink, podLink] = await Promise.all([
      this.kernels.host(CALICO_HOST_OWNERSHIP).link(veth),
      this.kernels.container(inv.netns ?? '', ifname).link(ifname).catch(() => undefined),
    ]);
    const problems: string[] = [];
    if (!hostLink) problems.push(`host veth ${veth} is missing`);
    if (!podLink) problems.push(`interface ${ifname} is missing in ${inv.netns}`);
    for (const a of addresses) {
      const cidr = `${a}/${a.includes(':') ? 128 : 32}`;
      if (podLink && !podLink.addresses.some((x) => x.cidr === cidr)) problems.push(`address ${cidr} is missing on ${ifname}`);
    }
    if (problems.length) throw new CniError(CNI_ERROR.internal, `CHECK failed for ${inv.containerId}: ${problems.join('; ')}`);
  }

  status(conf: CalicoNetConf): Promise<void> {
    return this.ipam.status(conf);
  }

  /** Releases stale handles of this node; their veths went with their pods' namespaces. */
  async gc(conf: CalicoNetConf): Promise<void> {
    await this.ipam.gc(conf);
  }
}

async function ensureForwarding(host: Kernel, addresses: readonly string[]): Promise<void> {
  const wanted: Record<string, string> = {};
  const keys = [...new Set(addresses.map((a) => (a.includes(':') ? 'net.ipv6.conf.all.forwarding' : 'net.ipv4.ip_forward')))];
  for (const key of keys) if ((await host.sysctl(key)) !== '1') wanted[key] = '1';
  await host.setSysctls(wanted);
}
