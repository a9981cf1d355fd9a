import { Kernel } from '../kernel/types';
import { Backend, ExternalInterface, FLANNEL_ROUTE_PROTOCOL, Refusal } from './backend';
import { createBackend } from './backends';
import { vxlanDeviceName, parseVxlanOptions } from './backends/vxlan';
import { gatherInterfaceFacts, InterfaceSelection, selectInterface } from './agent-interface';
import { HealthServer } from './agent-health';
import { Logger } from './agent-log';
import { AgentMetrics } from './agent-metrics';
import { chooseVtepMac } from './agent-vtep';
import { Lease, LeaseEvent, LeaseManager, Stoppable } from './lease';
import { FlannelNetConfig, netConfigToJson } from './net-config';
import { Reconciler } from './reconcile';
import { flannelRuleSet, reconcileRuleSet } from './reconcile-rules';
import { writeSubnetEnv } from './subnet-env';
import { ValidationError } from '../../model/errors';
import { OutageLog } from '../datastore/outage';

export interface FlannelAgentOptions {
  readonly leases: LeaseManager;
  /** The node's kernel; the agent owns `flannel.*` links, routes of FLANNEL_ROUTE_PROTOCOL and `flannel*` rule sets. */
  readonly kernel: Kernel;
  readonly selection: InterfaceSelection;
  /** Where the CNI plugin reads FLANNEL_* (--subnet-file). */
  readonly subnetFile: string;
  /** Where the agent keeps what must survive restarts (the VTEP MAC). */
  readonly stateDir: string;
  /** --ip-masq */
  readonly ipMasq: boolean;
  /** --iptables-forward-rules. @default true */
  readonly forwardRules?: boolean;
  /** Seconds between full resyncs that repair drift (routes, neighbours, FDB, rules). */
  readonly resyncSeconds: number;
  /** --healthz-port (0 or undefined: no server). */
  readonly healthz?: { readonly port: number; readonly host?: string };
  readonly log: Logger;
  readonly metrics?: AgentMetrics;
  /**
   * The datastore's reachability as its client reports it (`observedStore`), which logs one line
   * when it is lost and one when it is regained: while lost, the agent's own datastore errors are
   * counted but logged at debug level only. @default every error is a warning
   */
  readonly outage?: OutageLog;
  /** Called when the agent cannot go on (its lease was revoked); the executable exits. */
  readonly onFatal: (error: Error) => void;
}

/** The kernel objects a flannel agent may change; everything else in the namespace is left alone. */
export const FLANNEL_OWNERSHIP = {
  linkPrefixes: ['flannel.', 'flannel-v6.'],
  routeProtocol: FLANNEL_ROUTE_PROTOCOL,
  ruleSetPrefixes: ['flannel'],
  sysctlPrefixes: ['net.ipv4.conf.flannel', 'net.ipv6.conf.flannel'],
} as const;

/**
 * flanneld, recomposed: lease manager → interface → backend → lease → rules → subnet file →
 * ready → watch leases and reconcile (on every change and every `resyncSeconds`). Stopping
 * leaves every route, neighbour and device in place: a restart must not disturb traffic.
 */
export class FlannelAgent {
  public readonly metrics: AgentMetrics;
  private readonly leaseMap = new Map<string, Lease>();
  private readonly stoppables: Stoppable[] = [];
  private health?: HealthServer;
  private reconciler!: Reconciler;
  private backend!: Backend;
  private config!: FlannelNetConfig;
  private ownLease!: Lease;
  private external!: ExternalInterface;
  private ready = false;
  /** The watch delivered the full list of leases at least once: removals are now safe. */
  private synced = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private running?: Promise<void>;
  private again = false;
  private reportedRefusals = new Set<string>();
  private lastConfigWarning?: string;

  constructor(private readonly options: FlannelAgentOptions) {
    this.metrics = options.metrics ?? new AgentMetrics();
  }

  public get isReady(): boolean {
    return this.ready;
  }

  public get lease(): Lease {
    return this.ownLease;
  }

  public get externalInterface(): ExternalInterface {
    return this.external;
  }

  public async start(): Promise<void> {
    const { log, kernel, leases } = this.options;
    if (this.options.healthz?.port) {
      this.health = new HealthServer(() => this.ready, this.metrics);
      const port = await this.health.listen(this.options.healthz.port, this.options.healthz.host);
      log.info('health server listening', { port });
    }
    this.config = await leases.getNetworkConfig();
    if (!this.config.ipv4) throw new ValidationError('net-conf.json.EnableIPv4', false, 'IPv4 enabled (IPv6-only networks are not supported; use dual-stack)');

    const facts = await gatherInterfaceFacts(kernel);
    this.external = selectInterface(this.options.selection, facts);
    log.info('using interface', { iface: this.external.name, publicIp: this.external.address, publicIpv6: this.external.address6, mtu: this.external.mtu });
    if (this.config.ipv6 && !this.external.address6) {
      throw new ValidationError('--public-ipv6', undefined, `an IPv6 address on ${this.external.name} (IPv6Network is configured) or --public-ipv6`);
    }
    const ifaceIps = this.external.prefixes.map((p) => p.split('/')[0]);
    if (this.config.backend.type === 'host-gw' && !ifaceIps.includes(this.external.address)) {
      throw new ValidationError('--public-ip', this.external.address, `an address of ${this.external.name} (${ifaceIps.join(', ')}): host-gw routes via the interface address`);
    }

    const macs: { 4?: string; 6?: string } = {};
    if (this.config.backend.type === 'vxlan') {
      const previousLease = await leases.previousLease(this.external.address, this.config.ipv6 ? this.external.address6 : undefined);
      for (const family of this.config.ipv6 ? [4, 6] as const : [4] as const) {
        const device = vxlanDeviceName(parseVxlanOptions(this.config.backend.options).vni, family);
        const chosen = await chooseVtepMac({ device, links: facts.links, stateDir: this.options.stateDir, previousLease, family });
        macs[family] = chosen.mac;
        log.info('vtep mac', { device, mac: chosen.mac, source: chosen.source });
      }
    }
    this.backend = createBackend(this.config.backend, { external: this.external, vtepMac: macs[4], vtepMac6: macs[6] });
    this.reconciler = new Reconciler(kernel, FLANNEL_ROUTE_PROTOCOL);

    this.ownLease = await leases.acquireLease({
      publicIp: this.external.address,
      backendType: this.backend.type,
      backendData: this.backend.backendData,
      ...(this.config.ipv6 ? { publicIpv6: this.external.address6, backendV6Data: this.backend.backendV6Data } : {}),
    });
    this.leaseMap.set(this.ownLease.key, this.ownLease);
    this.metrics.leaseExpiry.set(this.ownLease.expiration ? this.ownLease.expiration.getTime() / 1000 : 0);
    log.info('lease acquired', { lease: this.ownLease.key, subnet: String(this.ownLease.subnet), ipv6Subnet: this.ownLease.ipv6Subnet?.toString(), backend: this.backend.type });

    // The first pass only adds (device, address, rules): peers' routes from before a restart stay
    // until the full list of leases says whether they are still wanted.
    await this.reconcileNow('start');
    await this.writeSubnetFile();
    this.ready = true;
    log.info('ready', { subnet: String(this.ownLease.subnet), mtu: this.backend.mtu, subnetFile: this.options.subnetFile });

    let listed!: () => void;
    const firstList = new Promise<void>((resolve) => (listed = resolve));
    this.stoppables.push(leases.watchLeases((events) => {
      this.onLeaseEvents(events);
      listed();
    }, {
      onError: (error) => this.datastoreError('watch', 'lease watch error; retrying', error),
      onRefused: (reason) => {
        this.metrics.errors.inc({ source: 'lease-record' });
        log.warn('lease refused', { reason });
      },
    }));
    await firstList;
    this.synced = true;
    await this.reconcileNow('initial-list');
    this.stoppables.push(leases.keepLease(this.ownLease, {
      onRenewed: (lease) => {
        this.ownLease = lease;
        this.metrics.leaseExpiry.set(lease.expiration ? lease.expiration.getTime() / 1000 : 0);
        log.info('lease renewed', { lease: lease.key, expiration: lease.expiration?.toISOString() });
      },
      onRevoked: (lease) => {
        log.error('Lease has been revoked', { lease: lease.key });
        this.options.onFatal(new Error(`lease ${lease.key} has been revoked`));
      },
      onError: (error) => this.datastoreError('lease-renew', 'lease renewal failed; retrying', error),
      onRepaired: (lease, reason) => {
        this.metrics.errors.inc({ source: 'lease-record' });
        log.warn('own lease was corrupt; rewrote it with this node\'s attributes, keeping the subnet', { lease: lease.key, reason });
      },
    }));
    await leases.completeLease(this.ownLease);
    this.timer = setInterval(() => void this.resync(), this.options.resyncSeconds * 1000);
  }

  /** Stops watching and resyncing. The kernel keeps every route, neighbour, FDB entry and device. */
  public async stop(): Promise<void> {
    this.stopped = true;
    this.ready = false;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    await Promise.all(this.stoppables.splice(0).map((s) => s.stop().catch(() => undefined)));
    await this.running?.catch(() => undefined);
    await this.options.leases.close().catch(() => undefined);
    await this.health?.close();
  }

  /** Runs one reconcile pass now (serialised with the others). */
  public reconcileNow(trigger: string): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.reconcileOnce(trigger);
        } while (this.again && !this.stopped);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private onLeaseEvents(events: readonly LeaseEvent[]): void {
    for (const { type, lease } of events) {
      if (type === 'added') this.leaseMap.set(lease.key, lease);
      else this.leaseMap.delete(lease.key);
      this.options.log.info(type === 'added' ? 'lease added' : 'lease removed', { lease: lease.key, publicIp: lease.attrs.publicIp });
    }
    if (this.debounce) clearTimeout(this.debounce);
    if (this.synced) this.debounce = setTimeout(() => void this.reconcileNow('watch').catch(() => undefined), 50);
  }

  private async resync(): Promise<void> {
    if (this.stopped) return;
    await this.checkConfig();
    await this.reconcileNow('resync').catch(() => undefined);
  }

  private async reconcileOnce(trigger: string): Promise<void> {
    const { log, kernel } = this.options;
    const end = this.metrics.reconcileDuration.startTimer({ trigger });
    try {
      const leases = [...this.leaseMap.values()];
      const desired = this.backend.desired(this.ownLease, leases);
      this.reportRefusals(desired.refusals);
      const result = await this.reconciler.reconcile(desired, { prune: this.synced });
      let ruleChanged = false;
      for (const [range, podCidr, family] of [[this.config.ipv4, this.ownLease.subnet, 4], [this.config.ipv6, this.ownLease.ipv6Subnet, 6]] as const) {
        if (!range) continue;
        const desiredRules = podCidr
          ? flannelRuleSet({ network: range.network, podCidr, ipMasq: this.options.ipMasq, forwardRules: this.options.forwardRules })
          : undefined;
        if (await reconcileRuleSet(kernel, desiredRules, family)) ruleChanged = true;
      }
      for (const op of result.ops) this.metrics.changes.inc({ op: op.op });
      if (ruleChanged) this.metrics.changes.inc({ op: 'ruleset.replace' });
      this.metrics.leases.set(leases.length);
      this.metrics.routes.set(result.routes);
      this.metrics.refusedPeers.set(desired.refusals.length);
      for (const failure of result.failures) {
        this.metrics.errors.inc({ source: 'kernel' });
        log.warn('kernel change failed', { op: failure.op.op, error: failure.message });
      }
      if (result.ops.length || ruleChanged) {
        log.info('reconciled', { trigger, changes: result.ops.length, rulesReplaced: ruleChanged, routes: result.routes, leases: leases.length });
      }
    } catch (error) {
      this.metrics.errors.inc({ source: 'reconcile' });
      log.error('reconcile failed', { trigger, error: (error as Error).message });
      throw error;
    } finally {
      end();
    }
  }

  private reportRefusals(refusals: readonly Refusal[]): void {
    const now = new Set(refusals.map((r) => `${r.lease}|${r.reason}`));
    for (const r of refusals) {
      if (!this.reportedRefusals.has(`${r.lease}|${r.reason}`)) this.options.log.warn(r.reason, { lease: r.lease });
    }
    this.reportedRefusals = now;
  }

  /**
   * Re-reads the network config. A bad or incompatible update (new Network or backend type needs
   * a restart, as in flannel) is logged and counted; the agent keeps running on the last good one.
   */
  private async checkConfig(): Promise<void> {
    try {
      const latest = await this.options.leases.getNetworkConfig();
      const before = JSON.stringify(netConfigToJson(this.config));
      const after = JSON.stringify(netConfigToJson(latest));
      if (after !== before && after !== this.lastConfigWarning) {
        this.lastConfigWarning = after;
        this.metrics.errors.inc({ source: 'config' });
        this.options.log.warn('network config changed; Network and Backend changes need an agent restart, keeping the running config', {
          running: before,
        });
      }
    } catch (error) {
      this.lastConfigWarning = undefined;
      this.datastoreError('config', 'network config unreadable; keeping the last good one', error as Error);
    }
  }

  /** Counted always; a warning unless the datastore is known to be away (the outage log said so once). */
  private datastoreError(source: string, msg: string, error: Error): void {
    this.metrics.errors.inc({ source });
    if (this.options.outage?.lost) this.options.log.debug(msg, { error: error.message });
    else this.options.log.warn(msg, { error: error.message });
  }

  private async writeSubnetFile(): Promise<void> {
    await writeSubnetEnv(this.options.subnetFile, {
      network: this.config.ipv4!.network,
      subnet: this.ownLease.subnet,
      ipv6Network: this.config.ipv6?.network,
      ipv6Subnet: this.config.ipv6 ? this.ownLease.ipv6Subnet : undefined,
      mtu: this.backend.mtu,
      ipMasq: this.options.ipMasq,
    });
  }
}
