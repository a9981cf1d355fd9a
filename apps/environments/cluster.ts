import { isIPv6 } from 'node:net';
import { ClusterNetwork, LabRouter } from '../../lib/lab/cluster/cluster-lab';
import { LabTopologyKind } from '../../lib/lab/topology';
import { CALICO_NETWORK_SPEC_KEYS, resolveCalicoNetwork } from '../../lib/model/calico/network';
import { EncapsulationMode } from '../../lib/model/calico/pool';
import { FLANNEL_NETWORK_SPEC_KEYS, FlannelNetworkSpec, resolveFlannelNetwork } from '../../lib/model/flannel/network';
import { Environment } from './environment';

/** How the cluster lab runs an environment: its address plan and the underlay it needs. */
export interface ClusterPlan {
  readonly network: ClusterNetwork;
  readonly dualStack: boolean;
  /** Pods reach the outside masqueraded to their node's address. */
  readonly natOutgoing: boolean;
  /** The underlay that shows the environment's routing: two subnets for VXLAN CrossSubnet. */
  readonly topology: LabTopologyKind;
  /** Per node (index order): the first node carries the route-reflector labels when the environment elects reflectors. */
  readonly nodeLabels: readonly (Readonly<Record<string, string>> | undefined)[];
  /** BIRD 2 routers standing in for the BGPPeers with a `peerIP` (rack routers), peering as the peers' node selectors say; an IPv6 BGPPeer is the IPv6 side of the router of its AS. */
  readonly routers: readonly LabRouter[];
  /**
   * The families whose pools use VXLAN, and how: the report checks which routes tunnel and moves
   * FelixConfiguration's vxlanPort and watches the devices follow.
   */
  readonly vxlan: readonly { readonly family: 4 | 6; readonly crossSubnet: boolean }[];
  /** FelixConfiguration routeRefreshInterval: how long a change may take to reach the kernel. */
  readonly routeRefreshSeconds: number;
  /** Typha runs: the report counts the agents' own apiserver watches (none expected). */
  readonly typha: boolean;
  /** Pods are routed by BGP: the report checks sessions and the routers' tables. */
  readonly bgp: boolean;
  /** Secrets the environment expects to exist (BGP passwords), created before the manifests are applied. */
  readonly secrets: readonly { readonly namespace: string; readonly name: string; readonly data: Readonly<Record<string, string>> }[];
}

/**
 * What a cluster running `environment` must be configured with, read from the resolved model (the
 * same values the manifests carry): service networks for the apiserver and kube-proxy, pod networks,
 * and for Flannel-style stacks the per-node podCIDR size the controller-manager hands out.
 */
export function clusterPlan(environment: Environment, nodes = 3): ClusterPlan {
  const stack = environment.stack;
  if (stack.kind === 'flannel') {
    const network = resolveFlannelNetwork(networkSpec(stack.props, FLANNEL_NETWORK_SPEC_KEYS) as FlannelNetworkSpec, `${environment.name}.flannel`);
    const families = [network.ipv4, network.ipv6].filter((f) => f !== undefined);
    return {
      network: {
        serviceCidrs: [network.serviceNetwork, ...(network.serviceNetworkV6 ? [network.serviceNetworkV6] : [])],
        podCidrs: families.map((f) => f.network),
        nodeCidrMask: { v4: network.ipv4?.subnetLength ?? 24, ...(network.ipv6 ? { v6: network.ipv6.subnetLength } : {}) },
      },
      dualStack: families.length > 1,
      natOutgoing: network.masquerade,
      topology: 'flat',
      nodeLabels: [],
      vxlan: [],
      routeRefreshSeconds: 0,
      typha: false,
      bgp: false,
      routers: [],
      secrets: [],
    };
  }
  const network = resolveCalicoNetwork(networkSpec(stack.props, CALICO_NETWORK_SPEC_KEYS));
  const pools = network.pools.filter((p) => !p.disabled);
  const reflector = network.bgp.routeReflector ? labelsMatching(network.bgp.routeReflector.selector.toString()) : undefined;
  const nodeLabels = Array.from({ length: nodes }, (_, i) => (i === 0 ? reflector : undefined));
  const secrets = new Map<string, Record<string, string>>();
  // One lab password per Secret key: two BGPPeers naming the same key (a router's IPv4 and IPv6 peers) share it.
  const passwordOf = (peer: (typeof network.bgp.peers)[number]) => {
    if (!peer.password) return undefined;
    const password = `cnikit-lab-${peer.password.key}`;
    secrets.set(peer.password.secretName, { ...secrets.get(peer.password.secretName), [peer.password.key]: password });
    return password;
  };
  const neighboursOf = (peer: (typeof network.bgp.peers)[number], ipv6: boolean) => {
    const password = passwordOf(peer);
    return nodeLabels.map((labels, node) => ({ node, labels: labels ?? {} }))
      .filter(({ node, labels }) => (peer.node ? peer.node === `n${node + 1}` : peer.nodeSelector ? peer.nodeSelector.matches(labels) : true))
      .map(({ node }) => ({ node, asn: network.bgp.asNumber, ...(ipv6 ? { ipv6: true } : {}), ...(password ? { password } : {}) }));
  };
  const external = network.bgp.peers.filter((p) => p.peerIp !== undefined);
  const routers: LabRouter[] = external.filter((p) => !p.peerIp!.includes('[') && !isIPv6(p.peerIp!)).map((peer) => ({
    name: peer.name, address: peer.peerIp!.split(':')[0], asn: peer.asNumber ?? network.bgp.asNumber, neighbours: neighboursOf(peer, false),
  }));
  // An IPv6 BGPPeer is the IPv6 side of the router of its AS (one BIRD with both addresses, as a rack router has).
  for (const peer of external.filter((p) => p.peerIp!.includes('[') || isIPv6(p.peerIp!))) {
    const address6 = peer.peerIp!.replace(/^\[(.*)\]:\d+$/, '$1');
    const asn = peer.asNumber ?? network.bgp.asNumber;
    const at = routers.findIndex((r) => r.asn === asn && r.address6 === undefined);
    if (at < 0) throw new Error(`cluster lab: IPv6 BGPPeer ${peer.name} (${peer.peerIp}) has no IPv4 BGPPeer of AS ${asn} to stand beside; the lab's routers take their router id from the IPv4 one`);
    routers[at] = { ...routers[at], address6, neighbours: [...routers[at].neighbours, ...neighboursOf(peer, true)] };
  }
  return {
    network: {
      serviceCidrs: network.serviceNetworks.map((c) => c.toString()),
      podCidrs: [4, 6].flatMap((family) => pools.filter((p) => p.cidr.family === family).slice(0, 1).map((p) => p.cidr.toString())),
      ...autodetectionNetwork(network.ipAutodetection),
    },
    dualStack: network.families.length > 1,
    natOutgoing: pools.some((p) => p.cidr.family === 4 && p.natOutgoing),
    topology: pools.some((p) => p.vxlanMode === EncapsulationMode.CROSS_SUBNET || p.ipipMode === EncapsulationMode.CROSS_SUBNET) ? 'two-subnets' : 'flat',
    nodeLabels,
    vxlan: ([4, 6] as const).flatMap((family) => pools.filter((p) => p.cidr.family === family && p.vxlanMode !== EncapsulationMode.NEVER).slice(0, 1)
      .map((p) => ({ family, crossSubnet: p.vxlanMode === EncapsulationMode.CROSS_SUBNET }))),
    routeRefreshSeconds: network.felix.routeRefreshIntervalSeconds,
    typha: network.typha.enabled,
    bgp: network.bgp.enabled && pools.some((p) => p.vxlanMode === EncapsulationMode.NEVER),
    routers,
    secrets: [...secrets].map(([name, data]) => ({ namespace: 'kube-system', name, data })),
  };
}

/** Labels that satisfy a reflector selector of the form `key == 'value'` (the form the environments use). */
function labelsMatching(selector: string): Record<string, string> {
  const m = /^\s*([\w./-]+)\s*==\s*(['"])(.*)\2\s*$/.exec(selector);
  if (!m) throw new Error(`cluster lab: cannot label a route reflector for selector ${JSON.stringify(selector)}; expected key == 'value'`);
  return { [m[1]]: m[3] };
}

/**
 * Calico's `cidr=<a>,<b>` autodetection: nodes must have an address in one of them, so the lab's
 * nodes go into the first IPv4 one that can hold its segments (a /16 or larger).
 */
function autodetectionNetwork(method: string): { nodeNetwork?: string } {
  if (!method.startsWith('cidr=')) return {};
  const fits = method.slice('cidr='.length).split(',').find((c) => !c.includes(':') && Number(c.split('/')[1]) <= 16);
  return fits ? { nodeNetwork: fits } : {};
}

/**
 * The network model's part of a stack's props: the construct's deployment props (networkPolicy,
 * cniServer, images…) say how the stack is deployed, not what the cluster's networks are.
 */
function networkSpec<T extends object>(props: T, keys: readonly string[]): Partial<T> {
  return Object.fromEntries(Object.entries(props).filter(([key]) => keys.includes(key))) as Partial<T>;
}
