import { Cidr, IpFamily, addressToBigInt, isIpAddress } from '../cidr';
import { checkBoolean, checkInteger } from '../checks';
import { ConflictError, ValidationError } from '../errors';
import { FlannelBackend, ResolvedFlannelBackend, resolveFlannelBackend } from './backend';
import { FlannelDatastore, FlannelDatastoreType, ResolvedFlannelDatastore, resolveFlannelDatastore } from './datastore';

/**
 * Everything a user configures about a Flannel-style pod network. Every optional field documents
 * its default; `resolveFlannelNetwork` applies them, derives the rest and validates the whole.
 */
export interface FlannelNetworkSpec {
  /**
   * Carry IPv4 pod traffic (flannel's `EnableIPv4`).
   * @default true
   */
  readonly enableIpv4?: boolean;
  /**
   * The IPv4 pod network all node subnets are carved from (flannel's `Network`).
   * @default '10.244.0.0/16'
   */
  readonly podNetwork?: string;
  /**
   * Prefix length of one node's IPv4 subnet (`SubnetLen`). With the Kubernetes API datastore it must
   * equal kube-controller-manager's `--node-cidr-mask-size`.
   * @default 24 when the pod network is /22 or larger, else the pod network's prefix + 2
   */
  readonly subnetLength?: number;
  /**
   * Lowest IPv4 node subnet the agents may lease, as its network address (`SubnetMin`, etcd datastore only).
   * @default the second subnet of the pod network (the first is skipped, as flannel does)
   */
  readonly subnetMin?: string;
  /**
   * Highest IPv4 node subnet the agents may lease (`SubnetMax`, etcd datastore only).
   * @default the last subnet of the pod network
   */
  readonly subnetMax?: string;

  /**
   * The IPv6 pod network (`IPv6Network`); setting it enables IPv6 (dual-stack, or IPv6-only with
   * `enableIpv4: false`).
   * @default no IPv6
   */
  readonly podNetworkV6?: string;
  /**
   * Prefix length of one node's IPv6 subnet (`IPv6SubnetLen`).
   * @default 64 when the IPv6 pod network is /62 or larger, else its prefix + 2
   */
  readonly subnetLengthV6?: number;
  /**
   * Lowest IPv6 node subnet (`IPv6SubnetMin`, etcd datastore only).
   * @default the second subnet of the IPv6 pod network
   */
  readonly subnetMinV6?: string;
  /**
   * Highest IPv6 node subnet (`IPv6SubnetMax`, etcd datastore only).
   * @default the last subnet of the IPv6 pod network
   */
  readonly subnetMaxV6?: string;

  /**
   * How pod traffic crosses between nodes.
   * @default FlannelBackend.vxlan()
   */
  readonly backend?: FlannelBackend;
  /**
   * Where node subnet leases live.
   * @default FlannelDatastore.kubernetesApi()
   */
  readonly datastore?: FlannelDatastore;
  /**
   * Masquerade traffic from pods to destinations outside the pod network (flanneld `--ip-masq`).
   * @default true (as the upstream manifest)
   */
  readonly masquerade?: boolean;
  /**
   * Program masquerade and forward rules with nftables instead of iptables (`EnableNFTables`).
   * @default false (as flannel)
   */
  readonly nftables?: boolean;

  /**
   * Name of the node interface that carries pod traffic (flanneld `--iface`).
   * @default the interface of the default route
   */
  readonly interfaceName?: string;
  /**
   * Regular expressions matched against interface names, tried in order (flanneld `--iface-regex`).
   * @default none
   */
  readonly interfaceRegex?: string[];
  /**
   * Pick the interface that routes to this address (flanneld `--iface-can-reach`).
   * @default none
   */
  readonly interfaceCanReach?: string;

  /**
   * Number of nodes the network must hold; fails validation when the node subnets cannot hold them.
   * @default no capacity check
   */
  readonly expectedNodeCount?: number;
  /**
   * The cluster's IPv4 Service network; the pod network may not overlap it.
   * @default '10.96.0.0/12' (kubeadm's default)
   */
  readonly serviceNetwork?: string;
  /**
   * The cluster's IPv6 Service network; the IPv6 pod network may not overlap it.
   * @default none
   */
  readonly serviceNetworkV6?: string;
  /**
   * The network the nodes' own addresses are in; the pod network may not overlap it.
   * @default none (not checked)
   */
  readonly nodeNetwork?: string;
  /**
   * The network the nodes' own IPv6 addresses are in; the IPv6 pod network may not overlap it.
   * @default none (not checked)
   */
  readonly nodeNetworkV6?: string;
}

/** One address family of a resolved network: the pod network and how it splits into node subnets. */
export interface ResolvedFamilyNetwork {
  readonly family: IpFamily;
  /** The pod network, e.g. `10.244.0.0/16`. */
  readonly network: string;
  readonly subnetLength: number;
  /** Network address of the lowest node subnet that may be leased (etcd datastore). */
  readonly subnetMin: string;
  /** Network address of the highest node subnet that may be leased (etcd datastore). */
  readonly subnetMax: string;
  /** How many node subnets of `subnetLength` the pod network holds. */
  readonly subnetCount: number;
  /** How many nodes can get a subnet: all subnets (Kubernetes API) or those in [subnetMin, subnetMax] (etcd). */
  readonly nodeCapacity: number;
  /** Addresses available to pods in one node subnet (network, gateway and broadcast excluded for IPv4). */
  readonly podsPerNode: number;
}

/** A Flannel-style network with every default applied and every derived value computed. */
export interface ResolvedFlannelNetwork {
  readonly ipv4?: ResolvedFamilyNetwork;
  readonly ipv6?: ResolvedFamilyNetwork;
  readonly backend: ResolvedFlannelBackend;
  readonly datastore: ResolvedFlannelDatastore;
  readonly masquerade: boolean;
  readonly nftables: boolean;
  readonly interfaceName?: string;
  readonly interfaceRegex: readonly string[];
  readonly interfaceCanReach?: string;
  readonly expectedNodeCount?: number;
  /** Nodes the network can hold: the smaller capacity of the enabled families. */
  readonly nodeCapacity: number;
  readonly serviceNetwork: string;
  readonly serviceNetworkV6?: string;
  readonly nodeNetwork?: string;
  readonly nodeNetworkV6?: string;
  /** Bytes the backend's encapsulation adds to each packet (VXLAN 50, WireGuard 80, host-gw 0). */
  readonly encapsulationOverheadBytes: number;
  /** The pods' MTU when the uplink MTU is known (VXLAN `mtu`); undefined = derived per node by the agent. */
  readonly podMtu?: number;
}

export const DEFAULT_POD_NETWORK = '10.244.0.0/16';
export const DEFAULT_SERVICE_NETWORK = '10.96.0.0/12';

export const FLANNEL_NETWORK_SPEC_KEYS: readonly (keyof FlannelNetworkSpec)[] = ['enableIpv4', 'podNetwork', 'subnetLength', 'subnetMin',
  'subnetMax', 'podNetworkV6', 'subnetLengthV6', 'subnetMinV6', 'subnetMaxV6', 'backend', 'datastore', 'masquerade',
  'nftables', 'interfaceName', 'interfaceRegex', 'interfaceCanReach', 'expectedNodeCount', 'serviceNetwork',
  'serviceNetworkV6', 'nodeNetwork', 'nodeNetworkV6'];

/**
 * Applies the defaults, derives subnet capacity and MTU, and validates. Throws a ValidationError
 * (one line: field, bad value, what is expected) on the first problem. `prefix` names the fields.
 */
export function resolveFlannelNetwork(spec: FlannelNetworkSpec = {}, prefix = 'flannel'): ResolvedFlannelNetwork {
  const field = (name: string) => `${prefix}.${name}`;
  const unknown = Object.keys(spec).find((key) => !(FLANNEL_NETWORK_SPEC_KEYS as readonly string[]).includes(key));
  if (unknown !== undefined) throw new ValidationError(field(unknown), unknown, `a field of the Flannel-style network: ${FLANNEL_NETWORK_SPEC_KEYS.join(', ')}`);
  const datastore = resolveFlannelDatastore(spec.datastore ?? FlannelDatastore.kubernetesApi(), field('datastore'));
  const etcdMode = datastore.type === FlannelDatastoreType.ETCD;

  const enableIpv4 = spec.enableIpv4 === undefined ? true : checkBoolean(field('enableIpv4'), spec.enableIpv4);
  const ipv4 = enableIpv4
    ? resolveFamily(4, spec.podNetwork ?? DEFAULT_POD_NETWORK, spec.subnetLength, spec.subnetMin, spec.subnetMax, etcdMode, {
      network: field('podNetwork'), length: field('subnetLength'), min: field('subnetMin'), max: field('subnetMax'),
    })
    : undefined;
  if (!enableIpv4) {
    for (const key of ['podNetwork', 'subnetLength', 'subnetMin', 'subnetMax'] as const) {
      if (spec[key] !== undefined) throw new ConflictError(field(key), spec[key], `needs IPv4, but ${field('enableIpv4')} is false`);
    }
  }

  const ipv6 = spec.podNetworkV6 !== undefined
    ? resolveFamily(6, spec.podNetworkV6, spec.subnetLengthV6, spec.subnetMinV6, spec.subnetMaxV6, etcdMode, {
      network: field('podNetworkV6'), length: field('subnetLengthV6'), min: field('subnetMinV6'), max: field('subnetMaxV6'),
    })
    : undefined;
  if (!ipv6) {
    for (const key of ['subnetLengthV6', 'subnetMinV6', 'subnetMaxV6', 'serviceNetworkV6', 'nodeNetworkV6'] as const) {
      if (spec[key] !== undefined) {
        throw new ConflictError(field(key), spec[key], `is an IPv6 option, but IPv6 is not enabled: set ${field('podNetworkV6')}`);
      }
    }
  }
  if (!ipv4 && !ipv6) {
    throw new ValidationError(field('podNetworkV6'), spec.podNetworkV6, `an IPv6 pod network when ${field('enableIpv4')} is false`);
  }

  const serviceNetwork = spec.serviceNetwork ?? DEFAULT_SERVICE_NETWORK;
  const service4 = Cidr.parse(serviceNetwork, field('serviceNetwork'), 4);
  const node4 = spec.nodeNetwork === undefined ? undefined : Cidr.parse(spec.nodeNetwork, field('nodeNetwork'), 4);
  const service6 = spec.serviceNetworkV6 === undefined ? undefined : Cidr.parse(spec.serviceNetworkV6, field('serviceNetworkV6'), 6);
  const node6 = spec.nodeNetworkV6 === undefined ? undefined : Cidr.parse(spec.nodeNetworkV6, field('nodeNetworkV6'), 6);
  if (ipv4) {
    checkDisjoint(field('podNetwork'), ipv4.network, [[field('serviceNetwork'), service4], [field('nodeNetwork'), node4]]);
  } else if (spec.nodeNetwork !== undefined) {
    throw new ConflictError(field('nodeNetwork'), spec.nodeNetwork, `needs IPv4, but ${field('enableIpv4')} is false`);
  }
  if (ipv6) checkDisjoint(field('podNetworkV6'), ipv6.network, [[field('serviceNetworkV6'), service6], [field('nodeNetworkV6'), node6]]);

  const backend = resolveFlannelBackend(spec.backend ?? FlannelBackend.vxlan(), field('backend'), ipv6 !== undefined);
  const masquerade = spec.masquerade === undefined ? true : checkBoolean(field('masquerade'), spec.masquerade);
  const nftables = spec.nftables === undefined ? false : checkBoolean(field('nftables'), spec.nftables);
  const iface = resolveInterfaceSelection(spec, field);

  const families = [ipv4?.resolved, ipv6?.resolved].filter((f): f is ResolvedFamilyNetwork => f !== undefined);
  const nodeCapacity = Math.min(...families.map((f) => f.nodeCapacity));
  let expectedNodeCount: number | undefined;
  if (spec.expectedNodeCount !== undefined) {
    expectedNodeCount = checkInteger(field('expectedNodeCount'), spec.expectedNodeCount, 1, Number.MAX_SAFE_INTEGER);
    const tightest = families.find((f) => f.nodeCapacity === nodeCapacity)!;
    if (expectedNodeCount > nodeCapacity) {
      throw new ValidationError(field('expectedNodeCount'), expectedNodeCount, `at most ${nodeCapacity}: ${describeCapacity(tightest, etcdMode)}`);
    }
  }

  return {
    ...(ipv4 ? { ipv4: ipv4.resolved } : {}),
    ...(ipv6 ? { ipv6: ipv6.resolved } : {}),
    backend,
    datastore,
    masquerade,
    nftables,
    ...iface,
    ...(expectedNodeCount !== undefined ? { expectedNodeCount } : {}),
    nodeCapacity,
    serviceNetwork: service4.toString(),
    ...(service6 ? { serviceNetworkV6: service6.toString() } : {}),
    ...(node4 ? { nodeNetwork: node4.toString() } : {}),
    ...(node6 ? { nodeNetworkV6: node6.toString() } : {}),
    encapsulationOverheadBytes: backend.encapsulationOverheadBytes,
    ...(backend.uplinkMtu !== undefined ? { podMtu: podMtu(backend.uplinkMtu, backend.encapsulationOverheadBytes) } : {}),
  };
}

/** The pods' MTU on an uplink of `uplinkMtu` bytes: the uplink minus the encapsulation overhead. */
export function podMtu(uplinkMtu: number, encapsulationOverheadBytes: number): number {
  return uplinkMtu - encapsulationOverheadBytes;
}

/** flannel's default node subnet length: 24 (IPv4) / 64 (IPv6) for large networks, else prefix + 2. */
export function defaultSubnetLength(family: IpFamily, networkPrefix: number): number {
  const preferred = family === 4 ? 24 : 64;
  return networkPrefix <= preferred - 2 ? preferred : networkPrefix + 2;
}

interface FamilyFields { network: string; length: string; min: string; max: string }

function resolveFamily(family: IpFamily, networkText: string, length: number | undefined, minText: string | undefined,
  maxText: string | undefined, etcdMode: boolean, fields: FamilyFields): { network: Cidr; resolved: ResolvedFamilyNetwork } {
  const network = Cidr.parse(networkText, fields.network, family);
  const bits = family === 4 ? 32 : 128;
  const longestSubnet = bits - 2; // a /30 (/126) still leaves pods an address after network and gateway
  const longestNetwork = longestSubnet - 2; // at least four node subnets, as flannel requires
  if (network.prefix > longestNetwork) {
    throw new ValidationError(fields.network, networkText, `a network of /${longestNetwork} or larger (room for at least 4 node subnets)`);
  }
  const subnetLength = length === undefined ? defaultSubnetLength(family, network.prefix) : length;
  if (typeof subnetLength !== 'number' || !Number.isInteger(subnetLength) || subnetLength < network.prefix + 2 || subnetLength > longestSubnet) {
    throw new ValidationError(fields.length, subnetLength,
      `an integer from ${network.prefix + 2} to ${longestSubnet}: at least 4 subnets of ${network.toString()}, each with room for pods`);
  }
  const subnetCount = network.subnetCount(subnetLength);
  if (!etcdMode) {
    // kube-controller-manager allocates node podCIDRs from the whole network; flannel ignores SubnetMin/Max.
    if (minText !== undefined) throw new ConflictError(fields.min, minText, 'only applies to the etcd datastore (with the Kubernetes API, kube-controller-manager allocates node subnets)');
    if (maxText !== undefined) throw new ConflictError(fields.max, maxText, 'only applies to the etcd datastore (with the Kubernetes API, kube-controller-manager allocates node subnets)');
  }
  const min = minText === undefined ? network.subnet(subnetLength, 1n) : parseSubnetBound(fields.min, minText, network, subnetLength);
  const max = maxText === undefined ? network.subnet(subnetLength, subnetCount - 1n) : parseSubnetBound(fields.max, maxText, network, subnetLength);
  if (min.network > max.network) {
    throw new ValidationError(fields.min, min.address(), `a subnet not above ${fields.max} (${max.address()})`);
  }
  const step = 1n << BigInt(bits - subnetLength);
  const leasable = (max.network - min.network) / step + 1n;
  const hostAddresses = 1n << BigInt(bits - subnetLength);
  return {
    network,
    resolved: {
      family,
      network: network.toString(),
      subnetLength,
      subnetMin: min.address(),
      subnetMax: max.address(),
      subnetCount: Number(subnetCount),
      nodeCapacity: Number(etcdMode ? leasable : subnetCount),
      // IPv4 loses network, gateway and broadcast; IPv6 the subnet-router anycast and gateway.
      podsPerNode: Number(hostAddresses - (family === 4 ? 3n : 2n)),
    },
  };
}

function parseSubnetBound(field: string, text: string, network: Cidr, subnetLength: number): Cidr {
  const family = network.family;
  const expected = `the network address of a /${subnetLength} subnet inside ${network.toString()}`;
  if (!isIpAddress(text, family)) throw new ValidationError(field, text, expected);
  const value = addressToBigInt(text)!;
  const subnet = Cidr.fromBigInt(family, value, subnetLength);
  if (subnet.network !== value || !network.contains(subnet)) throw new ValidationError(field, text, expected);
  return subnet;
}

function checkDisjoint(field: string, pod: Cidr, others: [string, Cidr | undefined][]): void {
  for (const [otherField, other] of others) {
    if (other && pod.overlaps(other)) {
      throw new ValidationError(field, pod.toString(), `a range that does not overlap ${otherField} (${other.toString()})`);
    }
  }
}

function describeCapacity(family: ResolvedFamilyNetwork, etcdMode: boolean): string {
  const split = `${family.network} split into /${family.subnetLength} subnets holds ${family.subnetCount} node subnets`;
  if (!etcdMode || family.nodeCapacity === family.subnetCount) return split;
  return `${split}, ${family.nodeCapacity} of them between subnetMin ${family.subnetMin} and subnetMax ${family.subnetMax} (etcd datastore)`;
}

const LINUX_IFNAME = /^[^\s/:]{1,15}$/;

function resolveInterfaceSelection(spec: FlannelNetworkSpec, field: (name: string) => string):
  Pick<ResolvedFlannelNetwork, 'interfaceName' | 'interfaceRegex' | 'interfaceCanReach'> {
  const given = (['interfaceName', 'interfaceRegex', 'interfaceCanReach'] as const).filter((key) => spec[key] !== undefined);
  if (given.length > 1) {
    throw new ConflictError(field(given[1]), spec[given[1]], `conflicts with ${field(given[0])}: choose one way to select the interface`);
  }
  if (spec.interfaceName !== undefined && (typeof spec.interfaceName !== 'string' || !LINUX_IFNAME.test(spec.interfaceName))) {
    throw new ValidationError(field('interfaceName'), spec.interfaceName, 'a Linux interface name (1 to 15 characters, no space, "/" or ":")');
  }
  const regexes = spec.interfaceRegex ?? [];
  if (!Array.isArray(regexes) || regexes.length === 0 && spec.interfaceRegex !== undefined) {
    throw new ValidationError(field('interfaceRegex'), spec.interfaceRegex, 'a non-empty list of regular expressions');
  }
  regexes.forEach((regex, index) => {
    try {
      if (typeof regex !== 'string' || regex === '') throw new Error('not a string');
      new RegExp(regex);
    } catch {
      throw new ValidationError(`${field('interfaceRegex')}[${index}]`, regex, 'a regular expression such as "^(eth|ens)[0-9]+$"');
    }
  });
  if (spec.interfaceCanReach !== undefined && !isIpAddress(spec.interfaceCanReach)) {
    throw new ValidationError(field('interfaceCanReach'), spec.interfaceCanReach, 'an IP address such as 10.0.0.1');
  }
  return {
    ...(spec.interfaceName !== undefined ? { interfaceName: spec.interfaceName } : {}),
    interfaceRegex: [...regexes],
    ...(spec.interfaceCanReach !== undefined ? { interfaceCanReach: spec.interfaceCanReach } : {}),
  };
}
