import { Cidr, IpFamily } from '../cidr';
import { checkKnownKeys } from '../checks';
import { ValidationError } from '../errors';
import { IpAutodetection } from './autodetection';
import { BgpPeerSpec, DEFAULT_AS_NUMBER, NextHopMode, ResolvedBgpPeer, checkAsNumber, resolvePeer } from './bgp';
import { Encapsulation, Mtu } from './mtu';
import { EncapsulationMode, IpPoolSpec, ResolvedIpPool, resolvePools, toSelector } from './pool';
import { Selector } from './selector';
import { TYPHA_DEFAULT_NODE_THRESHOLD, TyphaMode, typhaEnabled, typhaReplicasFor } from './typha';

/** Log levels shared by the agent's BGP speaker and policy engine. */
export enum LogSeverity {
  DEBUG = 'Debug',
  INFO = 'Info',
  WARNING = 'Warning',
  ERROR = 'Error',
  FATAL = 'Fatal',
}

/** What happens to traffic from a pod to its own host (`defaultEndpointToHostAction`). */
export enum EndpointToHostAction {
  /** Drop it (Felix's default). */
  DROP = 'Drop',
  /** Accept it (the upstream manifest's choice: kubelet probes and node-local DNS keep working). */
  ACCEPT = 'Accept',
  /** Hand it to the host's own INPUT rules. */
  RETURN = 'Return',
}

/**
 * Everything a user configures about a Calico-style network. Every optional field documents
 * its default; `resolveCalicoNetwork` applies them and validates the whole.
 */
export interface CalicoNetworkSpec {
  /**
   * The IP pools pods take addresses from.
   * @default - one pool `default-ipv4-ippool`, 192.168.0.0/16, IPIP Always, NAT outgoing (upstream's default)
   */
  readonly pools?: readonly IpPoolSpec[];
  /** The cluster's Service network; pools may not overlap it. @default "10.96.0.0/12" */
  readonly serviceNetwork?: string;
  /** The IPv6 Service network of a dual-stack cluster. @default - none */
  readonly serviceNetworkV6?: string;
  /** Expected number of nodes; drives Typha. @default 3 */
  readonly nodeCount?: number;

  /** @default TyphaMode.AUTO */
  readonly typha?: TyphaMode;
  /** Typha runs in Auto mode when nodeCount exceeds this. @default 50 */
  readonly typhaNodeThreshold?: number;
  /** @default - typhaReplicasFor(nodeCount): 1 (≤2 nodes), 2 (≤4), else floor(nodes/200)+2, min 3, max 20 */
  readonly typhaReplicas?: number;

  /**
   * Run the BGP speaker (`calico_backend: bird`); false means VXLAN-only networking.
   * @default - false when every enabled pool uses VXLAN, true otherwise
   */
  readonly bgpEnabled?: boolean;
  /** The cluster's AS. @default 64512 */
  readonly bgpAsNumber?: number;
  /** Full node-to-node mesh. @default - true, false when route reflectors are configured */
  readonly bgpNodeMesh?: boolean;
  /** TCP port the speaker listens on. @default 179 */
  readonly bgpListenPort?: number;
  /** @default LogSeverity.INFO */
  readonly bgpLogSeverity?: LogSeverity;
  /** Service cluster-IP ranges every node advertises (ECMP at the routers). @default - none */
  readonly bgpServiceClusterIps?: readonly string[];
  /** Service external-IP ranges advertised. @default - none */
  readonly bgpServiceExternalIps?: readonly string[];
  /** LoadBalancer IP ranges advertised. @default - none */
  readonly bgpServiceLoadBalancerIps?: readonly string[];
  /** Global and per-node BGP peers. @default - none */
  readonly bgpPeers?: readonly BgpPeerSpec[];
  /**
   * Nodes matching this selector become route reflectors: every node peers with them and
   * they reflect routes within cluster `bgpRouteReflectorClusterId`.
   * @default - no route reflectors
   */
  readonly bgpRouteReflectorSelector?: Selector | string;
  /** Route-reflector cluster ID (a dotted quad). @default "244.0.0.1" */
  readonly bgpRouteReflectorClusterId?: string;

  /** How nodes find their own IPv4 address. @default IpAutodetection.firstFound() */
  readonly ipAutodetection?: IpAutodetection;
  /** How nodes find their own IPv6 address (IPv6 pools only). @default IpAutodetection.firstFound() */
  readonly ipv6Autodetection?: IpAutodetection;
  /** Pod MTU. @default Mtu.auto() */
  readonly mtu?: Mtu;

  /** @default EndpointToHostAction.ACCEPT */
  readonly felixDefaultEndpointToHostAction?: EndpointToHostAction;
  /** @default LogSeverity.INFO */
  readonly felixLogSeverity?: LogSeverity;
  /** Health endpoint port on the node (localhost). @default 9099 */
  readonly felixHealthPort?: number;
  /** Serve Prometheus metrics. @default false */
  readonly felixPrometheusMetricsEnabled?: boolean;
  /** @default 9091 */
  readonly felixPrometheusMetricsPort?: number;
  /** UDP port of VXLAN tunnels. @default 4789 */
  readonly felixVxlanPort?: number;
  /** VXLAN network identifier. @default 4096 */
  readonly felixVxlanVni?: number;
  /** Periodic route resync, repairing drift (at least 1: the agent's liveness counts refresh periods). @default 90 */
  readonly felixRouteRefreshIntervalSeconds?: number;
  /** Periodic policy (nftables) resync; 0 = none. @default 180 */
  readonly felixPolicyRefreshIntervalSeconds?: number;

  /** Pods may only get addresses from blocks affine to their node (no borrowing). @default false */
  readonly ipamStrictAffinity?: boolean;
  /** Blocks one node may claim; 0 = the built-in safeguard of 20. Requires strict affinity. @default 0 */
  readonly ipamMaxBlocksPerHost?: number;
}

export interface ResolvedTypha {
  readonly enabled: boolean;
  readonly replicas: number;
}

export interface ResolvedBgp {
  readonly enabled: boolean;
  readonly asNumber: number;
  readonly nodeMesh: boolean;
  readonly listenPort: number;
  readonly logSeverity: LogSeverity;
  readonly serviceClusterIps: readonly Cidr[];
  readonly serviceExternalIps: readonly Cidr[];
  readonly serviceLoadBalancerIps: readonly Cidr[];
  readonly peers: readonly ResolvedBgpPeer[];
  readonly routeReflector?: { readonly selector: Selector; readonly clusterId: string };
}

/**
 * Felix's settings as the model resolves them. Each one is obeyed by a process of the kit, read with
 * lib/dataplane/calico/felix-config.ts (test/model/calico/felix-contract.test.ts proves it on the
 * rendered output; docs/calico-parity.md says which process obeys which).
 */
export interface ResolvedFelix {
  /** FelixConfiguration `defaultEndpointToHostAction`: the policy agent. */
  readonly defaultEndpointToHostAction: EndpointToHostAction;
  /** FelixConfiguration `logSeverityScreen`: the node agent and the policy agent. */
  readonly logSeverity: LogSeverity;
  /** `FELIX_HEALTHPORT` (env: the probes need it before the datastore is read): the node agent. */
  readonly healthPort: number;
  /** FelixConfiguration `prometheusMetricsEnabled` / `prometheusMetricsPort`: the node agent. */
  readonly prometheusMetricsEnabled: boolean;
  readonly prometheusMetricsPort: number;
  /** FelixConfiguration `vxlanPort` / `vxlanVNI`: the node agent's vxlan.calico and vxlan-v6.calico (Felix has one of each for both). */
  readonly vxlanPort: number;
  readonly vxlanVni: number;
  /** FelixConfiguration `vxlanMTU`: link MTU − 50 when the link MTU is known and an IPv4 pool uses VXLAN; 0 = detected (uplink − 50). */
  readonly vxlanMtu: number;
  /** FelixConfiguration `vxlanMTUV6`: link MTU − 70 when the link MTU is known and an IPv6 pool uses VXLAN; 0 = detected (IPv6 uplink − 70). */
  readonly vxlanMtuV6: number;
  /** FelixConfiguration `routeRefreshInterval`: the node agent's resync. */
  readonly routeRefreshIntervalSeconds: number;
  /** FelixConfiguration `nftablesRefreshInterval`: the policy agent's resync. */
  readonly policyRefreshIntervalSeconds: number;
}

/** A Calico-style network with every default applied, every field validated and every derived value computed. */
export interface ResolvedCalicoNetwork {
  readonly pools: readonly ResolvedIpPool[];
  readonly serviceNetworks: readonly Cidr[];
  readonly nodeCount: number;
  readonly typha: ResolvedTypha;
  readonly bgp: ResolvedBgp;
  readonly felix: ResolvedFelix;
  readonly ipAutodetection: string;
  readonly ipv6Autodetection: string;
  /** The largest encapsulation in use, which sets the MTU overhead. */
  readonly encapsulation: Encapsulation;
  /** Pod MTU; 0 = detected on each node. */
  readonly podMtu: number;
  readonly networkingBackend: 'bird' | 'vxlan';
  readonly families: readonly IpFamily[];
  readonly ipam: { readonly strictAffinity: boolean; readonly maxBlocksPerHost: number };
}

export const DEFAULT_POOL: IpPoolSpec = {
  name: 'default-ipv4-ippool',
  cidr: '192.168.0.0/16',
  ipipMode: EncapsulationMode.ALWAYS,
  vxlanMode: EncapsulationMode.NEVER,
  natOutgoing: true,
};

const F = 'calico';

const SPEC_KEYS: Record<keyof CalicoNetworkSpec, true> = {
  pools: true, serviceNetwork: true, serviceNetworkV6: true, nodeCount: true, typha: true, typhaNodeThreshold: true, typhaReplicas: true,
  bgpEnabled: true, bgpAsNumber: true, bgpNodeMesh: true, bgpListenPort: true, bgpLogSeverity: true, bgpServiceClusterIps: true,
  bgpServiceExternalIps: true, bgpServiceLoadBalancerIps: true, bgpPeers: true, bgpRouteReflectorSelector: true,
  bgpRouteReflectorClusterId: true, ipAutodetection: true, ipv6Autodetection: true, mtu: true, felixDefaultEndpointToHostAction: true,
  felixLogSeverity: true, felixHealthPort: true, felixPrometheusMetricsEnabled: true, felixPrometheusMetricsPort: true,
  felixVxlanPort: true, felixVxlanVni: true, felixRouteRefreshIntervalSeconds: true, felixPolicyRefreshIntervalSeconds: true,
  ipamStrictAffinity: true, ipamMaxBlocksPerHost: true,
};

/** Every field of CalicoNetworkSpec (kept complete by the compiler). */
export const CALICO_NETWORK_SPEC_KEYS = Object.keys(SPEC_KEYS) as readonly (keyof CalicoNetworkSpec)[];

function checkInt(field: string, value: number, min: number, max: number, what = 'an integer'): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, value, `${what} from ${min} to ${max}`);
  }
  return value;
}

function checkEnum<T extends string>(field: string, value: T | undefined, values: Record<string, T>, fallback: T): T {
  if (value === undefined) return fallback;
  if (!Object.values(values).includes(value)) throw new ValidationError(field, value, `one of ${Object.values(values).join(', ')}`);
  return value;
}

function cidrs(field: string, list: readonly string[] | undefined): Cidr[] {
  return (list ?? []).map((c, i) => Cidr.parse(c, `${field}[${i}]`));
}

/** Applies every default, validates the whole network and computes the derived values. */
export function resolveCalicoNetwork(spec: CalicoNetworkSpec = {}): ResolvedCalicoNetwork {
  checkKnownKeys(F, spec, CALICO_NETWORK_SPEC_KEYS, 'the Calico-style network');
  const serviceNetworks = [Cidr.parse(spec.serviceNetwork ?? '10.96.0.0/12', `${F}.serviceNetwork`, 4)];
  if (spec.serviceNetworkV6 !== undefined) serviceNetworks.push(Cidr.parse(spec.serviceNetworkV6, `${F}.serviceNetworkV6`, 6));
  const pools = resolvePools(spec.pools ?? [DEFAULT_POOL], `${F}.pools`, serviceNetworks);
  const nodeCount = checkInt(`${F}.nodeCount`, spec.nodeCount ?? 3, 1, 100000, 'a whole number of nodes');

  const typhaMode = checkEnum(`${F}.typha`, spec.typha, TyphaMode, TyphaMode.AUTO);
  const threshold = checkInt(`${F}.typhaNodeThreshold`, spec.typhaNodeThreshold ?? TYPHA_DEFAULT_NODE_THRESHOLD, 1, 100000, 'a node count');
  const enabled = typhaEnabled(typhaMode, nodeCount, threshold);
  if (spec.typhaReplicas !== undefined) checkInt(`${F}.typhaReplicas`, spec.typhaReplicas, 1, 20, 'a replica count');
  const typha = { enabled, replicas: enabled ? spec.typhaReplicas ?? typhaReplicasFor(nodeCount) : 0 };

  const active = pools.filter((p) => !p.disabled);
  const usesIpip = active.some((p) => p.ipipMode !== EncapsulationMode.NEVER);
  const usesVxlan = active.some((p) => p.vxlanMode !== EncapsulationMode.NEVER);
  const usesVxlan6 = active.some((p) => p.family === 6 && p.vxlanMode !== EncapsulationMode.NEVER);
  const allVxlan = active.length > 0 && active.every((p) => p.vxlanMode !== EncapsulationMode.NEVER);
  const bgpEnabled = spec.bgpEnabled ?? !allVxlan;
  if (!bgpEnabled && usesIpip) {
    const i = pools.findIndex((p) => !p.disabled && p.ipipMode !== EncapsulationMode.NEVER);
    throw new ValidationError(`${F}.pools[${i}].ipipMode`, pools[i].ipipMode, 'Never when bgpEnabled is false (IPIP routes are distributed by BGP)');
  }
  if (!bgpEnabled) {
    const crossNoEncap = pools.findIndex((p) => !p.disabled && p.vxlanMode === EncapsulationMode.NEVER);
    if (crossNoEncap >= 0) {
      throw new ValidationError(`${F}.pools[${crossNoEncap}].vxlanMode`, pools[crossNoEncap].vxlanMode,
        'Always or CrossSubnet when bgpEnabled is false (without BGP only VXLAN reaches other nodes)');
    }
  }

  const asNumber = checkAsNumber(`${F}.bgpAsNumber`, spec.bgpAsNumber ?? DEFAULT_AS_NUMBER);
  const peers = (spec.bgpPeers ?? []).map((p, i) => resolvePeer(p, `${F}.bgpPeers[${i}]`));
  const peerNames = new Set<string>();
  peers.forEach((p, i) => {
    if (peerNames.has(p.name)) throw new ValidationError(`${F}.bgpPeers[${i}].name`, p.name, 'a name not used by another peer');
    peerNames.add(p.name);
  });
  let routeReflector: ResolvedBgp['routeReflector'];
  if (spec.bgpRouteReflectorSelector !== undefined) {
    const clusterId = spec.bgpRouteReflectorClusterId ?? '244.0.0.1';
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(clusterId) || clusterId.split('.').some((o) => Number(o) > 255)) {
      throw new ValidationError(`${F}.bgpRouteReflectorClusterId`, clusterId, 'a dotted-quad cluster ID such as 244.0.0.1');
    }
    routeReflector = { selector: toSelector(`${F}.bgpRouteReflectorSelector`, spec.bgpRouteReflectorSelector, Selector.all()), clusterId };
  } else if (spec.bgpRouteReflectorClusterId !== undefined) {
    throw new ValidationError(`${F}.bgpRouteReflectorSelector`, undefined, 'a node selector for the route reflectors when bgpRouteReflectorClusterId is set');
  }
  if ((peers.length > 0 || routeReflector) && !bgpEnabled) {
    throw new ValidationError(`${F}.bgpEnabled`, false, 'true when BGP peers or route reflectors are configured');
  }
  const nodeMesh = spec.bgpNodeMesh ?? routeReflector === undefined;
  if (bgpEnabled && !nodeMesh && routeReflector === undefined && peers.length === 0 && nodeCount > 1) {
    throw new ValidationError(`${F}.bgpNodeMesh`, false,
      'true, or route reflectors / BGP peers configured (otherwise nodes learn no routes to each other)');
  }
  const bgp: ResolvedBgp = {
    enabled: bgpEnabled,
    asNumber,
    nodeMesh,
    listenPort: checkInt(`${F}.bgpListenPort`, spec.bgpListenPort ?? 179, 1, 65535, 'a TCP port'),
    logSeverity: checkEnum(`${F}.bgpLogSeverity`, spec.bgpLogSeverity, LogSeverity, LogSeverity.INFO),
    serviceClusterIps: cidrs(`${F}.bgpServiceClusterIps`, spec.bgpServiceClusterIps),
    serviceExternalIps: cidrs(`${F}.bgpServiceExternalIps`, spec.bgpServiceExternalIps),
    serviceLoadBalancerIps: cidrs(`${F}.bgpServiceLoadBalancerIps`, spec.bgpServiceLoadBalancerIps),
    peers: routeReflector === undefined ? peers : [...peers, {
      name: 'cnikit-route-reflectors',
      nodeSelector: Selector.all(),
      peerSelector: routeReflector.selector,
      nextHopMode: NextHopMode.AUTO,
      filters: [],
    }],
    routeReflector,
  };
  if (routeReflector && peerNames.has('cnikit-route-reflectors')) {
    throw new ValidationError(`${F}.bgpPeers`, 'cnikit-route-reflectors', 'no peer with the name reserved for the route-reflector peering');
  }

  const felix: ResolvedFelix = {
    defaultEndpointToHostAction: checkEnum(`${F}.felixDefaultEndpointToHostAction`, spec.felixDefaultEndpointToHostAction, EndpointToHostAction, EndpointToHostAction.ACCEPT),
    logSeverity: checkEnum(`${F}.felixLogSeverity`, spec.felixLogSeverity, LogSeverity, LogSeverity.INFO),
    healthPort: checkInt(`${F}.felixHealthPort`, spec.felixHealthPort ?? 9099, 1, 65535, 'a TCP port'),
    prometheusMetricsEnabled: spec.felixPrometheusMetricsEnabled ?? false,
    prometheusMetricsPort: checkInt(`${F}.felixPrometheusMetricsPort`, spec.felixPrometheusMetricsPort ?? 9091, 1, 65535, 'a TCP port'),
    vxlanPort: checkInt(`${F}.felixVxlanPort`, spec.felixVxlanPort ?? 4789, 1, 65535, 'a UDP port'),
    vxlanVni: checkInt(`${F}.felixVxlanVni`, spec.felixVxlanVni ?? 4096, 1, 16777215, 'a VXLAN network identifier'),
    routeRefreshIntervalSeconds: checkInt(`${F}.felixRouteRefreshIntervalSeconds`, spec.felixRouteRefreshIntervalSeconds ?? 90, 1, 86400, 'a number of seconds'),
    policyRefreshIntervalSeconds: checkInt(`${F}.felixPolicyRefreshIntervalSeconds`, spec.felixPolicyRefreshIntervalSeconds ?? 180, 0, 86400, 'a number of seconds'),
    vxlanMtu: 0,
    vxlanMtuV6: 0,
  };
  if (felix.healthPort === felix.prometheusMetricsPort && felix.prometheusMetricsEnabled) {
    throw new ValidationError(`${F}.felixPrometheusMetricsPort`, felix.prometheusMetricsPort, `a port other than felixHealthPort ${felix.healthPort}`);
  }

  const encapsulation = usesVxlan6 ? Encapsulation.VXLAN_V6 : usesVxlan ? Encapsulation.VXLAN : usesIpip ? Encapsulation.IPIP : Encapsulation.NONE;
  const mtu = spec.mtu ?? Mtu.auto();
  const families = [...new Set(pools.map((p) => p.family))].sort();
  const podMtu = mtu.podMtu(encapsulation);
  const usesVxlan4 = active.some((p) => p.family === 4 && p.vxlanMode !== EncapsulationMode.NEVER);
  const minimum = families.includes(6) ? 1280 : 576;
  if (!mtu.isAuto && podMtu < minimum) {
    throw new ValidationError(`${F}.mtu`, mtu.linkMtu, `a link MTU leaving at least ${minimum} bytes after the ${encapsulation} overhead`);
  }

  const strictAffinity = spec.ipamStrictAffinity ?? false;
  const maxBlocksPerHost = checkInt(`${F}.ipamMaxBlocksPerHost`, spec.ipamMaxBlocksPerHost ?? 0, 0, 1000000, 'a block count');
  if (maxBlocksPerHost > 0 && !strictAffinity) {
    throw new ValidationError(`${F}.ipamMaxBlocksPerHost`, maxBlocksPerHost, '0 unless ipamStrictAffinity is true');
  }

  return {
    pools,
    serviceNetworks,
    nodeCount,
    typha,
    bgp,
    // Per device, as Felix: the pod MTU above is the smallest of them.
    felix: { ...felix, vxlanMtu: usesVxlan4 ? mtu.podMtu(Encapsulation.VXLAN) : 0, vxlanMtuV6: usesVxlan6 ? mtu.podMtu(Encapsulation.VXLAN_V6) : 0 },
    ipAutodetection: (spec.ipAutodetection ?? IpAutodetection.firstFound()).toString(),
    ipv6Autodetection: (spec.ipv6Autodetection ?? IpAutodetection.firstFound()).toString(),
    encapsulation,
    podMtu,
    networkingBackend: bgpEnabled ? 'bird' : 'vxlan',
    families,
    ipam: { strictAffinity, maxBlocksPerHost },
  };
}
