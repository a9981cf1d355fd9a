/**
 * The lab's wiring as plain data: which namespaces exist, which segment each node sits on and
 * which addresses they get. Pure, so the plan can be checked without root.
 *
 * ```
 *   node ns (eth0) ──veth── switch ns: bridge br0 (segment 0, 10.99.0.0/24) ──veth── gw ns (.1)
 *   node ns (eth0) ──veth── switch ns: bridge br1 (segment 1, 10.99.1.0/24) ──veth── gw ns (.1)
 * ```
 * The gw namespace routes between the segments (so nodes on different segments are not on-link)
 * and runs etcd. Every address lives only inside these namespaces.
 */

export type LabTopologyKind = 'flat' | 'two-subnets';

export interface LabNodePlan {
  /** Short node name, `n1` … `nN`; also the node's name in the datastore. */
  readonly name: string;
  readonly netns: string;
  readonly segment: number;
  /** The node's address on its segment (its public IP), e.g. `10.99.0.11`. */
  readonly address: string;
  /** The node's IPv6 address on its segment, e.g. `fd99:0:0:0::11` (prefix /64). */
  readonly address6: string;
  readonly prefixLength: number;
  readonly gateway: string;
  /** The node end of the uplink veth (inside the node namespace). */
  readonly uplink: string;
  /** The switch end of the uplink veth (inside the switch namespace). */
  readonly switchPort: string;
}

export interface LabSegmentPlan {
  readonly index: number;
  readonly cidr: string;
  readonly bridge: string;
  readonly gateway: string;
  readonly cidr6: string;
  readonly gateway6: string;
  /** The gw namespace's leg on this segment, and its switch-side peer. */
  readonly gwLink: string;
  readonly gwSwitchPort: string;
}

export interface LabPlan {
  readonly id: string;
  readonly switchNetns: string;
  readonly gwNetns: string;
  readonly segments: readonly LabSegmentPlan[];
  readonly nodes: readonly LabNodePlan[];
  /** etcd's client URL as the nodes see it. */
  readonly etcdEndpoint: string;
}

export interface PlanOptions {
  readonly id: string;
  readonly nodes: number;
  /** @default 'flat' */
  readonly topology?: LabTopologyKind;
  /** Segment per node (two-subnets only). @default first half of the nodes on segment 0, the rest on 1 */
  readonly segments?: readonly number[];
  /** First two octets of the segments' /24s (`<base>.<segment>.0/24`). @default '10.99' */
  readonly segmentBase?: string;
}

const DEFAULT_SEGMENT_BASE = '10.99';
const FIRST_NODE_HOST = 11;

export function planLab(options: PlanOptions): LabPlan {
  const topology = options.topology ?? 'flat';
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 200) {
    throw new RangeError(`lab.nodes: ${options.nodes} is not valid; expected an integer from 1 to 200`);
  }
  const segmentBase = options.segmentBase ?? DEFAULT_SEGMENT_BASE;
  if (!/^\d{1,3}\.\d{1,3}$/.test(segmentBase)) throw new RangeError(`lab.segmentBase: ${segmentBase} is not valid; expected two octets such as 10.99`);
  const segmentCount = topology === 'two-subnets' ? 2 : 1;
  const segments: LabSegmentPlan[] = [];
  for (let i = 0; i < segmentCount; i++) {
    segments.push({
      index: i,
      cidr: `${segmentBase}.${i}.0/24`,
      bridge: `br${i}`,
      gateway: `${segmentBase}.${i}.1`,
      cidr6: `fd99:0:0:${i}::/64`,
      gateway6: `fd99:0:0:${i}::1`,
      gwLink: `seg${i}`,
      gwSwitchPort: `gw${i}`,
    });
  }
  const segmentOf = (index: number): number => {
    if (segmentCount === 1) return 0;
    const given = options.segments?.[index];
    if (given !== undefined) {
      if (given !== 0 && given !== 1) throw new RangeError(`lab.segments[${index}]: ${given} is not valid; expected 0 or 1`);
      return given;
    }
    return index < Math.ceil(options.nodes / 2) ? 0 : 1;
  };
  const nodes: LabNodePlan[] = [];
  for (let i = 0; i < options.nodes; i++) {
    const segment = segments[segmentOf(i)];
    const name = `n${i + 1}`;
    nodes.push({
      name,
      netns: `${options.id}-${name}`,
      segment: segment.index,
      address: `${segmentBase}.${segment.index}.${FIRST_NODE_HOST + i}`,
      address6: `fd99:0:0:${segment.index}::${FIRST_NODE_HOST + i}`,
      prefixLength: 24,
      gateway: segment.gateway,
      uplink: 'eth0',
      switchPort: name,
    });
  }
  return {
    id: options.id,
    switchNetns: `${options.id}-sw`,
    gwNetns: `${options.id}-gw`,
    segments,
    nodes,
    etcdEndpoint: `http://${segments[0].gateway}:2379`,
  };
}

/** One step of building the lab: create a namespace, or run `ip -batch` inside one. */
export type WiringStep =
  | { readonly kind: 'netns'; readonly netns: string }
  | { readonly kind: 'batch'; readonly netns: string; readonly lines: readonly string[] }
  | { readonly kind: 'sysctl'; readonly netns: string; readonly key: string; readonly value: string };

/**
 * The steps that build `plan`. Every `ip` line runs inside a namespace we created (veths are
 * created there with the peer sent straight into the switch namespace), so nothing ever appears
 * in the host namespace, not even for an instant.
 */
export function wiringSteps(plan: LabPlan): WiringStep[] {
  const sw = plan.switchNetns;
  const gw = plan.gwNetns;
  const steps: WiringStep[] = [sw, gw, ...plan.nodes.map((n) => n.netns)].map((netns) => ({ kind: 'netns', netns }));
  const swLines = ['link set lo up'];
  for (const seg of plan.segments) {
    swLines.push(`link add ${seg.bridge} type bridge stp_state 0 forward_delay 0`, `link set ${seg.bridge} up`);
  }
  steps.push({ kind: 'batch', netns: sw, lines: swLines });
  const gwLines = ['link set lo up'];
  for (const seg of plan.segments) {
    gwLines.push(
      `link add ${seg.gwLink} type veth peer name ${seg.gwSwitchPort} netns ${sw}`,
      `addr add ${seg.gateway}/24 dev ${seg.gwLink}`,
      `addr add ${seg.gateway6}/64 dev ${seg.gwLink} nodad`,
      `link set ${seg.gwLink} up`,
    );
  }
  steps.push({ kind: 'batch', netns: gw, lines: gwLines });
  steps.push({ kind: 'sysctl', netns: gw, key: 'net.ipv4.ip_forward', value: '1' });
  steps.push({ kind: 'sysctl', netns: gw, key: 'net.ipv6.conf.all.forwarding', value: '1' });
  for (const node of plan.nodes) steps.push(...nodeWiring(plan, node));
  const portLines: string[] = [];
  for (const seg of plan.segments) portLines.push(`link set ${seg.gwSwitchPort} master ${seg.bridge} up`);
  steps.push({ kind: 'batch', netns: sw, lines: portLines });
  return steps;
}

/** The steps that wire one node (its namespace must exist) and plug it into its segment's bridge. */
export function nodeWiring(plan: LabPlan, node: LabNodePlan): WiringStep[] {
  return [
    {
      kind: 'batch',
      netns: node.netns,
      lines: [
        'link set lo up',
        `link add ${node.uplink} type veth peer name ${node.switchPort} netns ${plan.switchNetns}`,
        `addr add ${node.address}/${node.prefixLength} dev ${node.uplink}`,
        `addr add ${node.address6}/64 dev ${node.uplink} nodad`,
        `link set ${node.uplink} up`,
        `route add default via ${node.gateway} dev ${node.uplink}`,
        `route add default via ${plan.segments[node.segment].gateway6} dev ${node.uplink}`,
      ],
    },
    { kind: 'batch', netns: plan.switchNetns, lines: [`link set ${node.switchPort} master ${plan.segments[node.segment].bridge} up`] },
  ];
}
