import { KubeClient } from '../datastore/kube/client';
import { ResourceApi, nodesApi } from '../datastore/kube/resource';
import { KubeObject } from '../datastore/kube/types';
import { KeyValueStore } from '../datastore/types';
import { BlockIpam } from '../ipam/block-ipam';
import { BlockAllocation, blockAllocations, blockHost } from '../ipam/block-model';
import { BadRecordError, decodeJsonObject } from '../datastore/records';
import { CALICO_KEYS } from '../ipam/calico-store';
import { WorkloadEndpointRecord } from './workload-endpoint';

/**
 * kube-controllers' IPAM garbage collection and node cleanup. An allocation whose workload is gone
 * is a leak candidate; it is freed once it has stayed a candidate for the leak grace period
 * (15 min by default, 0 disables). Everything on a node that no longer exists is freed at once,
 * then the node's affinities go and its empty blocks with them.
 *
 * A bad record never frees anything: a bad IPAM block is neither collected from nor cleaned up
 * (BlockIpam reports it), a node whose record is bad still exists, and a bad WorkloadEndpoint fails
 * the pass (its workload cannot be told from a leak).
 */
export interface ClusterSnapshot {
  readonly nodes: ReadonlySet<string>;
  /** True while the allocation's workload exists (and, when known, still has that address). */
  isLive(allocation: BlockAllocation): boolean;
}

export interface ClusterSource {
  snapshot(): Promise<ClusterSnapshot>;
}

const isTunnel = (a: BlockAllocation) => /TunnelAddress$/.test(a.attributes.type ?? '');
const containerOf = (handleId: string | undefined) => handleId?.slice(handleId.indexOf('.') + 1);

/**
 * etcd mode: nodes by their records' keys (a node whose record is bad still exists), workloads from
 * WorkloadEndpoint records (matched by container ID; a bad one is thrown).
 */
export class StoreClusterSource implements ClusterSource {
  constructor(private readonly store: KeyValueStore) {}

  async snapshot(): Promise<ClusterSnapshot> {
    const [nodes, weps] = await Promise.all([this.store.list(CALICO_KEYS.nodes), this.store.list(CALICO_KEYS.workloadEndpoints)]);
    const containers = new Set(weps.items.map((kv) => workloadContainer(kv)));
    return { nodes: new Set(nodes.items.map((kv) => kv.key.slice(CALICO_KEYS.nodes.length))), isLive: (a) => containers.has(containerOf(a.handleId) ?? '') };
  }
}

function workloadContainer(kv: { key: string; value: string }): string {
  const spec = (decodeJsonObject(kv) as Partial<WorkloadEndpointRecord>).spec;
  const id: unknown = spec && typeof spec === 'object' ? spec.containerID : undefined;
  if (typeof id !== 'string' || !id) throw new BadRecordError(kv.key, 'spec.containerID', id, 'the container ID of the workload');
  return id;
}

interface Pod extends KubeObject {
  readonly spec?: { readonly nodeName?: string };
  readonly status?: { readonly podIPs?: readonly { readonly ip: string }[]; readonly phase?: string };
}

/** Kubernetes mode: Nodes, and Pods by namespace/name with their podIPs (an address the pod no longer has is a leak). */
export class KubeClusterSource implements ClusterSource {
  private readonly nodes: ResourceApi<KubeObject>;
  private readonly pods: ResourceApi<Pod>;

  constructor(client: KubeClient) {
    this.nodes = nodesApi(client) as unknown as ResourceApi<KubeObject>;
    this.pods = new ResourceApi<Pod>(client, { version: 'v1', plural: 'pods' });
  }

  async snapshot(): Promise<ClusterSnapshot> {
    const [nodes, pods] = await Promise.all([this.nodes.list(), this.pods.list()]);
    const byName = new Map(pods.items.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p]));
    return {
      nodes: new Set(nodes.items.map((n) => n.metadata.name)),
      isLive: (a) => {
        const pod = byName.get(`${a.attributes.namespace}/${a.attributes.pod}`);
        if (!pod || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return false;
        const ips = pod.status?.podIPs ?? [];
        return ips.length === 0 || ips.some((ip) => ip.ip === a.address);
      },
    };
  }
}

export interface GcResult {
  /** Addresses freed because their workload was gone for the whole grace period. */
  readonly leaked: readonly string[];
  /** Addresses freed because their node is gone. */
  readonly orphaned: readonly string[];
  /** Nodes whose affinities (and empty blocks) were removed. */
  readonly nodesCleaned: readonly string[];
  /** Allocations currently waiting out the grace period. */
  readonly candidates: number;
}

export interface IpamGcOptions {
  /** @default 15 minutes; 0 disables leak collection (node cleanup still runs) */
  readonly leakGracePeriodMs?: number;
}

export class IpamGarbageCollector {
  private readonly candidates = new Map<string, number>();
  private grace: number;

  constructor(private readonly ipam: BlockIpam, private readonly source: ClusterSource, options: IpamGcOptions = {}) {
    this.grace = options.leakGracePeriodMs ?? 15 * 60_000;
  }

  /** The leak grace period in force (ms). */
  get leakGracePeriodMs(): number {
    return this.grace;
  }

  /**
   * Changes the leak grace period from the next pass on (KubeControllersConfiguration followed live).
   * Candidates keep the time they were first seen, so a shorter period frees them sooner.
   */
  set leakGracePeriodMs(ms: number) {
    this.grace = ms;
  }

  /** One pass at time `now` (ms). */
  async run(now = Date.now()): Promise<GcResult> {
    const snap = await this.source.snapshot();
    // No stand-ins: only what the datastore holds now, and bad blocks not at all.
    const blocks = await this.ipam.blocks(undefined, false);
    const leaked: string[] = [];
    const orphaned: string[] = [];
    const seen = new Set<string>();
    for (const block of blocks) {
      for (const a of blockAllocations(block)) {
        const node = a.attributes.node ?? blockHost(block);
        const key = `${a.handleId ?? ''}|${a.address}`;
        if (node && !snap.nodes.has(node)) {
          orphaned.push(a.address);
          continue;
        }
        if (isTunnel(a) || snap.isLive(a)) continue;
        seen.add(key);
        const since = this.candidates.get(key) ?? now;
        this.candidates.set(key, since);
        if (this.grace > 0 && now - since >= this.grace) leaked.push(a.address);
      }
    }
    for (const key of this.candidates.keys()) if (!seen.has(key)) this.candidates.delete(key);
    const freed = [...leaked, ...orphaned];
    if (freed.length) await this.ipam.releaseAddresses(freed);
    for (const address of leaked) for (const key of this.candidates.keys()) if (key.endsWith(`|${address}`)) this.candidates.delete(key);

    const affineNodes = new Set(blocks.map(blockHost).filter((n): n is string => n !== undefined));
    const nodesCleaned: string[] = [];
    for (const node of affineNodes) {
      if (snap.nodes.has(node)) continue;
      await this.ipam.releaseNodeBlocks(node);
      nodesCleaned.push(node);
    }
    return { leaked, orphaned, nodesCleaned, candidates: this.candidates.size };
  }
}
