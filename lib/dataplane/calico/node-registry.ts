import { KubeClient } from '../datastore/kube/client';
import { Informer } from '../datastore/kube/informer';
import { markNetworkAvailable, patchNodeAnnotations } from '../datastore/kube/nodes';
import { ResourceApi, nodesApi } from '../datastore/kube/resource';
import { Node } from '../datastore/kube/types';
import { KeyValueStore, WatchHandle } from '../datastore/types';
import { CALICO_KEYS, parseJson } from '../ipam/calico-store';
import { CalicoNode, CalicoNodeSpec } from './routes';

/**
 * Where nodes publish their address and tunnel endpoint, and learn each other's. etcd mode keeps
 * Calico's Node spec under `nodes/<name>`; a Kubernetes implementation maps the same spec onto
 * the Node's `projectcalico.org/*` annotations.
 */
export interface NodeRegistry {
  register(node: CalicoNode): Promise<void>;
  list(): Promise<CalicoNode[]>;
  /** Calls `onChange` on any node change until closed. */
  watch(onChange: () => void): WatchHandle;
  remove(name: string): Promise<void>;
}

export class StoreNodeRegistry implements NodeRegistry {
  constructor(private readonly store: KeyValueStore) {}

  async register(node: CalicoNode): Promise<void> {
    const key = CALICO_KEYS.nodes + node.name;
    const value = JSON.stringify(node.spec);
    const current = await this.store.get(key);
    if (current?.value !== value) await this.store.put(key, value);
  }

  async list(): Promise<CalicoNode[]> {
    const { items } = await this.store.list(CALICO_KEYS.nodes);
    return items.map((kv) => ({ name: kv.key.slice(CALICO_KEYS.nodes.length), spec: parseJson<CalicoNodeSpec>(kv) }));
  }

  watch(onChange: () => void): WatchHandle {
    return this.store.watch(CALICO_KEYS.nodes, () => onChange());
  }

  async remove(name: string): Promise<void> {
    await this.store.delete(CALICO_KEYS.nodes + name);
  }
}

/** Calico's Node annotations (KDD): the same facts as the etcd Node spec. */
export const CALICO_NODE_ANNOTATIONS = {
  ipv4Address: 'projectcalico.org/IPv4Address',
  vxlanTunnelAddress: 'projectcalico.org/IPv4VXLANTunnelAddr',
  vxlanTunnelMac: 'projectcalico.org/VXLANTunnelMACAddr',
} as const;

/** Kubernetes mode: this node's facts as annotations on its Node (via `nodes/status`), peers read from the Node list. */
export class KubeNodeRegistry implements NodeRegistry {
  private readonly nodes: ResourceApi<Node>;

  constructor(client: KubeClient) {
    this.nodes = nodesApi(client);
  }

  async register(node: CalicoNode): Promise<void> {
    const current = await this.nodes.get(node.name);
    if (!current) throw new Error(`kubernetes: node ${JSON.stringify(node.name)} does not exist; NODENAME must be this node's Kubernetes name`);
    const patched = await patchNodeAnnotations(this.nodes, current, {
      [CALICO_NODE_ANNOTATIONS.ipv4Address]: node.spec.bgp?.ipv4Address ?? null,
      [CALICO_NODE_ANNOTATIONS.vxlanTunnelAddress]: node.spec.ipv4VXLANTunnelAddr ?? null,
      [CALICO_NODE_ANNOTATIONS.vxlanTunnelMac]: node.spec.vxlanTunnelMACAddr ?? null,
    });
    // As calico-node: the node's pod network is up once it is registered.
    await markNetworkAvailable(this.nodes, patched ?? current, 'CalicoIsUp', 'Calico is running on this node');
  }

  async list(): Promise<CalicoNode[]> {
    return (await this.nodes.list()).items.map(nodeFromKube);
  }

  watch(onChange: () => void): WatchHandle {
    const informer = new Informer<Node>({ api: this.nodes, onEvents: () => onChange() });
    void informer.start();
    return { close: async () => informer.stop() };
  }

  async remove(): Promise<void> {
    // The Node object belongs to Kubernetes; deleting it is what removes the node.
  }
}

export function nodeFromKube(node: Node): CalicoNode {
  const a = node.metadata.annotations ?? {};
  return {
    name: node.metadata.name,
    spec: {
      ...(a[CALICO_NODE_ANNOTATIONS.ipv4Address] ? { bgp: { ipv4Address: a[CALICO_NODE_ANNOTATIONS.ipv4Address] } } : {}),
      ...(a[CALICO_NODE_ANNOTATIONS.vxlanTunnelAddress] ? { ipv4VXLANTunnelAddr: a[CALICO_NODE_ANNOTATIONS.vxlanTunnelAddress] } : {}),
      ...(a[CALICO_NODE_ANNOTATIONS.vxlanTunnelMac] ? { vxlanTunnelMACAddr: a[CALICO_NODE_ANNOTATIONS.vxlanTunnelMac] } : {}),
    },
  };
}
