import { JsonSchema, arr, bool, duration, int, intOrString, map, num, obj, oneOf, str } from './schema';

/**
 * The Calico resource model in `crd.projectcalico.org/v1`, written once. Field names follow
 * upstream (`api/pkg/apis/projectcalico/v3`, projectcalico/calico v3.32) so existing Calico
 * resources keep working; the schemas are stricter than upstream's where the value space is
 * known (enums, port and AS ranges). These definitions produce both the CRD objects
 * (`calicoCrdManifests`) and, through `cdk8s import`, the typed classes in `lib/imports`.
 */
export const CALICO_GROUP = 'crd.projectcalico.org';
export const CALICO_VERSION = 'v1';
export const CALICO_API_VERSION = `${CALICO_GROUP}/${CALICO_VERSION}`;

export interface CalicoCrdDefinition {
  readonly kind: string;
  readonly plural: string;
  readonly scope: 'Cluster' | 'Namespaced';
  readonly description: string;
  readonly spec: JsonSchema;
  /** Whether instances must carry a spec (true when the spec has required fields). */
  readonly specRequired: boolean;
}

const ENCAP_MODE = ['Never', 'Always', 'CrossSubnet'];
const LOG_SEVERITY = ['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'];
const ENABLED_DISABLED = ['Enabled', 'Disabled'];
const AS_NUMBER = (d: string) => int(d, 1, 4294967295, { format: 'int64' });
const PORT = (d: string) => int(d, 1, 65535);
const secretKeyRef = (d: string) => obj({
  secretKeyRef: obj({ name: str('Name of the Secret, in the node agent\'s namespace.'), key: str('Key in the Secret.'), optional: bool() }, ['key']),
}, [], d);
const cidrList = (d: string) => arr(obj({ cidr: str('A CIDR.') }), d);

// ---- IPAM -------------------------------------------------------------------------------

const ipPool = obj({
  cidr: str('The pool range; a network address. Immutable.'),
  blockSize: int('Prefix length of the per-node blocks (IPv4 20–32, default 26; IPv6 116–128, default 122). Immutable.', 20, 128),
  ipipMode: oneOf(ENCAP_MODE, 'IPIP encapsulation between nodes. Not with vxlanMode; Never for IPv6.'),
  vxlanMode: oneOf(ENCAP_MODE, 'VXLAN encapsulation between nodes. Not with ipipMode.'),
  natOutgoing: bool('Masquerade traffic to destinations outside every pool.'),
  disabled: bool('Hand out no new addresses from this pool.'),
  disableBGPExport: bool('Keep this pool\'s routes out of BGP.'),
  nodeSelector: str('Selector of the nodes that may take blocks from this pool (default all()).'),
  namespaceSelector: str('Selector of the namespaces whose pods may use this pool (default all()).'),
  allowedUses: arr(oneOf(['Workload', 'Tunnel', 'LoadBalancer']), 'What addresses may be used for (default Workload, Tunnel).'),
  assignmentMode: oneOf(['Automatic', 'Manual'], 'Automatic pools serve unannotated pods; Manual ones only explicit requests.'),
}, ['cidr']);

const ipamConfig = obj({
  strictAffinity: bool('Pods only get addresses from blocks affine to their node.'),
  autoAllocateBlocks: bool('Nodes claim new blocks as they need them.'),
  maxBlocksPerHost: int('Blocks one node may claim; 0 = the built-in safeguard of 20.', 0, 2147483647),
}, ['autoAllocateBlocks', 'strictAffinity']);

const ipamBlock = obj({
  cidr: str('The block range.'),
  affinity: str('Owner of the block: host:<node> or virtual:<name>.', { nullable: true }),
  affinityClaimTime: str('When the affinity was claimed.', { format: 'date-time', nullable: true }),
  strictAffinity: bool('Copied from IPAMConfig when the block was claimed.'),
  allocations: arr(int(undefined, 0, undefined, { nullable: true }), 'Per ordinal: index into attributes, or null when free.'),
  unallocated: arr(int(undefined, 0), 'Free ordinals, in hand-out order.'),
  attributes: arr(obj({
    handle_id: str('The allocation handle, e.g. k8s-pod-network.<containerID>.', { nullable: true }),
    secondary: map(str(), 'Extra attributes: node, pod, namespace, timestamp, type.'),
  }), 'Attributes shared by allocations.'),
  sequenceNumber: int('Bumped on every change (compare-and-swap).', 0, undefined, { format: 'int64' }),
  sequenceNumberForAllocation: map(int(undefined, 0, undefined, { format: 'int64' }), 'Sequence number at which each ordinal was allocated.'),
  deleted: bool('Being released; no new allocations.'),
}, ['allocations', 'attributes', 'cidr', 'strictAffinity', 'unallocated']);

const blockAffinity = obj({
  state: oneOf(['', 'pending', 'confirmed', 'pendingDeletion'], 'Claim state of the affinity.'),
  node: str('The node owning the block.'),
  type: str('host or virtual.'),
  cidr: str('The block range.'),
  deleted: str('"true" while being deleted (a string upstream, kept for compatibility).'),
}, ['cidr', 'deleted', 'node', 'state']);

const ipamHandle = obj({
  handleID: str('The handle, e.g. k8s-pod-network.<containerID>.'),
  block: map(int(undefined, 0), 'Block CIDR → addresses held in it.'),
  deleted: bool(),
}, ['block', 'handleID']);

const ipReservation = obj({
  reservedCIDRs: arr(str(), 'Addresses or CIDRs never handed out.'),
});

// ---- BGP --------------------------------------------------------------------------------

const bgpConfiguration = obj({
  logSeverityScreen: oneOf(LOG_SEVERITY, 'Log level of the BGP speaker (default Info).'),
  nodeToNodeMeshEnabled: bool('Full node-to-node mesh (default true).'),
  asNumber: AS_NUMBER('The cluster AS (default 64512).'),
  listenPort: PORT('TCP port the speaker listens on (default 179).'),
  bindMode: oneOf(['None', 'NodeIP'], 'Listen on every address (None) or only the node IP.'),
  serviceClusterIPs: cidrList('Service cluster-IP ranges every node advertises.'),
  serviceExternalIPs: cidrList('Service external-IP ranges advertised.'),
  serviceLoadBalancerIPs: cidrList('LoadBalancer IP ranges advertised.'),
  serviceLoadBalancerAggregation: oneOf(ENABLED_DISABLED, 'Advertise LoadBalancer ranges aggregated (default Enabled).'),
  communities: arr(obj({ name: str(), value: str('standard aa:nn or large aa:nn:mm community', { pattern: '^(\\d+):(\\d+)$|^(\\d+):(\\d+):(\\d+)$' }) })),
  prefixAdvertisements: arr(obj({ cidr: str(), communities: arr(str()) })),
  nodeMeshPassword: secretKeyRef('TCP-MD5 password of mesh sessions.'),
  nodeMeshMaxRestartTime: duration('Graceful-restart time of mesh sessions (default 120s).'),
  ignoredInterfaces: arr(str(), 'Interfaces whose routes are not exported.'),
  programClusterRoutes: oneOf(ENABLED_DISABLED, 'Whether BGP programs routes to other nodes\' blocks.'),
  localWorkloadPeeringIPV4: str('Address workloads peer with on their node.'),
  localWorkloadPeeringIPV6: str(),
});

const bgpPeer = obj({
  node: str('Only this node peers (default every node).'),
  nodeSelector: str('Only nodes matching this selector peer.'),
  peerIP: str('The peer: ip, ip:port or [ipv6]:port.'),
  peerSelector: str('Peer with every node matching this selector (route reflectors).'),
  asNumber: AS_NUMBER('The peer\'s AS.'),
  localASNumber: AS_NUMBER('The AS the node presents to this peer.'),
  password: secretKeyRef('TCP-MD5 password.'),
  sourceAddress: oneOf(['UseNodeIP', 'None'], 'Source address of the session.'),
  failureDetectionMode: oneOf(['None', 'BFDIfDirectlyConnected']),
  restartMode: oneOf(['GracefulRestart', 'LongLivedGracefulRestart']),
  maxRestartTime: duration('Graceful-restart time (default 120s).'),
  keepaliveTime: duration('Keepalive interval.'),
  birdGatewayMode: oneOf(['Recursive', 'DirectIfDirectlyConnected']),
  keepOriginalNextHop: bool('Deprecated form of nextHopMode: Keep.'),
  nextHopMode: oneOf(['Auto', 'Self', 'Keep']),
  numAllowedLocalASNumbers: int('Times the local AS may appear in received AS paths.', 0, 10),
  ttlSecurity: int('GTSM hop count.', 0, 255),
  reachableBy: str('Gateway through which the peer is reachable.'),
  filters: arr(str(), 'Names of BGPFilter resources applied to this peer.'),
  reversePeering: oneOf(['Auto', 'Manual']),
});

const filterRule = (family: 4 | 6) => obj({
  cidr: str(`IPv${family} CIDR the rule matches.`),
  matchOperator: oneOf(['Equal', 'NotEqual', 'In', 'NotIn']),
  prefixLength: obj({ min: int(undefined, 0, family === 4 ? 32 : 128), max: int(undefined, 0, family === 4 ? 32 : 128) }),
  source: oneOf(['RemotePeers']),
  interface: str(),
  peerType: oneOf(['eBGP', 'iBGP']),
  action: oneOf(['Accept', 'Reject']),
}, ['action']);

const bgpFilter = obj({
  exportV4: arr(filterRule(4)), importV4: arr(filterRule(4)),
  exportV6: arr(filterRule(6)), importV6: arr(filterRule(6)),
});

// ---- Felix, cluster, controllers -----------------------------------------------------------

const protoPort = arr(obj({ protocol: oneOf(['TCP', 'UDP', 'SCTP']), port: int(undefined, 0, 65535), net: str() }, ['port']));

const felixConfiguration = obj({
  logSeverityScreen: oneOf(LOG_SEVERITY),
  logSeverityFile: oneOf(LOG_SEVERITY),
  logSeveritySys: oneOf(LOG_SEVERITY),
  healthEnabled: bool(), healthHost: str(), healthPort: PORT('Health endpoint port (default 9099).'),
  prometheusMetricsEnabled: bool(), prometheusMetricsHost: str(), prometheusMetricsPort: PORT('Metrics port (default 9091).'),
  defaultEndpointToHostAction: oneOf(['Drop', 'Accept', 'Return'], 'Traffic from pods to their own host (default Drop).'),
  interfacePrefix: str('Prefix of workload interfaces (default cali).'),
  interfaceExclude: str('Interfaces never treated as host endpoints (default kube-ipvs0).'),
  ipv6Support: bool(),
  ipipEnabled: bool(), ipipMTU: int(undefined, 0, 65535),
  vxlanEnabled: bool(), vxlanMTU: int(undefined, 0, 65535), vxlanMTUV6: int(undefined, 0, 65535),
  vxlanPort: PORT('VXLAN UDP port (default 4789).'), vxlanVNI: int('VXLAN network identifier (default 4096).', 1, 16777215),
  wireguardEnabled: bool(), wireguardEnabledV6: bool(), wireguardMTU: int(undefined, 0, 65535), wireguardListeningPort: PORT('default 51820'),
  mtuIfacePattern: str('Interfaces whose MTU the auto-MTU looks at.'),
  routeRefreshInterval: duration('Route resync period (default 90s).'),
  iptablesRefreshInterval: duration('Rule resync period (default 180s).'),
  ipsetsRefreshInterval: duration('Set resync period (default 90s).'),
  nftablesRefreshInterval: duration('nftables resync period (default 180s).'),
  reportingInterval: duration('Status reporting period.'),
  iptablesBackend: oneOf(['Legacy', 'NFT', 'Auto']),
  nftablesMode: oneOf(['Disabled', 'Enabled', 'Auto']),
  chainInsertMode: oneOf(['Insert', 'Append']),
  bpfEnabled: bool(),
  ipForwarding: oneOf(ENABLED_DISABLED),
  removeExternalRoutes: bool(),
  deviceRouteProtocol: int('Protocol number of routes to local workloads (default 3).', 0, 255),
  deviceRouteSourceAddress: str(),
  routeTableRanges: arr(obj({ min: int(undefined, 1, 4294967295), max: int(undefined, 1, 4294967295) }, ['min', 'max'])),
  natOutgoingAddress: str(),
  natPortRange: intOrString('Source ports for masquerade, e.g. 32768:65535.', { pattern: '^[0-9]+(:[0-9]+)?$' }),
  failsafeInboundHostPorts: protoPort,
  failsafeOutboundHostPorts: protoPort,
  endpointReportingEnabled: bool(),
  floatingIPs: oneOf(ENABLED_DISABLED),
  usageReportingEnabled: bool(),
  logPrefix: str(),
  policySyncPathPrefix: str(),
});

const clusterInformation = obj({
  calicoVersion: str(), clusterGUID: str(), clusterType: str(),
  datastoreReady: bool('The CNI plugin refuses to run until this is true.'),
  variant: str(),
});

const kubeControllersConfiguration = obj({
  logSeverityScreen: oneOf(LOG_SEVERITY),
  healthChecks: oneOf(ENABLED_DISABLED),
  etcdV3CompactionPeriod: duration('etcd compaction period.'),
  prometheusMetricsPort: int('Metrics port (default 9094; 0 = off).', 0, 65535),
  debugProfilePort: int(undefined, 0, 65535),
  controllers: obj({
    node: obj({
      reconcilerPeriod: duration('Full resync period.'),
      syncLabels: oneOf(ENABLED_DISABLED, 'Copy node labels onto Calico nodes.'),
      hostEndpoint: obj({ autoCreate: oneOf(ENABLED_DISABLED) }),
      leakGracePeriod: duration('How long an orphaned address waits before it is released (default 15m; 0 = off).'),
    }),
    policy: obj({ reconcilerPeriod: duration('Full resync period.') }),
    workloadEndpoint: obj({ reconcilerPeriod: duration('Full resync period.') }),
    serviceAccount: obj({ reconcilerPeriod: duration('Full resync period.') }),
    namespace: obj({ reconcilerPeriod: duration('Full resync period.') }),
    loadBalancer: obj({ assignIPs: oneOf(['AllServices', 'RequestedServicesOnly']) }),
  }),
}, ['controllers']);

// ---- Policy ---------------------------------------------------------------------------------

const PROTOCOL_NAMES = '^(TCP|UDP|ICMP|ICMPv6|SCTP|UDPLite)$';
const protocol = (d: string) => intOrString(d, { min: 1, max: 255, pattern: PROTOCOL_NAMES });
const port = intOrString('A port number, a range "first:last" or a named port.', {
  min: 0, max: 65535, pattern: '^([0-9]{1,5}(:[0-9]{1,5})?|[a-zA-Z0-9]([-a-zA-Z0-9]{0,13}[a-zA-Z0-9])?)$',
});
const icmp = (d: string) => obj({ type: int('ICMP type.', 0, 254), code: int('ICMP code; needs type.', 0, 255) }, [], d);

const entityRule = (d: string) => obj({
  nets: arr(str(), 'CIDRs the peer address must be in.'),
  notNets: arr(str(), 'CIDRs the peer address must not be in.'),
  selector: str('Endpoints (and network sets) selected by labels.'),
  notSelector: str(),
  namespaceSelector: str('Namespaces whose endpoints the selector applies to.'),
  ports: arr(port),
  notPorts: arr(port),
  serviceAccounts: obj({ names: arr(str()), selector: str() }),
  services: obj({ name: str(), namespace: str() }),
}, [], d);

const rule = obj({
  action: oneOf(['Allow', 'Deny', 'Log', 'Pass']),
  ipVersion: int('4 or 6.', 4, 6, { enum: [4, 6] }),
  protocol: protocol('TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a protocol number.'),
  notProtocol: protocol('Matches every protocol but this one.'),
  icmp: icmp('ICMP type and code to match.'),
  notICMP: icmp('ICMP type and code not to match.'),
  source: entityRule('Where the packet comes from.'),
  destination: entityRule('Where the packet goes.'),
  http: obj({ methods: arr(str()), paths: arr(obj({ exact: str(), prefix: str() })) }),
  metadata: obj({ annotations: map(str()) }),
}, ['action']);

const policyCommon = {
  order: num('Lower orders run first; unset runs last.'),
  tier: str('Tier of the policy (default "default").'),
  selector: str('Endpoints the policy applies to (default all()).'),
  serviceAccountSelector: str('Service accounts the policy applies to.'),
  types: arr(oneOf(['Ingress', 'Egress']), 'Directions the policy applies to.', { maxItems: 2 }),
  ingress: arr(rule, 'Rules for traffic into the endpoints, in order.'),
  egress: arr(rule, 'Rules for traffic out of the endpoints, in order.'),
  performanceHints: arr(oneOf(['AssumeNeededOnEveryNode'])),
};

const networkPolicy = obj(policyCommon);
const globalNetworkPolicy = obj({
  ...policyCommon,
  namespaceSelector: str('Namespaces whose endpoints the policy applies to.'),
  doNotTrack: bool('Apply before connection tracking (host endpoints).'),
  preDNAT: bool('Apply before DNAT (host endpoints).'),
  applyOnForward: bool('Also apply to forwarded traffic (host endpoints).'),
});

const networkSet = obj({ nets: arr(str(), 'The set\'s CIDRs.') });

const tier = obj({
  order: { ...num('Lower orders run first; unset runs last; equal orders by name. The default tier is at 1000000 unless a Tier named default says otherwise.'), minimum: 0 },
  defaultAction: oneOf(['Deny', 'Pass'], 'What happens at the end of the tier to traffic its policies selected but no rule decided (default Deny).'),
});

const hostEndpoint = obj({
  node: str('The node the interface is on.'),
  interfaceName: str('The interface, or "*" for all.'),
  expectedIPs: arr(str(), 'Addresses of the interface.'),
  profiles: arr(str()),
  ports: arr(obj({ name: str(), protocol: protocol('Protocol of the named port.'), port: int(undefined, 1, 65535) }, ['name', 'port', 'protocol'])),
});

function def(kind: string, plural: string, scope: 'Cluster' | 'Namespaced', description: string, spec: JsonSchema): CalicoCrdDefinition {
  return { kind, plural, scope, description, spec, specRequired: (spec.required ?? []).length > 0 };
}

/** Every CRD of the kit, in the order they are emitted. */
export const CALICO_CRDS: readonly CalicoCrdDefinition[] = [
  def('BGPConfiguration', 'bgpconfigurations', 'Cluster', 'BGP settings: default (global) or node.<name>.', bgpConfiguration),
  def('BGPFilter', 'bgpfilters', 'Cluster', 'Import/export filters applied to BGP peers.', bgpFilter),
  def('BGPPeer', 'bgppeers', 'Cluster', 'A BGP peering between nodes and a router or other nodes.', bgpPeer),
  def('BlockAffinity', 'blockaffinities', 'Cluster', 'A node\'s claim on an IPAM block.', blockAffinity),
  def('ClusterInformation', 'clusterinformations', 'Cluster', 'Cluster-wide facts: datastore readiness, version, GUID.', clusterInformation),
  def('FelixConfiguration', 'felixconfigurations', 'Cluster', 'Dataplane settings: default or node.<name>.', felixConfiguration),
  def('GlobalNetworkPolicy', 'globalnetworkpolicies', 'Cluster', 'A policy for endpoints in every namespace and host endpoints.', globalNetworkPolicy),
  def('GlobalNetworkSet', 'globalnetworksets', 'Cluster', 'Labelled CIDRs that global policy selectors can match.', networkSet),
  def('HostEndpoint', 'hostendpoints', 'Cluster', 'A host interface that policy applies to.', hostEndpoint),
  def('IPAMBlock', 'ipamblocks', 'Cluster', 'A block of addresses and its allocations.', ipamBlock),
  def('IPAMConfig', 'ipamconfigs', 'Cluster', 'Global IPAM settings (the object named default).', ipamConfig),
  def('IPAMHandle', 'ipamhandles', 'Cluster', 'The addresses one allocation handle holds.', ipamHandle),
  def('IPPool', 'ippools', 'Cluster', 'A range pods take addresses from.', ipPool),
  def('IPReservation', 'ipreservations', 'Cluster', 'Addresses never handed out.', ipReservation),
  def('KubeControllersConfiguration', 'kubecontrollersconfigurations', 'Cluster', 'Settings of the controllers (the object named default).', kubeControllersConfiguration),
  def('NetworkPolicy', 'networkpolicies', 'Namespaced', 'A policy for endpoints in one namespace.', networkPolicy),
  def('NetworkSet', 'networksets', 'Namespaced', 'Labelled CIDRs that policy selectors in the namespace can match.', networkSet),
  def('Tier', 'tiers', 'Cluster', 'An ordered group of policies; policies in it are named <tier>.<name>.', tier),
];

export function calicoCrd(kind: string): CalicoCrdDefinition {
  const found = CALICO_CRDS.find((d) => d.kind === kind);
  if (!found) throw new Error(`no Calico CRD of kind ${kind}`);
  return found;
}

/** The openAPIV3Schema of a whole instance (apiVersion, kind, metadata, spec). */
export function instanceSchema(d: CalicoCrdDefinition): JsonSchema {
  return {
    type: 'object',
    description: d.description,
    properties: {
      apiVersion: str(),
      kind: str(),
      metadata: { type: 'object' },
      spec: d.spec,
    },
    ...(d.specRequired ? { required: ['spec'] } : {}),
  };
}

/** A plain JSON CustomResourceDefinition (apiextensions.k8s.io/v1) for one definition. */
export interface CustomResourceDefinitionManifest {
  readonly apiVersion: 'apiextensions.k8s.io/v1';
  readonly kind: 'CustomResourceDefinition';
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly group: string;
    readonly names: { readonly kind: string; readonly listKind: string; readonly plural: string; readonly singular: string };
    readonly scope: 'Cluster' | 'Namespaced';
    readonly versions: ReadonlyArray<{
      readonly name: string; readonly served: boolean; readonly storage: boolean;
      readonly schema: { readonly openAPIV3Schema: JsonSchema };
    }>;
  };
}

export function calicoCrdManifest(d: CalicoCrdDefinition): CustomResourceDefinitionManifest {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${d.plural}.${CALICO_GROUP}` },
    spec: {
      group: CALICO_GROUP,
      names: { kind: d.kind, listKind: `${d.kind}List`, plural: d.plural, singular: d.kind.toLowerCase() },
      scope: d.scope,
      versions: [{ name: CALICO_VERSION, served: true, storage: true, schema: { openAPIV3Schema: instanceSchema(d) } }],
    },
  };
}

export function calicoCrdManifests(): CustomResourceDefinitionManifest[] {
  return CALICO_CRDS.map(calicoCrdManifest);
}
