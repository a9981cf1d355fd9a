import * as fs from 'fs';
import * as path from 'path';
import { EtcdStore } from '../dataplane/datastore/etcd';
import { KeyValueStore } from '../dataplane/datastore/types';
import { IpPoolSpec, IpReservationSpec } from '../dataplane/ipam/block-model';
import { CALICO_ETCD_PREFIX, CALICO_KEYS, prefixedStore } from '../dataplane/ipam/calico-store';
import { inNetns, run } from './exec';
import { Lab, LabNode } from './lab';
import { LabProcess } from './process';
import { LabTopologyKind } from './topology';

export interface CalicoLabOptions {
  readonly nodes: number;
  /** @default 'two-subnets' */
  readonly topology?: LabTopologyKind;
  readonly segments?: readonly number[];
  /** The pool's VXLAN mode. @default 'CrossSubnet' */
  readonly vxlanMode?: 'Always' | 'CrossSubnet' | 'Never';
  /** @default '10.244.0.0/16' */
  readonly poolCidr?: string;
  /** @default 26 */
  readonly blockSize?: number;
  /**
   * Dual-stack: an IPv6 pool beside the IPv4 one (`default-ipv6-ippool`, no NAT outgoing, as
   * upstream); pods get both families and the agents detect their IPv6 address (IP6=autodetect).
   * @default IPv4 only
   */
  readonly ipv6PoolCidr?: string;
  /** The IPv6 pool's VXLAN mode (vxlan-v6.calico). @default the IPv4 pool's `vxlanMode` */
  readonly ipv6VxlanMode?: 'Always' | 'CrossSubnet' | 'Never';
  /** @default 122 */
  readonly ipv6BlockSize?: number;
  /** IPReservation CIDRs (e.g. to shape which blocks can be claimed). @default none */
  readonly reservedCidrs?: readonly string[];
  /** @default 2 */
  readonly resyncSeconds?: number;
}

const HEALTH_PORT = 9099;

/**
 * A Calico-style cluster in the lab: the lab's namespaces, etcd and pods, with one real
 * `calico-agent` per node (etcd mode) and the kit's CNI plugin in Calico mode. Pods are added
 * with `lab.addPod` and probed with `lab.connectivity`, as for the flannel stack.
 */
export class CalicoLab {
  public static async create(options: CalicoLabOptions): Promise<CalicoLab> {
    const created: { calico?: CalicoLab } = {};
    const lab = await Lab.create({
      nodes: options.nodes,
      topology: options.topology ?? 'two-subnets',
      segments: options.segments,
      startAgents: false,
      cniConfig: (node) => created.calico!.cniConfig(node),
      cniPlugin: 'calico',
    });
    const calico = new CalicoLab(lab, options);
    created.calico = calico;
    try {
      await calico.writePool();
      await Promise.all(lab.nodes.map((node) => calico.startAgent(node)));
    } catch (error) {
      await lab.destroy();
      throw error;
    }
    return calico;
  }

  /** Calico resources in the lab's etcd (the harness reaches it over a unix socket). */
  public readonly store: KeyValueStore;
  private readonly agents = new Map<string, LabProcess>();

  private constructor(public readonly lab: Lab, private readonly options: CalicoLabOptions) {
    this.store = prefixedStore(new EtcdStore(lab.etcd), CALICO_ETCD_PREFIX);
  }

  public stateDir(node: LabNode): string {
    return path.join(node.dir, 'calico');
  }

  /** The conflist entry the plugin gets on `node` (upstream keys; etcd mode). */
  public cniConfig(node: LabNode): Record<string, unknown> {
    return {
      cniVersion: '1.0.0',
      name: 'k8s-pod-network',
      type: 'cnikit-calico',
      nodename: node.name,
      datastore_type: 'etcdv3',
      etcd_endpoints: this.lab.plan.etcdEndpoint,
      mtu: 0,
      mtu_file: path.join(this.stateDir(node), 'mtu'),
      ipam: {
        type: 'cnikit-calico-ipam', lock_file: path.join(this.stateDir(node), 'ipam.lock'),
        ...(this.options.ipv6PoolCidr ? { assign_ipv4: 'true', assign_ipv6: 'true' } : {}),
      },
    };
  }

  public agentArgs(node: LabNode): string[] {
    return [
      `--node-name=${node.name}`,
      '--datastore-type=etcdv3',
      `--etcd-endpoints=${this.lab.plan.etcdEndpoint}`,
      `--state-dir=${this.stateDir(node)}`,
      `--resync-seconds=${this.options.resyncSeconds ?? 2}`,
      '--no-default-pools=true',
      `--health-port=${HEALTH_PORT}`,
    ];
  }

  /** Starts the node's agent; resolves once it reports ready (node registered, first reconcile done). */
  public async startAgent(node: LabNode): Promise<LabProcess> {
    const binary = this.lab.binaryPaths.calicoAgent;
    if (!binary) throw new Error('lab: apps/calico-agent.ts is missing');
    fs.mkdirSync(this.stateDir(node), { recursive: true });
    const agent = new LabProcess(`calico-agent-${node.name}`, ['node', binary, ...this.agentArgs(node)], {
      netns: node.netns, logFile: path.join(node.dir, `calico-agent-${node.name}.log`),
      // The node's IPv6 address (its uplink's, first-found) is the underlay of vxlan-v6.calico.
      ...(this.options.ipv6PoolCidr ? { env: { IP6: 'autodetect' } } : {}),
    });
    this.agents.set(node.name, agent);
    await agent.waitForLine(/"msg":"ready"/, 30_000);
    return agent;
  }

  public async stopAgent(node: LabNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | undefined> {
    const agent = this.agents.get(node.name);
    this.agents.delete(node.name);
    return agent?.stop(signal);
  }

  public agent(node: LabNode): LabProcess | undefined {
    return this.agents.get(node.name);
  }

  /** Packets sent through the node's vxlan.calico (or `device`, e.g. vxlan-v6.calico) so far (the kernel's counter). */
  public async vxlanTxPackets(node: LabNode, device = 'vxlan.calico'): Promise<number> {
    const out = await run(inNetns(node.netns, ['ip', '-s', '-j', 'link', 'show', device]), { allowFailure: true });
    if (out.code !== 0) return 0;
    const [link] = JSON.parse(out.stdout) as { stats64?: { tx?: { packets?: number } } }[];
    return link?.stats64?.tx?.packets ?? 0;
  }

  public async destroy(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.stop('SIGTERM', 2000)));
    await this.lab.destroy();
  }

  private async writePool(): Promise<void> {
    const pool: IpPoolSpec = {
      cidr: this.options.poolCidr ?? '10.244.0.0/16',
      blockSize: this.options.blockSize ?? 26,
      vxlanMode: this.options.vxlanMode ?? 'CrossSubnet',
      ipipMode: 'Never',
      natOutgoing: true,
    };
    await this.store.put(`${CALICO_KEYS.pools}default-ipv4-ippool`, JSON.stringify(pool));
    if (this.options.ipv6PoolCidr) {
      const pool6: IpPoolSpec = {
        cidr: this.options.ipv6PoolCidr,
        blockSize: this.options.ipv6BlockSize ?? 122,
        vxlanMode: this.options.ipv6VxlanMode ?? pool.vxlanMode,
        ipipMode: 'Never',
        natOutgoing: false,
      };
      await this.store.put(`${CALICO_KEYS.pools}default-ipv6-ippool`, JSON.stringify(pool6));
    }
    if (this.options.reservedCidrs?.length) {
      const reservation: IpReservationSpec = { reservedCIDRs: this.options.reservedCidrs };
      await this.store.put(`${CALICO_KEYS.reservations}lab`, JSON.stringify(reservation));
    }
  }
}
