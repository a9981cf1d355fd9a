import { KubeClient } from '../datastore/kube/client';
import { CALICO_NODE_ANNOTATIONS } from '../datastore/kube/calico-node';
import { markNetworkAvailable, patchNodeAnnotations } from '../datastore/kube/nodes';
import { ResourceApi, nodesApi } from '../datastore/kube/resource';
import { Node } from '../datastore/kube/types';
import { KeyValueStore, WatchHandle } from '../datastore/types';
import { decodeCalicoNode } from '../datastore/calico-records';
import { BadRecordError, RecordReader } from '../datastore/records';
import { CALICO_KEYS } from '../ipam/calico-store';
import { CalicoNode } from './routes';

export { CALICO_NODE_ANNOTATIONS };

/**
 * Where nodes publish their address and tunnel endpoint, and learn each other's. Every node is read
 * from `nodes/<name>` of the store (etcd: Calico's Node spec; Kubernetes: the store's read-only view
 * of the Node), through the agent's watch cache when it has one. Registering differs: etcd stores
 * the spec, Kubernetes mode annotates the node's own Node.
 */
export interface NodeRegistry {
  register(node: CalicoNode): Promise<void>;
  list(): Promise<CalicoNode[]>;
  /** Calls `onChange` on any node change until closed. */
  watch(onChange: () => void): WatchHandle;
  remove(name: string): Promise<void>;
}

export class StoreNodeRegistry implements NodeRegistry {
  private readonly records: RecordReader;

  /**
   * `onBadRecord` hears of each node record refused, once per revision; a node whose record is
   * corrupted in place keeps its last good version (so routes to it stay). @default ignored
   */
  constructor(protected readonly store: KeyValueStore, onBadRecord: (error: BadRecordError, standIn: boolean) => void = () => undefined) {
    this.records = new RecordReader(onBadRecord);
  }

  async register(node: CalicoNode): Promise<void> {
    const key = CALICO_KEYS.nodes + node.name;
    const value = JSON.stringify(node.spec);
    const current = await this.store.get(key);
    if (current?.value !== value) await this.store.put(key, value);
  }

  async list(): Promise<CalicoNode[]> {
    const { items } = await this.store.list(CALICO_KEYS.nodes);
    return this.records.read(CALICO_KEYS.nodes, items, (kv) => ({ name: kv.key.slice(CALICO_KEYS.nodes.length), spec: decodeCalicoNode(kv) }));
  }

  watch(onChange: () => void): WatchHandle {
    return this.store.watch(CALICO_KEYS.nodes, () => onChange());
  }

  async remove(name: string): Promise<void> {
    await this.store.delete(CALICO_KEYS.nodes + name);
  }
}

/**
 * Kubernetes mode: registers as annotations on the node's own Node (via `nodes/status`, as
 * calico-node) and marks its network available; reads every node from the store's `nodes/` view.
 * The AS number and reflector cluster id annotations belong to the operator and are never written.
 */
export class KubeNodeRegistry extends StoreNodeRegistry {
  private readonly nodes: ResourceApi<Node>;

  constructor(client: KubeClient, store: KeyValueStore, onBadRecord?: (error: BadRecordError, standIn: boolean) => void) {
    super(store, onBadRecord);
    this.nodes = nodesApi(client);
  }

  override async register(node: CalicoNode): Promise<void> {
    const current = await this.nodes.get(node.name);
    if (!current) throw new Error(`kubernetes: node ${JSON.stringify(node.name)} does not exist; NODENAME must be this node's Kubernetes name`);
    const bgp = node.spec.bgp;
    const patched = await patchNodeAnnotations(this.nodes, current, {
      [CALICO_NODE_ANNOTATIONS.ipv4Address]: bgp?.ipv4Address ?? null,
      [CALICO_NODE_ANNOTATIONS.ipv6Address]: bgp?.ipv6Address ?? null,
      [CALICO_NODE_ANNOTATIONS.vxlanTunnelAddress]: node.spec.ipv4VXLANTunnelAddr ?? null,
      [CALICO_NODE_ANNOTATIONS.vxlanTunnelMac]: node.spec.vxlanTunnelMACAddr ?? null,
      [CALICO_NODE_ANNOTATIONS.vxlanTunnelAddressV6]: node.spec.ipv6VXLANTunnelAddr ?? null,
      [CALICO_NODE_ANNOTATIONS.vxlanTunnelMacV6]: node.spec.vxlanTunnelMACAddrV6 ?? null,
    });
    // As calico-node: the node's pod network is up once it is registered.
    await markNetworkAvailable(this.nodes, patched ?? current, 'CalicoIsUp', 'Calico is running on this node');
  }

  override async remove(): Promise<void> {
    // The Node object belongs to Kubernetes; deleting it is what removes the node.
  }
}
