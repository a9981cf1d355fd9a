import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BadRecordError } from '../datastore/records';
import { KeyValueStore, WatchHandle } from '../datastore/types';
import { WatchCache, cachedStore } from '../datastore/watch-cache';
import { Logger, jsonLogger } from '../flannel/agent-log';
import { OutageLog } from '../datastore/outage';
import { Reconciler } from '../flannel/reconcile';
import { BlockIpam } from '../ipam/block-ipam';
import { IpPoolSpec, Pool } from '../ipam/block-model';
import { CALICO_KEYS } from '../ipam/calico-store';
import { ruleSetsEqual } from '../kernel/nft';
import { Kernel, Ownership } from '../kernel/types';
import { DetectedAddress, autodetectNodeAddress } from './autodetect';
import { FELIX_DEFAULTS, FelixSettings, felixLogLevel } from './felix-config';
import { FelixConfigFollower } from './felix-config-store';
import { LogLevel } from '../flannel/agent-log';
import { ModuleProbe, checkIpip, linuxModuleProbe } from './ipip';
import { NodeRegistry } from './node-registry';
import {
  CALICO_ROUTE_PROTOCOL, IPIP_DEVICE, NAT_RULESET, VXLAN_DEVICE, VXLAN_DEVICE_V6, VXLAN_OVERHEAD, VXLAN_OVERHEAD_V6, desiredRouting, natOutgoingRuleSet,
  usesIpip, usesVxlan, vtepMac,
} from './routes';

/** What the agent may change in the node's namespace: its tunnel devices, proto-80 routes, its NAT table. */
export const CALICO_AGENT_OWNERSHIP: Ownership = {
  links: [VXLAN_DEVICE, VXLAN_DEVICE_V6, IPIP_DEVICE],
  routeProtocol: CALICO_ROUTE_PROTOCOL,
  ruleSetPrefixes: [NAT_RULESET],
  sysctlPrefixes: ['net.ipv4.ip_forward', 'net.ipv4.conf.vxlan', 'net.ipv4.conf.tunl0'],
};

/** What the agent (and its BGP speaker) follow: its watch cache holds exactly these prefixes. */
export const CALICO_AGENT_PREFIXES: readonly string[] = [
  CALICO_KEYS.pools, CALICO_KEYS.blocks, CALICO_KEYS.nodes, 'bgpconfigurations/', 'bgppeers/', 'bgpfilters/', 'felixconfigurations/',
];

export interface CalicoAgentOptions {
  readonly node: string;
  /** Where the agent writes (IPAM for its tunnel addresses); reads come from `cache` when given. */
  readonly store: KeyValueStore;
  /**
   * The watch cache the agent computes its desired state from (fed by the datastore or by Typha),
   * holding `CALICO_AGENT_PREFIXES`; started by the agent. The registry should read through the same
   * cache (`cachedStore`). @default none: every pass lists from `store`
   */
  readonly cache?: WatchCache;
  readonly registry: NodeRegistry;
  readonly kernel: Kernel;
  /** `IP_AUTODETECTION_METHOD`. @default 'first-found' */
  readonly autodetect?: string;
  /** `IP6_AUTODETECTION_METHOD` when `IP6=autodetect`: the node's IPv6 address is registered too. @default no IPv6 */
  readonly autodetect6?: string;
  /** Created when no pool exists (Calico's default-ipv4-ippool from CALICO_IPV4POOL_*). @default none */
  readonly defaultPool?: IpPoolSpec;
  /** Shared with the CNI plugin: `nodename` and `mtu` are written here. @default '/var/lib/calico' */
  readonly stateDir?: string;
  /** Full resync period; overrides FelixConfiguration's routeRefreshInterval. @default FelixConfiguration's (Felix: 90 s) */
  readonly resyncSeconds?: number;
  /**
   * `FELIX_*` variables: they win over the FelixConfigurations (`default`, `node.<name>`) the agent
   * follows in the datastore (felix-config.ts). @default none
   */
  readonly felixEnv?: NodeJS.ProcessEnv;
  /** Applies FelixConfiguration's logSeverityScreen (the caller owns the logger). @default ignored */
  readonly setLogLevel?: (level: LogLevel) => void;
  /** Where `/metrics` is served; overrides FelixConfiguration's prometheusMetrics*. @default FelixConfiguration's (Felix: off) */
  readonly metrics?: { readonly port: number; readonly host?: string };
  /** `/liveness`, `/readiness`, `/metrics`. @default 127.0.0.1:9099; port 0 picks a free port; undefined in options = no server */
  readonly health?: { readonly port: number; readonly host?: string };
  readonly ipipProbe?: ModuleProbe;
  /**
   * The host's /proc/sys/net when /proc/sys is read-only in the agent's container (the manifests'
   * HOST_PROC_SYS_NET). @default write through the kernel layer (/proc/sys)
   */
  readonly procSysNet?: string;
  readonly log?: Logger;
  /**
   * The datastore's reachability (`observedStore`), which logs lost and regained once each: while
   * lost, failed watches and reads are counted but logged at debug level. @default always logged
   */
  readonly outage?: OutageLog;
  /**
   * The BGP speaker (CALICO_NETWORKING_BACKEND=bird), started once the node is registered and
   * stopped with the agent; it then routes remote blocks of unencapsulated pools. @default none
   */
  readonly bgp?: { start(): Promise<void>; stop(): Promise<void>; /** Why the speaker is not ready, or undefined. */ notReady(): string | undefined };
  /**
   * Writes and refreshes the CNI plugin's kubeconfig (CNI_KUBECONFIG; cni-kubeconfig.ts). Its first
   * write is part of start-up, so the agent is not ready before the plugin can reach the API;
   * stopped with the agent (the file stays). @default none
   */
  readonly cniKubeconfig?: { start(): Promise<void>; stop(): Promise<void> };
}

/** The line a refused datastore record costs (the error names the key, the field and the value). */
export function logBadRecord(log: Logger, error: BadRecordError, standIn: boolean): void {
  log.warn(standIn ? 'datastore record refused; its last good version stays in force' : 'datastore record refused; skipped', { error: error.message });
}

class CalicoAgentMetrics {
  readonly registry = new Registry();
  readonly routes = new Gauge({ name: 'cnikit_calico_routes', help: 'Routes the agent keeps programmed (blackholes, remote blocks, borrowed /32s)', registers: [this.registry] });
  readonly refusedNodes = new Gauge({ name: 'cnikit_calico_refused_nodes', help: 'Remote nodes that cannot be routed to', registers: [this.registry] });
  readonly localBlocks = new Gauge({ name: 'cnikit_calico_local_blocks', help: 'IPAM blocks affine to this node', registers: [this.registry] });
  readonly reconcileDuration = new Histogram({ name: 'cnikit_calico_reconcile_duration_seconds', help: 'One reconcile pass', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly changes = new Counter({ name: 'cnikit_calico_kernel_changes_total', help: 'Kernel changes applied, by kind', labelNames: ['op'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'cnikit_calico_errors_total', help: 'Errors, by where they happened', labelNames: ['source'], registers: [this.registry] });
  readonly badRecords = new Counter({ name: 'cnikit_calico_bad_records_total', help: 'Datastore records refused (once per revision of a record)', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}

/**
 * The Calico-style node agent (the routing part of Felix + calico-node start-up): detects the
 * node address, refuses IPIP without the module, gets a VXLAN tunnel address from IPAM, registers
 * the node, then keeps routes, tunnel neighbours/FDB and NAT outgoing equal to what pools, blocks
 * and nodes say. Level-triggered: every change or resync recomputes everything; stop() leaves
 * every route in place.
 */
export class CalicoAgent {
  readonly metrics = new CalicoAgentMetrics();
  private readonly log: Logger;
  private readonly ipam: BlockIpam;
  /** Reads: the cache when there is one. */
  private readonly view: BlockIpam;
  private readonly viewStore: KeyValueStore;
  private readonly reconciler: Reconciler;
  private readonly watches: WatchHandle[] = [];
  private server?: http.Server;
  private metricsServer?: { readonly server: http.Server; readonly at: string };
  private felix?: FelixConfigFollower;
  private timer?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private ready = false;
  private stopped = false;
  private lastPass = 0;
  /** Kernel changes of the last pass that failed: routes are not all programmed while there are any. */
  private lastFailures: string[] = [];
  private detected?: DetectedAddress;
  private detected6?: DetectedAddress;
  private uplinkMtu = 1500;
  private uplinkMtu6 = 1500;
  private vxlanTunnelAddress?: string;
  private vxlanTunnelAddress6?: string;
  private ipip = false;
  private ipipTunnelAddress?: string;

  constructor(private readonly options: CalicoAgentOptions) {
    this.log = options.log ?? jsonLogger('info');
    const onBadRecord = (error: BadRecordError, standIn: boolean) => this.badRecord(error, standIn);
    this.ipam = new BlockIpam(options.store, { onBadRecord });
    this.viewStore = options.cache ? cachedStore(options.store, options.cache) : options.store;
    this.view = new BlockIpam(this.viewStore, { onBadRecord });
    this.reconciler = new Reconciler(options.kernel, CALICO_ROUTE_PROTOCOL);
  }

  get nodeAddress(): string | undefined {
    return this.detected?.address;
  }

  get tunnelAddress(): string | undefined {
    return this.vxlanTunnelAddress;
  }

  /** This node's IPv6 VXLAN tunnel address (vxlan-v6.calico), when an IPv6 pool uses VXLAN and the node has an IPv6 address. */
  get tunnelAddress6(): string | undefined {
    return this.vxlanTunnelAddress6;
  }

  /** Port the health server listens on (after start). */
  get healthPort(): number | undefined {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : undefined;
  }

  async start(): Promise<void> {
    const o = this.options;
    if (o.health) await this.listen(o.health.port, o.health.host ?? '127.0.0.1');
    await o.cache?.start();
    await this.followFelix();
    this.detected = await autodetectNodeAddress(o.kernel, o.autodetect ?? 'first-found');
    this.detected6 = o.autodetect6 ? await autodetectNodeAddress(o.kernel, o.autodetect6, 6) : undefined;
    const links = await o.kernel.links();
    this.uplinkMtu = links.find((l) => l.name === this.detected?.interface)?.mtu ?? 1500;
    this.uplinkMtu6 = links.find((l) => l.name === this.detected6?.interface)?.mtu ?? this.uplinkMtu;
    await this.ensureDefaultPool();
    const pools = await this.ipam.pools();
    this.ipip = await checkIpip(pools, o.ipipProbe ?? linuxModuleProbe);
    this.ipipTunnelAddress = this.ipip && usesIpip(pools) ? await this.tunnelAddressFor('ipip', pools) : undefined;
    const ipipAddress = this.ipipTunnelAddress;
    await this.followVxlan(pools);
    if (ipipAddress) await o.kernel.apply([{ op: 'addr.replace', address: { dev: IPIP_DEVICE, cidr: `${ipipAddress}/32` } }, { op: 'link.set', change: { name: IPIP_DEVICE, up: true } }]);
    await this.writeStateFiles(pools);
    await o.cniKubeconfig?.start();
    if (this.stopped) return;
    if (this.settings.ipForwarding) await this.ensureForwarding();
    this.log.info('node registered', {
      node: o.node, address: this.detected.address, interface: this.detected.interface, vxlanTunnelAddress: this.vxlanTunnelAddress,
      ...(this.detected6 ? { address6: this.detected6.address, vxlanTunnelAddress6: this.vxlanTunnelAddress6 } : {}),
    });

    const trigger = () => this.schedule();
    this.watches.push(
      this.viewStore.watch(CALICO_KEYS.blocks, trigger, { onError: (e) => this.error('watch', e) }),
      this.viewStore.watch(CALICO_KEYS.pools, trigger, { onError: (e) => this.error('watch', e) }),
      o.registry.watch(trigger),
    );
    await o.bgp?.start();
    await this.reconcileNow();
    this.ready = true;
    this.startTimer();
  }

  /** The Felix settings in force: FelixConfiguration + FELIX_* (Felix's defaults before start). */
  get settings(): FelixSettings {
    return this.felix?.current ?? FELIX_DEFAULTS;
  }

  private resyncMs(): number {
    return (this.options.resyncSeconds ?? this.settings.routeRefreshIntervalSeconds) * 1000;
  }

  private startTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => this.schedule(), this.resyncMs());
    this.timer.unref();
  }

  /**
   * Reads FelixConfiguration `default` and `node.<name>` (through the cache) and follows them: VXLAN
   * VNI/port/MTU and forwarding apply on the next pass, the refresh interval resets the timer, the
   * log level and the metrics endpoint change at once. A bad value is reported and never applied.
   */
  private async followFelix(): Promise<void> {
    const o = this.options;
    this.felix = new FelixConfigFollower({
      store: this.viewStore, node: o.node, env: o.felixEnv ?? {},
      onChange: (result, previous) => {
        for (const e of result.errors) this.log.warn('FelixConfiguration value refused; the one in force stays', { error: e.message });
        this.log.info('FelixConfiguration changed', { changed: Object.keys(result.settings).filter((k) => result.settings[k as keyof FelixSettings] !== previous[k as keyof FelixSettings]) });
        this.applySettings(previous);
        this.schedule();
      },
      onError: (e) => this.error('felix-configuration', e),
    });
    const first = await this.felix.start();
    for (const e of first.errors) this.log.warn('FelixConfiguration value refused; Felix\'s default applies', { error: e.message });
    if (first.ignored.length) this.log.info('FelixConfiguration fields this agent does not use', { fields: [...first.ignored] });
    await this.applySettings();
  }

  private async applySettings(previous?: FelixSettings): Promise<void> {
    const s = this.settings;
    this.options.setLogLevel?.(felixLogLevel(s.logSeverityScreen));
    if (previous && this.ready && previous.routeRefreshIntervalSeconds !== s.routeRefreshIntervalSeconds) this.startTimer();
    const m = this.options.metrics ?? (s.prometheusMetricsEnabled ? { port: s.prometheusMetricsPort, host: s.prometheusMetricsHost } : undefined);
    const at = m ? `${m.host ?? ''}:${m.port}` : '';
    if (this.metricsServer?.at === at) return;
    const old = this.metricsServer;
    this.metricsServer = undefined;
    if (old) await new Promise<void>((resolve) => old.server.close(() => resolve()));
    if (m) {
      const server = http.createServer((req, res) => {
        if ((req.url ?? '/').split('?')[0] !== '/metrics') return void res.writeHead(404).end('not found\n');
        void this.metrics.registry.metrics().then((body) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(body));
      });
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(m.port, m.host || undefined, () => resolve()))
        .then(() => {
          this.metricsServer = { server, at };
        }, (e: Error) => this.error('metrics', e));
    }
  }

  /** Port `/metrics` is served on (after start), if it is. */
  get metricsPort(): number | undefined {
    const address = this.metricsServer?.server.address();
    return typeof address === 'object' && address ? address.port : undefined;
  }

  /** Stops watching and serving; routes, tunnel device and NAT rules stay (calico#9584). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    await Promise.all(this.watches.map((w) => w.close().catch(() => undefined)));
    await this.running?.catch(() => undefined);
    await this.felix?.stop();
    await this.options.cache?.stop();
    await this.options.bgp?.stop().catch((e: Error) => this.error('bgp', e));
    await this.options.cniKubeconfig?.stop().catch((e: Error) => this.error('cni-kubeconfig', e));
    for (const server of [this.server, this.metricsServer?.server]) if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Coalesces bursts of changes into one pass. */
  private schedule(): void {
    if (this.stopped || this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.reconcileNow().catch((e: Error) => this.error('reconcile', e));
    }, 20);
  }

  async reconcileNow(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async pass(): Promise<void> {
    const o = this.options;
    const end = this.metrics.reconcileDuration.startTimer();
    const pools = await this.view.pools();
    if (usesVxlan(pools) !== (this.vxlanTunnelAddress !== undefined) || this.wantsVxlan6(pools) !== (this.vxlanTunnelAddress6 !== undefined)) await this.followVxlan(pools);
    const [blocks, nodes] = await Promise.all([this.view.blocks(pools), o.registry.list()]);
    const desired = desiredRouting({
      node: o.node,
      nodeAddress: this.detected?.address ?? '0.0.0.0/32',
      uplink: this.detected?.interface ?? 'eth0',
      uplinkMtu: this.uplinkMtu,
      pools,
      blocks,
      nodes,
      vxlanTunnelAddress: this.vxlanTunnelAddress,
      ...(this.detected6 ? { nodeAddress6: this.detected6.address, uplink6: this.detected6.interface, uplinkMtu6: this.uplinkMtu6 } : {}),
      vxlanTunnelAddress6: this.vxlanTunnelAddress6,
      ipipTunnelAddress: this.ipipTunnelAddress,
      bgp: o.bgp !== undefined,
      vxlanVni: this.settings.vxlanVni,
      vxlanPort: this.settings.vxlanPort,
      vxlanMtu: this.settings.vxlanMtu,
      vxlanMtu6: this.settings.vxlanMtuV6,
      ...(this.settings.vxlanEnabled !== undefined ? { vxlanEnabled: this.settings.vxlanEnabled } : {}),
      ...(this.settings.ipipEnabled !== undefined ? { ipipEnabled: this.settings.ipipEnabled } : {}),
    });
    if (this.settings.ipForwarding) await this.ensureForwarding();
    const result = await this.reconciler.reconcile(desired);
    for (const op of result.ops) this.metrics.changes.inc({ op: op.op });
    for (const f of result.failures) this.log.warn('kernel change failed', { op: f.op.op, error: f.message });
    this.lastFailures = result.failures.map((f) => `${f.op.op}: ${f.message}`);
    for (const family of [4, 6] as const) {
      const nat = natOutgoingRuleSet(pools, family);
      const current = await o.kernel.ruleSet(NAT_RULESET, family);
      if (nat && !ruleSetsEqual(current, nat)) await o.kernel.replaceRuleSet(nat);
      if (!nat && current) await o.kernel.deleteRuleSet(NAT_RULESET, family);
    }
    this.metrics.routes.set(result.routes);
    this.metrics.refusedNodes.set(desired.refusals.length);
    this.metrics.localBlocks.set(blocks.filter((b) => b.affinity === `host:${o.node}`).length);
    for (const r of desired.refusals) this.log.debug('node not routable', { node: r.lease, reason: r.reason });
    if (result.ops.length) this.log.info('reconciled', { changes: result.ops.length, routes: result.routes });
    this.lastPass = Date.now();
    end();
  }

  /** One line per bad revision of a record (BlockIpam reports each revision once). */
  private badRecord(error: BadRecordError, standIn: boolean): void {
    this.metrics.badRecords.inc();
    logBadRecord(this.log, error, standIn);
  }

  /** An IPv6 pool uses VXLAN and the node has an IPv6 address to carry it over (IP6=autodetect). */
  private wantsVxlan6(pools: readonly Pool[]): boolean {
    return usesVxlan(pools, 6) && this.detected6 !== undefined;
  }

  /**
   * VXLAN follows the pools, per family: a tunnel address (kept across restarts by its IPAM handle)
   * and the node's registration while a pool of that family uses it; when none does any more, the
   * address is released, the registration loses its tunnel fields and the device goes. IPv6 needs
   * the node's IPv6 address as well (Felix sends no IPv6 VTEP without it).
   */
  private async followVxlan(pools: readonly Pool[]): Promise<void> {
    const o = this.options;
    if (usesVxlan(pools)) {
      this.vxlanTunnelAddress = await this.tunnelAddressFor('vxlan', pools);
    } else if (this.vxlanTunnelAddress !== undefined) {
      this.vxlanTunnelAddress = undefined;
      await this.ipam.releaseByHandle(tunnelHandle('vxlan', o.node));
      await o.kernel.apply([{ op: 'link.del', name: VXLAN_DEVICE }]);
      this.log.info('no pool uses VXLAN any more: tunnel address released, vxlan.calico removed');
    }
    if (this.wantsVxlan6(pools)) {
      this.vxlanTunnelAddress6 = await this.tunnelAddressFor('vxlan-v6', pools);
    } else {
      if (usesVxlan(pools, 6)) this.log.warn('an IPv6 pool uses VXLAN but this node has no IPv6 address (IP6=autodetect): no vxlan-v6.calico, IPv6 blocks are not routed here');
      if (this.vxlanTunnelAddress6 !== undefined) {
        this.vxlanTunnelAddress6 = undefined;
        await this.ipam.releaseByHandle(tunnelHandle('vxlan-v6', o.node));
        await o.kernel.apply([{ op: 'link.del', name: VXLAN_DEVICE_V6 }]);
        this.log.info('no IPv6 pool uses VXLAN any more: IPv6 tunnel address released, vxlan-v6.calico removed');
      }
    }
    await o.registry.register({
      name: o.node,
      spec: {
        bgp: { ipv4Address: this.detected?.address ?? '', ...(this.detected6 ? { ipv6Address: this.detected6.address } : {}) },
        ...(this.vxlanTunnelAddress ? { ipv4VXLANTunnelAddr: this.vxlanTunnelAddress, vxlanTunnelMACAddr: vtepMac(o.node) } : {}),
        ...(this.vxlanTunnelAddress6 ? { ipv6VXLANTunnelAddr: this.vxlanTunnelAddress6, vxlanTunnelMACAddrV6: vtepMac(o.node, 6) } : {}),
      },
    });
  }

  /** Routing pods needs forwarding; written only when off (it usually is on already on a Kubernetes node). */
  private async ensureForwarding(): Promise<void> {
    const dir = this.options.procSysNet;
    const current = dir ? (await fs.readFile(path.join(dir, 'ipv4', 'ip_forward'), 'utf8').catch(() => '')).trim()
      : await this.options.kernel.sysctl('net.ipv4.ip_forward');
    if (current === '1') return;
    if (dir) await fs.writeFile(path.join(dir, 'ipv4', 'ip_forward'), '1');
    else await this.options.kernel.setSysctls({ 'net.ipv4.ip_forward': '1' });
  }

  private async ensureDefaultPool(): Promise<void> {
    const pool = this.options.defaultPool;
    // Any pool record counts, a bad one too: a corrupt pool is not a missing one.
    if (!pool || (await this.options.store.list(CALICO_KEYS.pools)).items.length) return;
    await this.options.store.create(`${CALICO_KEYS.pools}default-ipv4-ippool`, JSON.stringify(pool)).catch(() => undefined);
  }

  /**
   * The node's tunnel address from IPAM (handle `<kind>-tunnel-addr-<node>` and attribute type as
   * Calico's allocateip), kept across restarts. The IPv6 VXLAN address comes from an IPv6 pool that
   * uses VXLAN, so it lies in one of the node's blocks of that pool.
   */
  private async tunnelAddressFor(kind: TunnelKind, pools: readonly Pool[]): Promise<string> {
    const node = this.options.node;
    const handleId = tunnelHandle(kind, node);
    const existing = await this.ipam.addressesOf(handleId);
    const family = kind === 'vxlan-v6' ? 6 : 4;
    const mine = existing.find((a) => a.includes(':') === (family === 6));
    if (mine) return mine;
    const vxlanPools6 = pools.filter((p) => p.cidr.family === 6 && !p.disabled && p.vxlanMode !== 'Never').map((p) => p.name);
    const [address] = await this.ipam.autoAssign({
      node, handleId, family, use: 'Tunnel', attributes: { node, type: TUNNEL_ATTRIBUTE[kind] },
      ...(kind === 'vxlan-v6' ? { pools: vxlanPools6 } : {}),
    });
    return address;
  }

  private async writeStateFiles(pools: readonly Pool[]): Promise<void> {
    const dir = this.options.stateDir ?? '/var/lib/calico';
    await fs.mkdir(dir, { recursive: true });
    // The smallest MTU of the encapsulations in use (Felix's determinePodMTU).
    const mtus = [
      ...(usesVxlan(pools) ? [this.uplinkMtu - VXLAN_OVERHEAD] : []),
      ...(this.wantsVxlan6(pools) ? [this.uplinkMtu6 - VXLAN_OVERHEAD_V6] : []),
      ...(this.ipip ? [this.uplinkMtu - 20] : []),
    ];
    await atomicWrite(path.join(dir, 'mtu'), `${mtus.length ? Math.min(...mtus) : this.uplinkMtu}\n`);
    await atomicWrite(path.join(dir, 'nodename'), this.options.node);
  }

  private error(source: string, error: Error): void {
    this.metrics.errors.inc({ source });
    if (this.options.outage?.lost) this.log.debug(`${source} failed`, { error: error.message });
    else this.log.error(`${source} failed`, { error: error.message });
  }

  /**
   * Ready means routed: start-up finished, the last pass programmed every route, and in BGP mode a
   * session is Established (calico-node's -felix-ready and -bird-ready). Undefined when ready.
   */
  notReady(): string | undefined {
    if (!this.ready) return 'start-up has not finished (node address, tunnel address, CNI kubeconfig, first reconcile)';
    if (this.lastFailures.length) return `${this.lastFailures.length} kernel change(s) failed in the last pass, first: ${this.lastFailures[0]}`;
    return this.options.bgp?.notReady();
  }

  private listen(port: number, host: string): Promise<void> {
    const server = http.createServer((req, res) => void this.serve(req.url ?? '/', res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  }

  private async serve(url: string, res: http.ServerResponse): Promise<void> {
    const route = url.split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const resync = this.resyncMs();
    if (route === '/liveness') {
      // Live while passes keep happening (a wedged loop fails liveness after three missed resyncs).
      return this.ready && Date.now() - this.lastPass > 3 * resync ? send(503, 'reconcile loop stalled\n') : send(200, 'ok\n');
    }
    if (route === '/readiness') {
      const why = this.notReady();
      return why ? send(503, `not ready: ${why}\n`) : send(200, 'ok\n');
    }
    send(404, 'not found\n');
  }
}

type TunnelKind = 'vxlan' | 'vxlan-v6' | 'ipip';

/** Calico's IPAM attribute `type` of each tunnel address (libcalico-go ipam.AttributeType*). */
const TUNNEL_ATTRIBUTE: Readonly<Record<TunnelKind, string>> = { vxlan: 'vxlanTunnelAddress', 'vxlan-v6': 'vxlanV6TunnelAddress', ipip: 'ipipTunnelAddress' };

/** `vxlan-tunnel-addr-<node>`, `vxlan-v6-tunnel-addr-<node>`, `ipip-tunnel-addr-<node>` (calico-node's allocateip). */
function tunnelHandle(kind: TunnelKind, node: string): string {
  return `${kind}-tunnel-addr-${node}`;
}

async function atomicWrite(file: string, content: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, content, { mode: 0o644 });
  await fs.rename(tmp, file);
}
