import { Node } from './types';

/**
 * Calico's Node in Kubernetes-datastore mode lives on the Kubernetes Node: its BGP and tunnel facts
 * are `projectcalico.org/*` annotations (written by each node's agent through `nodes/status`), its
 * labels are the Node's labels (libcalico-go's KDD node conversion).
 */
export const CALICO_NODE_ANNOTATIONS = {
  ipv4Address: 'projectcalico.org/IPv4Address',
  ipv6Address: 'projectcalico.org/IPv6Address',
  asNumber: 'projectcalico.org/ASNumber',
  routeReflectorClusterId: 'projectcalico.org/RouteReflectorClusterID',
  vxlanTunnelAddress: 'projectcalico.org/IPv4VXLANTunnelAddr',
  vxlanTunnelMac: 'projectcalico.org/VXLANTunnelMACAddr',
  vxlanTunnelAddressV6: 'projectcalico.org/IPv6VXLANTunnelAddr',
  vxlanTunnelMacV6: 'projectcalico.org/VXLANTunnelMACAddrV6',
} as const;

/** The stored value of `nodes/<name>`: Calico's Node spec, plus the Node's labels (BGP selectors match them). */
export interface CalicoNodeValue {
  readonly bgp?: {
    readonly ipv4Address?: string;
    readonly ipv6Address?: string;
    readonly asNumber?: number;
    readonly routeReflectorClusterID?: string;
  };
  readonly ipv4VXLANTunnelAddr?: string;
  readonly vxlanTunnelMACAddr?: string;
  /** The IPv6 VTEP (vxlan-v6.calico), when an IPv6 pool uses VXLAN. */
  readonly ipv6VXLANTunnelAddr?: string;
  readonly vxlanTunnelMACAddrV6?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export function calicoNodeFromKube(node: Node): CalicoNodeValue {
  const a = node.metadata.annotations ?? {};
  const as = Number(a[CALICO_NODE_ANNOTATIONS.asNumber]);
  const bgp = {
    ...(a[CALICO_NODE_ANNOTATIONS.ipv4Address] ? { ipv4Address: a[CALICO_NODE_ANNOTATIONS.ipv4Address] } : {}),
    ...(a[CALICO_NODE_ANNOTATIONS.ipv6Address] ? { ipv6Address: a[CALICO_NODE_ANNOTATIONS.ipv6Address] } : {}),
    ...(Number.isInteger(as) && as > 0 && as < 2 ** 32 ? { asNumber: as } : {}),
    ...(a[CALICO_NODE_ANNOTATIONS.routeReflectorClusterId] ? { routeReflectorClusterID: a[CALICO_NODE_ANNOTATIONS.routeReflectorClusterId] } : {}),
  };
  const labels = node.metadata.labels ?? {};
  return {
    ...(Object.keys(bgp).length ? { bgp } : {}),
    ...(a[CALICO_NODE_ANNOTATIONS.vxlanTunnelAddress] ? { ipv4VXLANTunnelAddr: a[CALICO_NODE_ANNOTATIONS.vxlanTunnelAddress] } : {}),
    ...(a[CALICO_NODE_ANNOTATIONS.vxlanTunnelMac] ? { vxlanTunnelMACAddr: a[CALICO_NODE_ANNOTATIONS.vxlanTunnelMac] } : {}),
    ...(a[CALICO_NODE_ANNOTATIONS.vxlanTunnelAddressV6] ? { ipv6VXLANTunnelAddr: a[CALICO_NODE_ANNOTATIONS.vxlanTunnelAddressV6] } : {}),
    ...(a[CALICO_NODE_ANNOTATIONS.vxlanTunnelMacV6] ? { vxlanTunnelMACAddrV6: a[CALICO_NODE_ANNOTATIONS.vxlanTunnelMacV6] } : {}),
    ...(Object.keys(labels).length ? { labels } : {}),
  };
}
