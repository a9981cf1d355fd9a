import { createHash } from 'node:crypto';
import { KernelOp, RTPROT } from '../kernel';

/**
 * A Calico-style workload endpoint: a veth whose host end `cali<11 hex>` has no address and
 * answers ARP for everything by proxy, a pod end with /32 (/128) addresses whose only neighbour
 * is the fake gateway 169.254.1.1, and a host /32 route per pod address. No bridge.
 * These functions compute the kernel changes; the CNI plugin applies them.
 */
export const HOST_VETH_MAC = 'ee:ee:ee:ee:ee:ee';
export const POD_GATEWAY_V4 = '169.254.1.1';
/** The link-local address of the host veth (EUI-64 of ee:ee:ee:ee:ee:ee): the pod's IPv6 gateway. */
export const POD_GATEWAY_V6 = 'fe80::ecee:eeff:feee:eeee';
export const WORKLOAD_VETH_PREFIX = 'cali';

/** `cali` + the first 11 hex digits of sha1(`<namespace>.<pod>`), as Calico names it. */
export function workloadVethName(namespace: string, pod: string): string {
  return WORKLOAD_VETH_PREFIX + createHash('sha1').update(`${namespace}.${pod}`).digest('hex').slice(0, 11);
}

/** `<node>-k8s-<pod>-<iface>` with dashes inside each part doubled (Calico's WorkloadEndpoint name). */
export function workloadEndpointName(node: string, pod: string, iface: string): string {
  return [node, 'k8s', pod, iface].map((part, i) => (i === 1 ? part : part.replace(/-/g, '--'))).join('-');
}

/** The WorkloadEndpoint spec stored in the datastore (projectcalico.org/v3 shape). */
export interface WorkloadEndpointSpec {
  readonly orchestrator: 'k8s';
  readonly node: string;
  readonly workload: string;
  readonly pod: string;
  readonly endpoint: string;
  readonly containerID: string;
  readonly interfaceName: string;
  readonly mac: string;
  readonly ipNetworks: readonly string[];
  readonly profiles: readonly string[];
}

export interface WorkloadEndpointRecord {
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: WorkloadEndpointSpec;
}

export interface Workload {
  readonly node: string;
  readonly namespace: string;
  readonly pod: string;
  readonly containerId: string;
  /** The pod-side interface (CNI_IFNAME). */
  readonly ifname: string;
  readonly netns: string;
  readonly mtu: number;
  /** Pod addresses without prefix length. */
  readonly addresses: readonly string[];
  readonly podMac: string;
}

export function workloadEndpointRecord(w: Workload): WorkloadEndpointRecord {
  return {
    metadata: {
      name: workloadEndpointName(w.node, w.pod, w.ifname),
      namespace: w.namespace,
      labels: { 'projectcalico.org/namespace': w.namespace, 'projectcalico.org/orchestrator': 'k8s' },
    },
    spec: {
      orchestrator: 'k8s',
      node: w.node,
      workload: '',
      pod: w.pod,
      endpoint: w.ifname,
      containerID: w.containerId,
      interfaceName: workloadVethName(w.namespace, w.pod),
      mac: w.podMac,
      ipNetworks: w.addresses.map(hostCidr),
      profiles: [`kns.${w.namespace}`],
    },
  };
}

export function hostCidr(address: string): string {
  return `${address}/${address.includes(':') ? 128 : 32}`;
}

/** Host side: the veth (pod end moved into the pod), up, with the fixed MAC, and a /32 route per address. */
export function hostWorkloadOps(w: Workload): KernelOp[] {
  const veth = workloadVethName(w.namespace, w.pod);
  return [
    {
      op: 'link.add',
      // The alias names the sandbox the veth belongs to: a late DEL of an earlier sandbox of the same pod leaves it alone.
      link: { kind: 'veth', name: veth, mac: HOST_VETH_MAC, mtu: w.mtu, up: true, ...(w.containerId ? { alias: w.containerId } : {}), peer: { name: w.ifname, netns: w.netns, mac: w.podMac, mtu: w.mtu } },
    },
    ...w.addresses.map((address) => ({
      op: 'route.replace', route: { dst: hostCidr(address), dev: veth, scope: 'link', protocol: RTPROT.boot },
    } as const)),
  ];
}

/** Proxy ARP / NDP and forwarding on the host end (Felix's per-interface settings). */
export function hostWorkloadSysctls(w: Workload): Record<string, string> {
  const veth = workloadVethName(w.namespace, w.pod);
  const v4 = w.addresses.some((a) => !a.includes(':'));
  const v6 = w.addresses.some((a) => a.includes(':'));
  return {
    ...(v4 ? {
      [`net.ipv4.conf.${veth}.proxy_arp`]: '1',
      [`net.ipv4.neigh.${veth}.proxy_delay`]: '0',
      [`net.ipv4.conf.${veth}.route_localnet`]: '1',
      [`net.ipv4.conf.${veth}.forwarding`]: '1',
    } : {}),
    ...(v6 ? {
      [`net.ipv6.conf.${veth}.proxy_ndp`]: '1',
      [`net.ipv6.conf.${veth}.accept_ra`]: '0',
      [`net.ipv6.conf.${veth}.forwarding`]: '1',
    } : {}),
  };
}

/** Pod side: /32 (/128) addresses, the link-scope route to the fake gateway and the default route through it. */
export function podWorkloadOps(w: Workload): KernelOp[] {
  const v4 = w.addresses.some((a) => !a.includes(':'));
  const v6 = w.addresses.some((a) => a.includes(':'));
  return [
    ...w.addresses.map((address) => ({ op: 'addr.replace', address: { dev: w.ifname, cidr: hostCidr(address), nodad: address.includes(':') } } as const)),
    { op: 'link.set', change: { name: w.ifname, up: true } },
    { op: 'link.set', change: { name: 'lo', up: true } },
    ...(v4 ? [
      { op: 'route.replace', route: { dst: `${POD_GATEWAY_V4}/32`, dev: w.ifname, scope: 'link', protocol: RTPROT.boot } } as const,
      { op: 'route.replace', route: { dst: '0.0.0.0/0', via: POD_GATEWAY_V4, dev: w.ifname, protocol: RTPROT.boot } } as const,
    ] : []),
    ...(v6 ? [
      { op: 'route.replace', route: { dst: '::/0', via: POD_GATEWAY_V6, dev: w.ifname, protocol: RTPROT.boot } } as const,
    ] : []),
  ];
}
