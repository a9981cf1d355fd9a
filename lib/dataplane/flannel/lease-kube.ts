import { Cidr } from '../../model/cidr';
import { KubeClient } from '../datastore/kube/client';
import { KUBE_NODES_PREFIX, KUBE_NODES_VIEW, nodeFromDocument } from '../datastore/kube/node-view';
import { ResourceApi, nodesApi } from '../datastore/kube/resource';
import { markNetworkAvailable, patchNodeAnnotations } from '../datastore/kube/nodes';
import { KubeCrdStore } from '../datastore/kube/store';
import { Node } from '../datastore/kube/types';
import { JsonValue, KeyValue, WatchEvent } from '../datastore/types';
import { WatchCache, storeFeed } from '../datastore/watch-cache';
import { OutageLog, observedStore } from '../datastore/outage';
import { checkLeaseNetwork } from './lease-record';
import { BadRecordError, RecordReader, isBadRecord } from '../datastore/records';
import { KeepLeaseHandlers, Lease, LeaseAttrs, LeaseEvent, LeaseManager, Stoppable, WatchLeasesOptions } from './lease';
import { FlannelNetConfig } from './net-config';

export interface KubeLeaseManagerOptions {
  readonly client: KubeClient;
  /** This node's name (NODE_NAME, or the pod's spec.nodeName). */
  readonly nodeName: string;
  /** net-conf.json, read from the ConfigMap. */
  readonly netConfig: FlannelNetConfig;
  /** flannel's --kube-annotation-prefix. @default flannel.alpha.coreos.com */
  readonly annotationPrefix?: string;
  /** Set NetworkUnavailable=False in completeLease. @default true */
  readonly setNodeNetworkUnavailable?: boolean;
  /** Reason of the NetworkUnavailable=False condition. @default CnikitIsUp (flannel: FlannelIsUp) */
  readonly conditionReason?: string;
  /** @default "cnikit is running on this node" */
  readonly conditionMessage?: string;
  /** Poll for this node to appear every … @default 3000 ms (flannel's) */
  readonly nodePollIntervalMs?: number;
  /** … for at most. @default 30000 ms (flannel's) */
  readonly nodeWaitTimeoutMs?: number;
  /** Pause before the node watch retries after an API error. @default 1000 ms */
  readonly retryDelayMs?: number;
  /** Reports the API server lost and regained (one line each) from the node watch's calls. @default none */
  readonly outage?: OutageLog;
}

/** The annotation keys under a prefix (flannel `pkg/subnet/kube/annotations.go`). */
export interface FlannelAnnotations {
  readonly kubeSubnetManager: string;
  readonly backendType: string;
  readonly backendData: string;
  readonly backendV6Data: string;
  readonly publicIp: string;
  readonly publicIpv6: string;
  readonly publicIpOverwrite: string;
  readonly publicIpv6Overwrite: string;
  readonly nodePublicIp: string;
  readonly nodePublicIpv6: string;
}

export function flannelAnnotations(prefix = 'flannel.alpha.coreos.com'): FlannelAnnotations {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/$/.test(p)) {
    throw new Error(`kube annotation prefix ${JSON.stringify(prefix)} is not valid; expected a DNS subdomain such as flannel.alpha.coreos.com`);
  }
  return {
    kubeSubnetManager: `${p}kube-subnet-manager`,
    backendType: `${p}backend-type`,
    backendData: `${p}backend-data`,
    backendV6Data: `${p}backend-v6-data`,
    publicIp: `${p}public-ip`,
    publicIpv6: `${p}public-ipv6`,
    publicIpOverwrite: `${p}public-ip-overwrite`,
    publicIpv6Overwrite: `${p}public-ipv6-overwrite`,
    nodePublicIp: `${p}node-public-ip`,
    nodePublicIpv6: `${p}node-public-ipv6`,
  };
}

/**
 * flannel's Kubernetes subnet manager: the node's subnet is its `spec.podCIDRs` (allocated by
 * kube-controller-manager, never by the agent), published attributes are node annotations patched
 * through `nodes/status`, peers come from a node watch (only nodes annotated
 * `kube-subnet-manager=true`), and a deleted node is a removed lease. Kubernetes-mode leases never
 * expire, so nothing is renewed. Nodes are read through the dataplane's one watch cache (one list +
 * watch of `nodes`, shared by every reader here).
 */
export class KubeLeaseManager implements LeaseManager {
  public readonly name: string;
  public readonly annotations: FlannelAnnotations;
  private readonly nodes: ResourceApi<Node>;
  private readonly store: KubeCrdStore;
  private readonly cache: WatchCache;
  private readonly errorSubscribers = new Set<(error: Error) => void>();

  constructor(private readonly options: KubeLeaseManagerOptions) {
    this.nodes = nodesApi(options.client);
    const retryMs = options.retryDelayMs ?? 1000;
    this.store = new KubeCrdStore({ client: options.client, kinds: {}, views: [KUBE_NODES_VIEW], retryDelayMs: retryMs });
    const feedStore = options.outage ? observedStore(this.store, options.outage) : this.store;
    this.cache = new WatchCache(storeFeed(feedStore, retryMs), [KUBE_NODES_PREFIX], (error) => {
      for (const subscriber of this.errorSubscribers) subscriber(error);
    });
    this.annotations = flannelAnnotations(options.annotationPrefix);
    this.name = `kubernetes ${options.nodeName}`;
  }

  public async getNetworkConfig(): Promise<FlannelNetConfig> {
    return this.options.netConfig;
  }

  /** The admin-set `node-public-ip(v6)` annotations: the addresses the agent should use, if set. */
  public async nodePublicIps(): Promise<{ publicIp?: string; publicIpv6?: string }> {
    const node = await this.waitForNode();
    const a = node.metadata.annotations ?? {};
    return { publicIp: a[this.annotations.nodePublicIp] || undefined, publicIpv6: a[this.annotations.nodePublicIpv6] || undefined };
  }

  public async previousLease(): Promise<Lease | undefined> {
    const node = await this.waitForNode();
    try {
      return this.nodeToLease(node);
    } catch {
      return undefined;
    }
  }

  public async acquireLease(attrs: LeaseAttrs): Promise<Lease> {
    const { nodeName, netConfig } = this.options;
    const node = await this.waitForNode();
    const { subnet, ipv6Subnet } = podSubnets(node, nodeName);
    if (netConfig.ipv4) {
      if (!subnet) throw new Error(`node "${nodeName}" has no IPv4 pod CIDR (podCIDRs ${JSON.stringify(node.spec?.podCIDRs ?? [])}) but IPv4 is enabled in the net config`);
      if (!netConfig.ipv4.network.contains(subnet)) {
        throw new Error(`subnet "${netConfig.ipv4.network}" specified in the flannel net config doesn't contain "${subnet}" PodCIDR of the "${nodeName}" node`);
      }
    }
    if (netConfig.ipv6) {
      if (!ipv6Subnet) throw new Error(`node "${nodeName}" has no IPv6 pod CIDR (podCIDRs ${JSON.stringify(node.spec?.podCIDRs ?? [])}) but IPv6 is enabled in the net config`);
      if (!netConfig.ipv6.network.contains(ipv6Subnet)) {
        throw new Error(`subnet "${netConfig.ipv6.network}" specified in the flannel net config doesn't contain "${ipv6Subnet}" IPv6 PodCIDR of the "${nodeName}" node`);
      }
    }

    const a = this.annotations;
    const current = node.metadata.annotations ?? {};
    const published: { -readonly [K in keyof LeaseAttrs]: LeaseAttrs[K] } = { ...attrs };
    const desired: Record<string, string> = { [a.kubeSubnetManager]: 'true', [a.backendType]: attrs.backendType };
    if (netConfig.ipv4) {
      published.publicIp = current[a.publicIpOverwrite] || attrs.publicIp;
      if (!published.publicIp) throw new Error('acquireLease: IPv4 is enabled but the node has no public IPv4 address');
      desired[a.publicIp] = published.publicIp;
      desired[a.backendData] = JSON.stringify(attrs.backendData ?? null);
    }
    if (netConfig.ipv6) {
      published.publicIpv6 = current[a.publicIpv6Overwrite] || attrs.publicIpv6;
      if (!published.publicIpv6) throw new Error('acquireLease: IPv6 is enabled but the node has no public IPv6 address');
      desired[a.publicIpv6] = published.publicIpv6;
      desired[a.backendV6Data] = JSON.stringify(attrs.backendV6Data ?? null);
    }
    await patchNodeAnnotations(this.nodes, node, desired);
    return { key: nodeName, subnet: netConfig.ipv4 ? subnet : undefined, ipv6Subnet: netConfig.ipv6 ? ipv6Subnet : undefined, attrs: published };
  }

  public async renewLease(lease: Lease): Promise<Lease> {
    return lease; // Kubernetes-mode leases do not expire.
  }

  public async completeLease(_lease?: Lease): Promise<void> {
    if (this.options.setNodeNetworkUnavailable === false) return;
    const node = await this.waitForNode();
    await markNetworkAvailable(this.nodes, node, this.options.conditionReason ?? 'CnikitIsUp', this.options.conditionMessage ?? 'cnikit is running on this node');
  }

  /** Reports the lease revoked when this node is deleted. */
  public keepLease(lease: Lease, handlers: KeepLeaseHandlers): Stoppable {
    const key = `${KUBE_NODES_PREFIX}${this.options.nodeName}`;
    let revoked = false;
    const watch = this.cache.watch(key, (event) => {
      if (revoked || event.type !== 'delete' || event.key !== key) return;
      revoked = true;
      void watch.close();
      handlers.onRevoked(lease);
    });
    if (handlers.onError) this.errorSubscribers.add(handlers.onError);
    void this.cache.start();
    return {
      stop: async () => {
        await watch.close();
        if (handlers.onError) this.errorSubscribers.delete(handlers.onError);
      },
    };
  }

  public watchLeases(onEvents: (events: readonly LeaseEvent[]) => void, options: WatchLeasesOptions = {}): Stoppable {
    const nameOf = (key: string) => key.slice(KUBE_NODES_PREFIX.length);
    const known = new Map<string, { lease: Lease; fingerprint: string }>();
    // Reports a bad node record once per resourceVersion; a node whose record turns bad keeps its last good lease.
    const reader = new RecordReader((error) => options.onRefused?.(error.message));
    let stopped = false;
    /** The node's lease (undefined: not a flannel-managed node); a bad record is a BadRecordError. */
    const decode = (kv: KeyValue): Lease | null => {
      const name = nameOf(kv.key);
      let node: Node | undefined;
      let lease: Lease | undefined;
      try {
        node = nodeFromDocument(kv.value);
        lease = this.nodeToLease(node);
      } catch (error) {
        if (isBadRecord(error)) throw error;
        const cidrs = node?.spec?.podCIDRs ?? node?.spec?.podCIDR;
        throw new BadRecordError(`node "${name}"`, node ? 'spec.podCIDRs' : 'value', node ? cidrs : kv.value.slice(0, 40), `${node ? 'an IPv4 and/or an IPv6 network address' : 'a Node'} (${(error as Error).message})`);
      }
      if (lease) checkLeaseNetwork(this.options.netConfig, `node "${name}"`, lease);
      return lease ?? null;
    };
    const update = (name: string, kv: KeyValue | undefined, out: LeaseEvent[]): void => {
      const previous = known.get(name);
      if (!kv) reader.forget(`${KUBE_NODES_PREFIX}${name}`);
      const lease = kv ? reader.decode(kv, decode, true) : null;
      if (lease === undefined) return; // refused, and no last good version
      if (lease === null) {
        if (previous) {
          known.delete(name);
          out.push({ type: 'removed', lease: previous.lease });
        }
        return;
      }
      const fingerprint = JSON.stringify([lease.subnet?.toString(), lease.ipv6Subnet?.toString(), lease.attrs]);
      if (previous?.fingerprint === fingerprint) return; // flannel: only backend data, type or public IP changes matter
      known.set(name, { lease, fingerprint });
      out.push({ type: 'added', lease });
    };
    // The cache's first event is the whole node list (reported even when empty: the agent's "synced"); later ones are changes.
    const watch = this.cache.watch(KUBE_NODES_PREFIX, (event: WatchEvent) => {
      if (stopped) return;
      const out: LeaseEvent[] = [];
      if (event.type === 'reset') for (const kv of event.items) update(nameOf(kv.key), kv, out);
      else if (event.type === 'put') update(nameOf(event.kv.key), event.kv, out);
      else update(nameOf(event.key), undefined, out);
      if (out.length > 0 || event.type === 'reset') onEvents(out);
    });
    if (options.onError) this.errorSubscribers.add(options.onError);
    void this.cache.start();
    return {
      stop: async () => {
        stopped = true;
        await watch.close();
        if (options.onError) this.errorSubscribers.delete(options.onError);
      },
    };
  }

  public async close(): Promise<void> {
    this.errorSubscribers.clear();
    await this.cache.stop();
    await this.store.close();
  }

  /** A node's lease as peers see it; undefined for nodes not managed by a flannel-style agent. */
  public nodeToLease(node: Node): Lease | undefined {
    const a = this.annotations;
    const annotations = node.metadata.annotations ?? {};
    if (annotations[a.kubeSubnetManager] !== 'true') return undefined;
    const name = node.metadata.name;
    const { subnet, ipv6Subnet } = podSubnets(node, name);
    const json = (key: string): JsonValue | undefined => {
      const text = annotations[key];
      if (text === undefined || text === '' || text === 'null') return undefined;
      try {
        return JSON.parse(text) as JsonValue;
      } catch {
        throw new BadRecordError(`node "${name}"`, `metadata.annotations["${key}"]`, text.length > 40 ? `${text.slice(0, 40)}…` : text, 'JSON');
      }
    };
    const { netConfig } = this.options;
    return {
      key: name,
      subnet: netConfig.ipv4 ? subnet : undefined,
      ipv6Subnet: netConfig.ipv6 ? ipv6Subnet : undefined,
      attrs: {
        publicIp: netConfig.ipv4 ? annotations[a.publicIp] || undefined : undefined,
        publicIpv6: netConfig.ipv6 ? annotations[a.publicIpv6] || undefined : undefined,
        backendType: (annotations[a.backendType] ?? '').toLowerCase(),
        backendData: netConfig.ipv4 ? json(a.backendData) : undefined,
        backendV6Data: netConfig.ipv6 ? json(a.backendV6Data) : undefined,
      },
    };
  }

  /** This node from the watch cache, polled until it appears (flannel: every 3 s for 30 s). */
  private async waitForNode(): Promise<Node> {
    const interval = this.options.nodePollIntervalMs ?? 3000;
    const deadline = Date.now() + (this.options.nodeWaitTimeoutMs ?? 30000);
    await withTimeout(this.cache.start(), Math.max(0, deadline - Date.now()), `the node list from the Kubernetes API (${this.options.client.connection.server})`);
    for (;;) {
      const kv = this.cache.get(`${KUBE_NODES_PREFIX}${this.options.nodeName}`);
      if (kv) return nodeFromDocument(kv.value);
      if (Date.now() >= deadline) throw new Error(`node "${this.options.nodeName}" not found in the Kubernetes API; is NODE_NAME right?`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(interval, Math.max(0, deadline - Date.now()))));
    }
  }
}

/** First IPv4 and first IPv6 of `spec.podCIDRs` (or the legacy `spec.podCIDR`), with flannel's errors. */
export function podSubnets(node: Node, nodeName: string): { subnet?: Cidr; ipv6Subnet?: Cidr } {
  const list = node.spec?.podCIDRs?.length ? node.spec.podCIDRs : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  if (list.length === 0) throw new Error(`node "${nodeName}" pod cidr not assigned`);
  if (list.length > 2) throw new Error(`node "${nodeName}" pod cidrs should be IPv4/IPv6 only or dualstack`);
  let subnet: Cidr | undefined;
  let ipv6Subnet: Cidr | undefined;
  for (const text of list) {
    const cidr = Cidr.parse(text, `node "${nodeName}" spec.podCIDRs`);
    if (cidr.family === 4) subnet ??= cidr;
    else ipv6Subnet ??= cidr;
  }
  return { subnet, ipv6Subnet };
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
