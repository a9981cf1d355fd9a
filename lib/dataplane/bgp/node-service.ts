import { BadRecordError, RecordReader } from '../datastore/records';
import type { OutageLog } from '../datastore/outage';
import { WatchHandle } from '../datastore/types';
import { IpamBlockSpec, Pool, blockHost } from '../ipam/block-model';
import { BlockIpam } from '../ipam/block-ipam';
import { Kernel } from '../kernel/types';
import { NodeRegistry } from '../calico/node-registry';
import { CalicoNode } from '../calico/routes';
import { Selector } from '../../model/calico/selector';
import { KeyValueStore } from '../datastore/types';
import { CALICO_KEYS } from '../ipam/calico-store';
import { BgpNode, ClusterBgpConfig, NodeBgpPlan, planNodePeers } from './peers';
import { BgpSpeaker, BgpSpeakerConfig } from './speaker';
import { prefixWithin } from './rib/filter';
import { BGP_KEYS, readClusterBgpConfig } from './datastore-config';
import { canonicalAddress } from './wire/address';

/**
 * What a node advertises (Calico's BIRD export filter): the blocks affine to it in pools that do
 * not use VXLAN (Felix routes those itself) and are not disabled, plus the configured service CIDRs.
 */
export function localAdvertisements(node: string, blocks: readonly IpamBlockSpec[], pools: readonly Pool[], serviceCidrs: readonly string[] = []): string[] {
  const routed = pools.filter((p) => !p.disabled && p.vxlanMode === 'Never');
  const mine = blocks.filter((b) => !b.deleted && blockHost(b) === node && routed.some((p) => prefixWithin(b.cidr, p.cidr.toString())));
  return [...new Set([...mine.map((b) => b.cidr), ...serviceCidrs])].sort();
}

/** CALICO_ROUTE_REFLECTOR_SELECTOR/CLUSTER_ID: nodes whose labels match reflect routes with that cluster id. */
export interface RouteReflectorRule {
  readonly selector: Selector;
  readonly clusterId: string;
}

/**
 * Calico Nodes as BGP nodes: addresses (`spec.bgp.ipv4Address`, and `ipv6Address` for its IPv6
 * sessions), labels, `spec.bgp.asNumber` and
 * `spec.bgp.routeReflectorClusterID` from the Node (Kubernetes: its labels and annotations); a
 * node without its own cluster id whose labels match `reflectors` gets the rule's. `details`
 * overrides per node name (tests, the standalone file).
 */
export function bgpNodes(nodes: readonly CalicoNode[], details: Readonly<Record<string, Partial<BgpNode>>> = {}, reflectors?: RouteReflectorRule): BgpNode[] {
  const out: BgpNode[] = [];
  for (const n of nodes) {
    const bgp = n.spec.bgp;
    const address = bgp?.ipv4Address?.split('/')[0];
    if (!address) continue;
    const address6 = bgp?.ipv6Address?.split('/')[0];
    const labels = n.spec.labels ?? {};
    const clusterId = bgp?.routeReflectorClusterID || (reflectors?.selector.matches(labels) ? reflectors.clusterId : undefined);
    out.push({
      name: n.name, address, labels,
      ...(address6 ? { address6: canonicalAddress(address6) } : {}),
      ...(clusterId ? { routeReflectorClusterId: clusterId } : {}),
      ...(bgp?.asNumber !== undefined ? { asNumber: bgp.asNumber } : {}),
      ...details[n.name],
    });
  }
  return out;
}

export interface BgpNodeServiceOptions {
  readonly node: string;
  readonly store: KeyValueStore;
  readonly registry: NodeRegistry;
  /**
   * Fields that override the datastore's BGPConfiguration/BGPPeers/BGPFilters (for tests and the
   * standalone file). @default everything from the datastore
   */
  readonly cluster?: ClusterBgpConfig;
  /** Labels, AS and reflector cluster id per node name (from the Node resources). @default none */
  readonly nodeDetails?: Readonly<Record<string, Partial<BgpNode>>>;
  /**
   * Reads a BGP password from a Secret (Calico: in calico-node's namespace, `secretKeyRef`); undefined
   * when missing. @default none (peers with a password are refused)
   */
  readonly secret?: (name: string, key: string) => Promise<string | undefined>;
  /** Which nodes are route reflectors when their Node does not say. @default only Nodes with a cluster id */
  readonly routeReflectors?: RouteReflectorRule;
  readonly kernel?: Kernel;
  /** Speaker settings that are not derived (listen address, timers, families). @default BgpSpeaker's defaults */
  readonly speaker?: Partial<Omit<BgpSpeakerConfig, 'routerId' | 'asn' | 'clusterId' | 'peers' | 'localRoutes' | 'kernel' | 'listenPort'>>;
  readonly log?: (line: string) => void;
  /**
   * The datastore's reachability (`observedStore`), which logs lost and regained once each: while
   * lost, failed watches and resyncs are not logged again. @default every failure is logged
   */
  readonly outage?: OutageLog;
}

/**
 * The routing half of calico-node in BGP mode (confd + BIRD in Calico): watches the node list, the
 * IPAM blocks and the BGPConfiguration/BGPPeer/BGPFilter resources in the datastore, keeps the
 * speaker's peers equal to `planNodePeers` and its advertisements equal to this node's blocks. Runs beside the Calico-style agent, which keeps the
 * blackholes for its own blocks; the speaker programs the routes it learns (proto 186).
 */
export class BgpNodeService {
  private speaker?: BgpSpeaker;
  private readonly ipam: BlockIpam;
  /** BGPConfiguration/BGPPeer/BGPFilter records: bad ones reported once, last good versions kept. */
  private readonly records: RecordReader;
  private readonly watches: WatchHandle[] = [];
  private pending?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private plan?: NodeBgpPlan;
  private cluster: ClusterBgpConfig = {};
  private lastErrors = '';
  private stopped = false;

  constructor(private readonly options: BgpNodeServiceOptions) {
    const onBadRecord = (e: BadRecordError, standIn: boolean) => options.log?.(`bgp: datastore record refused${standIn ? '; its last good version stays in force' : ''}: ${e.message}`);
    this.ipam = new BlockIpam(options.store, { onBadRecord });
    this.records = new RecordReader(onBadRecord);
  }

  get bgp(): BgpSpeaker | undefined {
    return this.speaker;
  }

  async start(): Promise<void> {
    const o = this.options;
    const { plan, routes } = await this.desired();
    this.plan = plan;
    this.speaker = new BgpSpeaker(this.speakerConfig(plan, routes), o.log);
    await this.speaker.start();
    const trigger = () => this.schedule();
    this.watches.push(
      o.store.watch(CALICO_KEYS.blocks, trigger), o.store.watch(CALICO_KEYS.pools, trigger), o.registry.watch(trigger),
    );
    for (const key of Object.values(BGP_KEYS)) {
      try {
        this.watches.push(o.store.watch(key, trigger, { onError: (e) => this.datastoreFailed(`bgp: watching ${key}: ${e.message}`) }));
      } catch (e) {
        o.log?.(`bgp: not watching ${key}: ${(e as Error).message}`);
      }
    }
  }

  /**
   * calico-node's `-bird-ready`, as the agent's readiness asks it: undefined when ready, else why
   * not. Ready once a session with at least one peer is Established; with no peer to reach (a
   * single node, say) there is nothing to wait for.
   */
  notReady(): string | undefined {
    const speaker = this.speaker;
    if (!speaker) return 'BGP speaker not started';
    const peers = speaker.status().filter((p) => p.state !== 'Refused');
    if (!peers.length || peers.some((p) => p.state === 'Established')) return undefined;
    return `no BGP session Established yet (peers ${peers.map((p) => `${p.address} ${p.state}`).join(', ')})`;
  }

  async stop(options: { readonly restarting?: boolean } = {}): Promise<void> {
    // A change announced while the watches close must not schedule a pass that brings peers back.
    this.stopped = true;
    if (this.pending) clearTimeout(this.pending);
    await Promise.all(this.watches.map((w) => w.close().catch(() => undefined)));
    await this.running.catch(() => undefined);
    await this.speaker?.stop(options);
  }

  private speakerConfig(plan: NodeBgpPlan, routes: string[]): BgpSpeakerConfig {
    const o = this.options;
    return { ...o.speaker, ...plan, listenPort: this.cluster.listenPort ?? 179, localRoutes: routes, kernel: o.kernel };
  }

  private async desired(): Promise<{ plan: NodeBgpPlan; routes: string[] }> {
    const o = this.options;
    const pools = await this.ipam.pools();
    // Checked against the pools: a block outside every pool is not advertised.
    const [nodes, blocks, stored] = await Promise.all([o.registry.list(), this.ipam.blocks(pools), readClusterBgpConfig(o.store, this.records)]);
    const errors = stored.errors.join('\n');
    if (errors && errors !== this.lastErrors) for (const e of stored.errors) o.log?.(`bgp: ignoring ${e}`);
    this.lastErrors = errors;
    const overrides = Object.fromEntries(Object.entries(o.cluster ?? {}).filter(([, v]) => v !== undefined));
    this.cluster = { ...stored.cluster, ...overrides };
    const passwords = new Map<string, string>();
    for (const p of this.cluster.peers ?? []) {
      if (!p.password || !o.secret) continue;
      const ref = `${p.password.secretName}/${p.password.key}`;
      if (passwords.has(ref)) continue;
      const value = await o.secret(p.password.secretName, p.password.key).catch((e: Error) => {
        o.log?.(`bgp: reading password Secret ${ref}: ${e.message}`);
        return undefined;
      });
      if (value) passwords.set(ref, value);
    }
    // Dual-stack: one session per family with each peer (Calico's bird.cfg and bird6.cfg), IPv6 from the node's IPv6 address.
    const plan = planNodePeers(o.node, bgpNodes(nodes, o.nodeDetails, o.routeReflectors), this.cluster, (name, key) => passwords.get(`${name}/${key}`));
    return { plan, routes: localAdvertisements(o.node, blocks, pools, this.cluster.serviceCidrs) };
  }

  private schedule(): void {
    if (this.pending || this.stopped) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.running = this.running.then(() => this.resync()).catch((e: Error) => this.datastoreFailed(`bgp: resync: ${e.message}`));
    }, 20);
  }

  private datastoreFailed(line: string): void {
    if (!this.options.outage?.lost) this.options.log?.(line);
  }

  private async resync(): Promise<void> {
    if (this.stopped) return;
    const { plan, routes } = await this.desired();
    if (this.stopped) return;
    const speaker = this.speaker as BgpSpeaker;
    if (plan.routerId !== this.plan?.routerId || plan.asn !== this.plan.asn || plan.clusterId !== this.plan.clusterId) {
      // Identity changed (address, AS or reflector role): a new speaker, as calico-node restarts BIRD.
      await speaker.stop();
      this.speaker = new BgpSpeaker(this.speakerConfig(plan, routes), this.options.log);
      await this.speaker.start();
    } else {
      speaker.setPeers(plan.peers);
      speaker.setLocalRoutes(routes);
    }
    this.plan = plan;
  }
}
