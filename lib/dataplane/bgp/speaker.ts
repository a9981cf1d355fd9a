import * as net from 'node:net';
import { normalizeRoute } from '../kernel/normalize';
import { Kernel, KernelOp, Route } from '../kernel/types';
import { Clock, systemClock } from './session/clock';
import { PeerConnection } from './session/connection';
import { Negotiated } from './session/fsm';
import { TCP_MD5_MAX_KEY_BYTES, TcpMd5, loadTcpMd5, tcpMd5Unsupported } from './session/md5';
import { BgpFilterSpec, filterAccepts, prefixWithin } from './rib/filter';
import { ExportedRoute, NextHopMode, buildUpdates, exportRoute } from './rib/export';
import { PeerInfo, Rib, familyOf } from './rib/rib';
import { AddressFamily, canonicalAddress, canonicalPrefix, familyOfAddress } from './wire/address';
import { endOfRib, endOfRibFamily } from './wire/update';
import { UpdateMessage } from './wire/types';

/** Linux rtm_protocol RTPROT_BGP: every kernel route the speaker programs carries it, and only those are touched. */
export const BGP_ROUTE_PROTOCOL = 186;

export interface BgpPeerConfig {
  readonly address: string;
  /** @default 179 */
  readonly port?: number;
  readonly asn: number;
  /** Wait for the peer to connect (Calico mesh: when the peer's address is the higher). @default false */
  readonly passive?: boolean;
  /** This node reflects routes to the peer as its route-reflector client. @default false */
  readonly rrClient?: boolean;
  /** @default 'Auto' */
  readonly nextHopMode?: NextHopMode;
  /**
   * TCP-MD5 password (session/md5.ts): the key is installed for this peer on the listening socket
   * and the session is passive (the peer connects). Refused in one line when the addon is missing.
   * @default none
   */
  readonly password?: string;
  /** Why this peer cannot run (e.g. its password Secret is unreadable): refused with this line. @default none */
  readonly refuse?: string;
  /**
   * Graceful-restart time advertised to this peer: how long it keeps our routes while we restart
   * (Calico's BGPPeer maxRestartTime / nodeMeshMaxRestartTime, BIRD's `graceful restart time`).
   * @default the speaker's gracefulRestartTime
   */
  readonly maxRestartTime?: number;
  /** BGPFilters (import and export rules) for this peer. @default none */
  readonly filters?: readonly BgpFilterSpec[];
  /** Source address for the session. @default the router id for IPv4 peers (Calico's sourceAddress UseNodeIP: the router id is the node IP) */
  readonly localAddress?: string;
  /**
   * Address families this session carries. As Calico runs BIRD (bird.cfg and bird6.cfg), an IPv4
   * session carries IPv4 unicast and an IPv6 session IPv6 unicast; a dual-stack node has one
   * session per family with each peer. Limited to the speaker's `families`.
   * @default the family of the peer's address
   */
  readonly families?: readonly AddressFamily[];
}

export interface BgpSpeakerConfig {
  readonly routerId: string;
  readonly asn: number;
  /** Route-reflector cluster id: set on nodes that are reflectors. @default not a reflector */
  readonly clusterId?: string;
  /** Address to listen on. @default '::' (all) */
  readonly listenAddress?: string;
  /** @default 179; 0 disables listening */
  readonly listenPort?: number;
  readonly peers: readonly BgpPeerConfig[];
  /** Prefixes this node originates (its blocks, service addresses). @default none */
  readonly localRoutes?: readonly string[];
  /** Graceful-restart time advertised in OPEN (RFC 4724) unless a peer sets its own. @default 120 */
  readonly gracefulRestartTime?: number;
  /** @default 90 */
  readonly holdTime?: number;
  /** Calico's BIRD uses 5 s. @default 5 */
  readonly connectRetryTime?: number;
  /** Families the speaker carries at all; each session carries those of its own (`BgpPeerConfig.families`) among them. @default ['ipv4', 'ipv6'] */
  readonly families?: readonly AddressFamily[];
  /** Where learned routes are programmed; undefined keeps them in the RIB only. */
  readonly kernel?: Kernel;
  /** @default BGP_ROUTE_PROTOCOL */
  readonly routeProtocol?: number;
  /**
   * Kernel metric of learned routes: Calico's ipv4NormalRoutePriority, so they sit behind any
   * route Felix-style agents program for the same prefix instead of fighting over it. @default 1024
   */
  readonly routeMetric?: number;
  /** Full kernel pass period (drift repair). @default 60 */
  readonly kernelResyncSeconds?: number;
  /** How long route changes gather before one kernel batch. @default 20 ms */
  readonly kernelBatchMs?: number;
}

interface PeerState {
  readonly config: BgpPeerConfig;
  info: PeerInfo;
  connection?: PeerConnection;
  /** Refused (e.g. a password we cannot honour): never started. */
  refused?: string;
  negotiated?: Negotiated;
  localAddress?: string;
  /** The connected prefix holding `localAddress` (from the kernel), for third-party next hops. */
  localSubnet?: string;
  sent: Map<string, ExportedRoute>;
  /** Families whose End-of-RIB arrived in the current session. */
  eor: Set<AddressFamily>;
  staleTimer?: unknown;
}

export interface PeerStatus {
  readonly address: string;
  /** The families the session carries (as configured; the OPENs may agree on fewer). */
  readonly families: readonly AddressFamily[];
  readonly state: string;
  readonly refused?: string;
  readonly received: number;
  readonly advertised: number;
}

/**
 * The glue of the BGP stack: one `PeerConnection` per configured peer, a shared `Rib`, Adj-RIB-Out
 * diffs sent as UPDATEs, and the Loc-RIB's learned best paths reconciled into the kernel (only
 * routes of `routeProtocol`). Graceful restart: a peer's routes stay (stale) for its restart time
 * after losing the session, and End-of-RIB or expiry removes what was not refreshed.
 */
export class BgpSpeaker {
  readonly rib: Rib;
  private readonly peers = new Map<string, PeerState>();
  private server?: net.Server;
  private running = false;
  private readonly dirty = new Set<string>();
  private kernelTimer?: unknown;
  private kernelRun: Promise<void> = Promise.resolve();
  /** Our routes as the kernel holds them after the last apply; undefined until read. */
  private programmed?: Map<string, Route>;
  private fullResync = true;
  private resyncTimer?: unknown;
  private readonly waiters: (() => void)[] = [];
  /**
   * RFC 4724 §4.1 for our own restart: kernel routes left by the previous run keep forwarding
   * until every peer has sent End-of-RIB (or the restart time passes); only then are the ones
   * nobody re-advertised deleted.
   */
  private awaitingEor = new Set<string>();
  private deferralTimer?: unknown;

  constructor(
    readonly config: BgpSpeakerConfig,
    private readonly log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
    private readonly clock: Clock = systemClock,
    /** TCP-MD5 keys (tests pass their own). @default the addon beside the bundle, if any */
    private readonly md5: TcpMd5 | undefined = loadTcpMd5(),
  ) {
    this.rib = new Rib({ routerId: config.routerId, asn: config.asn, clusterId: config.clusterId });
    for (const peer of config.peers) this.addPeer(canonicalPeer(peer));
  }

  get routeProtocol(): number {
    return this.config.routeProtocol ?? BGP_ROUTE_PROTOCOL;
  }

  async start(): Promise<void> {
    this.running = true;
    this.setLocalRoutes(this.config.localRoutes ?? []);
    const port = this.config.listenPort ?? 179;
    if (port !== 0) {
      const server = net.createServer((socket) => this.incoming(socket));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.config.listenAddress ?? '::', port }, () => resolve());
      });
      server.on('error', (e) => this.log(`bgp: listener: ${e.message}`));
      this.server = server;
      for (const p of this.peers.values()) this.installKey(p);
    }
    for (const p of this.peers.values()) {
      if (p.refused) this.log(p.refused);
      else this.awaitingEor.add(p.info.id);
      p.connection?.start();
    }
    if (this.awaitingEor.size) {
      this.deferralTimer = this.clock.setTimeout(() => this.endDeferral(), (this.config.gracefulRestartTime ?? 120) * 1000);
    }
    // The kernel may hold routes from before a restart: reconcile once even if nothing is learned.
    this.scheduleKernel(this.rib.prefixes());
    this.scheduleResync();
  }

  /**
   * Stops every session and the listener; programmed kernel routes stay (like BIRD's `persist`).
   * `restarting` drops the connections without NOTIFICATION so graceful-restart peers keep our routes.
   */
  async stop(options: { readonly restarting?: boolean } = {}): Promise<void> {
    this.running = false;
    for (const p of this.peers.values()) {
      p.connection?.stop('speaker stopping', options.restarting ?? false);
      if (p.staleTimer !== undefined) this.clock.clearTimeout(p.staleTimer);
    }
    if (this.kernelTimer !== undefined) this.clock.clearTimeout(this.kernelTimer);
    if (this.deferralTimer !== undefined) this.clock.clearTimeout(this.deferralTimer);
    if (this.resyncTimer !== undefined) this.clock.clearTimeout(this.resyncTimer);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.kernelRun;
  }

  /** Replaces the prefixes this node originates; peers get the difference. */
  setLocalRoutes(prefixes: readonly string[]): void {
    const canonical = prefixes.map((p) => canonicalPrefix(p) ?? p);
    this.changed(this.rib.setLocalRoutes(canonical.map((prefix) => ({ prefix }))));
  }

  /**
   * Reconfigures the peer set (node list or BGPPeer changes): gone peers are stopped and their
   * routes dropped, new ones started, changed ones restarted. Unchanged sessions are untouched.
   */
  setPeers(peers: readonly BgpPeerConfig[]): void {
    const wanted = new Map(peers.map(canonicalPeer).map((p) => [p.address, p] as const));
    for (const [address, state] of [...this.peers]) {
      const next = wanted.get(address);
      if (next && JSON.stringify(next) === JSON.stringify(state.config)) continue;
      state.connection?.stop('peer deconfigured');
      if (state.config.password !== undefined && !state.refused) this.setKey(address, '');
      if (state.staleTimer !== undefined) this.clock.clearTimeout(state.staleTimer);
      this.peers.delete(address);
      this.awaitingEor.delete(state.info.id);
      this.changed(this.rib.dropPeer(state.info.id));
    }
    for (const [address, config] of wanted) {
      if (this.peers.has(address)) continue;
      this.addPeer(config);
      const state = this.peers.get(address) as PeerState;
      if (!this.running) continue;
      this.installKey(state);
      if (state.refused) this.log(state.refused);
      state.connection?.start();
    }
  }

  status(): PeerStatus[] {
    return [...this.peers.values()].map((p) => ({
      address: p.config.address,
      families: this.sessionFamilies(p.config),
      state: p.refused ? 'Refused' : p.connection?.state ?? 'Idle',
      ...(p.refused ? { refused: p.refused } : {}),
      received: this.rib.adjRibIn(p.info.id).length,
      advertised: p.sent.size,
    }));
  }

  /** Resolves once the kernel has caught up with every change so far. */
  async settled(): Promise<void> {
    if (!this.dirty.size && this.kernelTimer === undefined) return this.kernelRun;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** The families one session carries: its own (default: its address's), among those the speaker carries. */
  private sessionFamilies(config: BgpPeerConfig): AddressFamily[] {
    const speaker = this.config.families ?? ['ipv4', 'ipv6'];
    const own = config.families ?? [familyOfAddress(config.address) ?? 'ipv4'];
    return own.filter((f) => speaker.includes(f));
  }

  private addPeer(config: BgpPeerConfig): void {
    const info: PeerInfo = { id: config.address, routerId: config.address, asn: config.asn, rrClient: config.rrClient ?? false };
    const families = this.sessionFamilies(config);
    const refuse = config.refuse ?? (families.length ? undefined
      : `carries ${(config.families ?? [familyOfAddress(config.address)]).join(', ')}, none of the speaker's families (${(this.config.families ?? []).join(', ')})`);
    if (refuse !== undefined) {
      this.peers.set(config.address, { config, info, refused: `bgp: peer ${config.address}: ${refuse}; session not started`, sent: new Map(), eor: new Set() });
      return;
    }
    if (config.password !== undefined) {
      const refused = !this.md5 ? tcpMd5Unsupported(config.address)
        : Buffer.byteLength(config.password) > TCP_MD5_MAX_KEY_BYTES ? tcpMd5Unsupported(config.address, `the password is longer than ${TCP_MD5_MAX_KEY_BYTES} bytes (RFC 2385 keys)`)
          : this.config.listenPort === 0 ? tcpMd5Unsupported(config.address, 'the speaker does not listen (listenPort 0), and a password peer must connect to it') : undefined;
      if (refused) {
        this.peers.set(config.address, { config, info, refused, sent: new Map(), eor: new Set() });
        return;
      }
    }
    const state: PeerState = { config, info, sent: new Map(), eor: new Set() };
    this.peers.set(config.address, state);
    state.connection = new PeerConnection(
      { address: config.address, port: config.port, localAddress: config.localAddress ?? (net.isIPv4(config.address) ? this.config.routerId : undefined) },
      {
        localAs: this.config.asn, peerAs: config.asn, routerId: this.config.routerId,
        // A password peer is passive: the key lives on the listening socket; Node cannot set it before an outgoing connect.
        passive: config.password !== undefined || config.passive,
        holdTime: this.config.holdTime, connectRetryTime: this.config.connectRetryTime ?? 5,
        families, gracefulRestartTime: config.maxRestartTime ?? this.config.gracefulRestartTime ?? 120,
      },
      {
        established: (n, localAddress) => this.established(state, n, localAddress),
        update: (m) => this.received(state, m),
        routeRefresh: (family) => this.resend(state, family),
        down: (reason, graceful) => this.down(state, reason, graceful),
        log: this.log,
      },
      this.clock,
    );
  }

  /** The peer's TCP-MD5 key on the listening socket; a peer whose key cannot be set is refused, never run without it. */
  private installKey(state: PeerState): void {
    const password = state.config.password;
    if (password === undefined || state.refused || !this.server) return;
    try {
      this.setKey(state.config.address, password);
    } catch (error) {
      state.refused = tcpMd5Unsupported(state.config.address, `setting the key failed: ${(error as Error).message}`);
      state.connection?.stop('TCP-MD5 key not installed');
      state.connection = undefined;
      this.log(state.refused);
    }
  }

  private setKey(address: string, key: string): void {
    const fd = (this.server as unknown as { _handle?: { fd?: number } } | undefined)?._handle?.fd;
    if (fd === undefined || fd < 0) throw new Error('the listening socket has no file descriptor');
    this.md5?.setKey(fd, address, key);
  }

  private incoming(socket: net.Socket): void {
    const remote = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    const peer = this.peers.get(remote);
    if (!peer?.connection) {
      socket.destroy();
      return;
    }
    peer.connection.accept(socket);
  }

  private established(state: PeerState, n: Negotiated, localAddress: string | undefined): void {
    state.negotiated = n;
    state.localAddress = localAddress?.replace(/^::ffff:/, '');
    state.info = { ...state.info, routerId: n.peerRouterId };
    this.log(`bgp: session with ${state.config.address} established (AS ${n.peerAs}, hold ${n.holdTime}s, ${n.families.join('+')})`);
    // RFC 4724 §4.2: families the peer did not preserve lose their stale routes now.
    const preserved = n.peerGracefulRestart?.preserved ?? [];
    for (const family of ['ipv4', 'ipv6'] as const) {
      if (!preserved.includes(family)) this.changed(this.rib.sweepStale(state.info.id, family));
    }
    state.sent = new Map();
    state.eor = new Set();
    void this.findLocalSubnet(state.localAddress).then((subnet) => {
      if (state.negotiated !== n) return; // the session went down meanwhile
      state.localSubnet = subnet;
      this.advertise(state, this.rib.prefixes());
      for (const family of n.families) state.connection?.send(endOfRib(family));
    });
  }

  private async findLocalSubnet(address: string | undefined): Promise<string | undefined> {
    if (!address || !this.config.kernel) return undefined;
    try {
      const found = (await this.config.kernel.addresses()).find((a) => a.cidr.split('/')[0] === address);
      return found ? canonicalPrefix(found.cidr) : undefined;
    } catch (e) {
      this.log(`bgp: reading addresses: ${(e as Error).message}`);
      return undefined;
    }
  }

  private received(state: PeerState, update: UpdateMessage): void {
    for (const e of update.errors ?? []) this.log(`bgp: ${state.config.address}: ${e.action} (${e.reason})`);
    const eor = endOfRibFamily(update);
    if (eor) {
      state.eor.add(eor);
      if (state.negotiated?.families.every((f) => state.eor.has(f)) && this.awaitingEor.delete(state.info.id) && !this.awaitingEor.size) this.endDeferral();
      this.changed(this.rib.sweepStale(state.info.id, eor));
      if (!this.rib.hasStale(state.info.id) && state.staleTimer !== undefined) {
        this.clock.clearTimeout(state.staleTimer);
        state.staleTimer = undefined;
      }
      return;
    }
    const filters = state.config.filters ?? [];
    const accept = filters.length ? (prefix: string) => filterAccepts(filters, 'import', prefix, true) : undefined;
    this.changed(this.rib.applyUpdate(state.info, update, { accept }));
  }

  private down(state: PeerState, reason: string, graceful: boolean): void {
    const gr = graceful ? state.negotiated?.peerGracefulRestart : undefined;
    state.negotiated = undefined;
    state.sent = new Map();
    const id = state.info.id;
    // A restart while stale routes remain (consecutive restarts) deletes them (RFC 4724 §4.2).
    if (this.rib.hasStale(id)) this.changed(this.rib.sweepStale(id));
    if (state.staleTimer !== undefined) this.clock.clearTimeout(state.staleTimer);
    state.staleTimer = undefined;
    if (!gr) {
      this.changed(this.rib.dropPeer(id));
      return;
    }
    const seconds = gr.restartTime; // the peer's own advertised restart time (RFC 4724 §4.2)
    this.log(`bgp: keeping routes of ${state.config.address} for ${seconds}s (graceful restart; ${reason})`);
    this.changed(this.rib.markStale(id, gr.families));
    state.staleTimer = this.clock.setTimeout(() => {
      state.staleTimer = undefined;
      const gone = this.rib.sweepStale(id);
      if (gone.length) this.log(`bgp: restart time of ${state.config.address} expired: ${gone.length} stale route(s) withdrawn`);
      this.changed(gone);
    }, seconds * 1000);
  }

  private endDeferral(): void {
    if (this.deferralTimer !== undefined) this.clock.clearTimeout(this.deferralTimer);
    this.deferralTimer = undefined;
    this.awaitingEor.clear();
    this.fullResync = true;
    this.scheduleKernel([]);
  }

  private resend(state: PeerState, family: AddressFamily): void {
    const prefixes = [...state.sent.keys()].filter((p) => familyOf(p) === family);
    for (const p of prefixes) state.sent.delete(p);
    this.advertise(state, this.rib.prefixes().filter((p) => familyOf(p) === family));
  }

  private exportTarget(state: PeerState) {
    const filters = state.config.filters ?? [];
    const local = state.localAddress;
    return {
      peer: state.info,
      // Next hop self is the session's own address: IPv6 routes go over IPv6 sessions only, as in Calico.
      localAddresses: { ipv4: local && !local.includes(':') ? local : this.config.routerId, ipv6: local?.includes(':') ? local : undefined },
      nextHopMode: state.config.nextHopMode,
      sharedSubnet: (address: string) => state.localSubnet !== undefined && prefixWithin(`${address}/${address.includes(':') ? 128 : 32}`, state.localSubnet),
      accept: (path: { prefix: string; peer?: PeerInfo }) => filterAccepts(filters, 'export', path.prefix, path.peer !== undefined),
    };
  }

  private advertise(state: PeerState, prefixes: readonly string[]): void {
    const n = state.negotiated;
    if (!n || !state.connection) return;
    const target = this.exportTarget(state);
    const wanted = new Map<string, ExportedRoute>();
    const relevant = prefixes.filter((p) => n.families.includes(familyOf(p)));
    for (const prefix of relevant) {
      const route = exportRoute(this.rib, target, prefix);
      if (route) wanted.set(prefix, route);
    }
    for (const update of buildUpdates(state.sent, wanted, relevant, n.codec)) state.connection.send(update);
    for (const prefix of relevant) {
      const route = wanted.get(prefix);
      if (route) state.sent.set(prefix, route);
      else state.sent.delete(prefix);
    }
  }

  private changed(prefixes: readonly string[]): void {
    if (!prefixes.length) return;
    for (const state of this.peers.values()) this.advertise(state, prefixes);
    this.scheduleKernel(prefixes);
  }

  /** Periodic full kernel pass: repairs routes someone else changed or deleted. */
  private scheduleResync(): void {
    if (!this.config.kernel || !this.running) return;
    this.resyncTimer = this.clock.setTimeout(() => {
      this.fullResync = true;
      this.scheduleKernel([]);
      this.scheduleResync();
    }, (this.config.kernelResyncSeconds ?? 60) * 1000);
  }

  private scheduleKernel(prefixes: readonly string[]): void {
    if (!this.config.kernel) return;
    for (const p of prefixes) this.dirty.add(p);
    if (this.kernelTimer !== undefined) return;
    this.kernelTimer = this.clock.setTimeout(() => {
      this.kernelTimer = undefined;
      this.kernelRun = this.kernelRun.then(() => this.programKernel()).catch((e: Error) => this.log(`bgp: kernel: ${e.message}`));
      void this.kernelRun.then(() => {
        if (!this.dirty.size && this.kernelTimer === undefined) this.waiters.splice(0).forEach((w) => w());
      });
    }, this.config.kernelBatchMs ?? 20);
  }

  /**
   * The kernel route for one prefix: every next hop of the ECMP set (the best learned path and
   * those equal to it), as one multipath route; a single next hop stays a plain `via` route.
   */
  private kernelRoute(prefix: string): Route | undefined {
    const set = this.rib.best(prefix);
    if (!set[0]?.peer) return undefined; // our own route wins: nothing to program
    const gateways = [...new Set(set.filter((p) => p.peer && p.nextHop).map((p) => p.nextHop as string))].sort();
    if (!gateways.length) return undefined;
    const base = { dst: prefix, protocol: this.routeProtocol, metric: this.config.routeMetric ?? 1024 };
    return gateways.length === 1 ? { ...base, via: gateways[0] } : { ...base, nexthops: gateways.map((via) => ({ via })) };
  }

  /** Learned best paths as kernel routes. */
  desiredKernelRoutes(): Route[] {
    return this.rib.prefixes().map((p) => this.kernelRoute(p)).filter((r): r is Route => r !== undefined);
  }

  /**
   * Level-triggered with an incremental fast path: a full pass (dump our routes, diff against the
   * whole Loc-RIB) at start, when the restart deferral ends, every `kernelResyncSeconds` and after
   * a failed apply; otherwise only the changed prefixes are diffed against what we last applied.
   */
  private async programKernel(): Promise<void> {
    const kernel = this.config.kernel as Kernel;
    const dirty = [...this.dirty];
    this.dirty.clear();
    let prefixes: Iterable<string> = dirty;
    if (!this.programmed || this.fullResync) {
      this.fullResync = false;
      const present = [
        ...await kernel.routes({ family: 4, protocol: this.routeProtocol }),
        ...await kernel.routes({ family: 6, protocol: this.routeProtocol }),
      ].filter((r) => r.protocol === this.routeProtocol);
      this.programmed = new Map(present.map((r) => [r.dst, r] as const));
      prefixes = new Set([...this.rib.prefixes(), ...this.programmed.keys()]);
    }
    const programmed = this.programmed;
    const deleting = this.awaitingEor.size === 0;
    const ops: KernelOp[] = [];
    for (const prefix of prefixes) {
      const want = this.kernelRoute(prefix);
      const have = programmed.get(prefix);
      if (want && have && sameGateways(want, have) && want.metric === (have.metric ?? 0)) continue;
      if (have && (want || deleting)) {
        ops.push({ op: 'route.del', route: have }); // replaced, or gone
        programmed.delete(prefix);
      }
      if (want) {
        ops.push({ op: 'route.replace', route: want });
        programmed.set(prefix, want);
      }
    }
    if (!ops.length) return;
    try {
      await kernel.apply(ops);
    } catch (e) {
      this.programmed = undefined; // re-read the kernel next time
      throw e;
    }
  }
}

/** Peers are keyed by address as the kernel writes it (`fd99:0:0:0::11` and `fd99::11` are one peer). */
function canonicalPeer(config: BgpPeerConfig): BgpPeerConfig {
  const address = canonicalAddress(config.address);
  return address === config.address ? config : { ...config, address };
}

/** Same gateways (in any order), whatever devices the kernel resolved them to. */
function sameGateways(a: Route, b: Route): boolean {
  const gateways = (r: Route) => (normalizeRoute(r).nexthops?.map((h) => h.via ?? '') ?? [r.via ?? '']).sort().join(',');
  return gateways(a) === gateways(b);
}
