import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, Server } from 'node:net';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { EtcdStore } from '../../../lib/dataplane/datastore';
import { KeyValueStore } from '../../../lib/dataplane/datastore/types';
import { renderCniShim } from '../../../lib/dataplane/cni/shim';
import { IpamBlockSpec } from '../../../lib/dataplane/ipam/block-model';
import { CALICO_ETCD_PREFIX, CALICO_KEYS, prefixedStore } from '../../../lib/dataplane/ipam/calico-store';
import { EtcdServer, startEtcd } from '../../support/etcd';
import { createNetns, destroyNetns, execIn } from '../../support/netns';
import { bundleApp, invoke, Outcome, tempNetwork } from '../../integration/cni/harness';

export const SERVER_PORT = 7331;

export interface CalicoCniNode {
  readonly name: string;
  readonly netns: string;
  readonly tokenFile: string;
  /** What the runtime runs through the server: forwards to it, else falls back to the executable. */
  readonly shim: string;
  server?: ChildProcess;
}

export type CniPath = 'executable' | 'shim';

/**
 * Calico-style CNI "nodes" on one real etcd, for fault tests: each node is a network namespace with
 * an uplink (proxy ARP needs a route), its own view of etcd on 127.0.0.1:2379 (the lab's forward.ts
 * into a unix socket this process pipes to etcd), a resident CNI server and the shim in front of it,
 * as cni-install writes it. Pods are namespaces of their own. Everything goes in `dispose`.
 */
export class CalicoCniCluster {
  readonly nodes: CalicoCniNode[] = [];
  /** The pool's records, as the harness sees them. */
  readonly store: KeyValueStore;
  readonly prefix = `/fault-${process.pid}-${Math.random().toString(36).slice(2, 8)}${CALICO_ETCD_PREFIX}`;
  private readonly net = tempNetwork('');
  private readonly namespaces: string[] = [];
  private readonly forwards: ChildProcess[] = [];
  /** The Calico-mode plugin executable (cni-calico.js as installed). */
  readonly executable: string;
  private readonly serverJs: string;
  private etcdSocket?: Server;
  private readonly admin: EtcdStore;

  private constructor(readonly etcd: EtcdServer) {
    mkdirSync(path.join(this.net.dir, 'bin'));
    // The Calico-mode plugin as installed: its bundle in bin/, etcd3's .proto files in ../proto.
    this.executable = bundleApp('cni-calico', path.join(this.net.dir, 'bin', 'cni-calico.js'));
    cpSync(path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto'), path.join(this.net.dir, 'proto'), { recursive: true });
    this.serverJs = bundleApp('cni-server', path.join(this.net.dir, 'bin', 'cni-server.js'));
    this.admin = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    this.store = prefixedStore(this.admin, this.prefix);
  }

  static async create(nodes: number, pool = '10.246.0.0/16'): Promise<CalicoCniCluster> {
    const cluster = new CalicoCniCluster(await startEtcd());
    try {
      await cluster.store.put(`${CALICO_KEYS.pools}default`, JSON.stringify({ cidr: pool, blockSize: 26 }));
      await cluster.serveEtcd();
      for (let i = 0; i < nodes; i++) cluster.nodes.push(await cluster.addNode(`node-${i}`));
    } catch (error) {
      await cluster.dispose();
      throw error;
    }
    return cluster;
  }

  /** The conflist entry on `node` (upstream Calico keys, etcd mode). */
  conf(node: CalicoCniNode, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'cnikit-calico', nodename: node.name, mtu: 1400,
      datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:2379', etcd_prefix: this.prefix,
      ipam: { type: 'cnikit-calico-ipam', lock_file: path.join(this.net.dir, `${node.name}.ipam.lock`) },
      ...extra,
    };
  }

  namespace(role: string): string {
    const name = createNetns(role);
    this.namespaces.push(name);
    return name;
  }

  /** Starts the node's resident server; resolves once it listens. */
  async startServer(node: CalicoCniNode): Promise<void> {
    // `ip netns exec` execs node: the child's pid is the server's, so a test can SIGKILL it
    const server = spawn('ip', ['netns', 'exec', node.netns, process.execPath, this.serverJs, `--port=${SERVER_PORT}`, `--token-file=${node.tokenFile}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    node.server = server;
    await new Promise<void>((resolve, reject) => {
      server.stdout?.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`CNI server on ${node.name} exited ${code}`)));
    });
  }


  run(node: CalicoCniNode, via: CniPath, command: 'ADD' | 'DEL', containerId: string, pod: string | undefined, options: {
    conf?: unknown; env?: Readonly<Record<string, string | undefined>>; netnsPath?: string;
  } = {}): Promise<Outcome> {
    return invoke({
      plugin: via === 'shim' ? node.shim : this.executable,
      node: node.netns, command, conf: options.conf ?? this.conf(node), containerId, netns: pod, ifname: 'eth0',
      env: { CNI_ARGS: `K8S_POD_NAMESPACE=fault;K8S_POD_NAME=${containerId}`, ...(options.netnsPath ? { CNI_NETNS: options.netnsPath } : {}), ...options.env },
    });
  }

  /** What the datastore and the kernels hold: handles, allocated addresses (with their handle), WEPs, cali veths per node. */
  async audit(): Promise<{ handles: string[]; allocations: string[]; endpoints: string[]; veths: string[] }> {
    const [handles, blocks, endpoints] = await Promise.all([
      this.store.list(CALICO_KEYS.handles), this.store.list(CALICO_KEYS.blocks), this.store.list(CALICO_KEYS.workloadEndpoints),
    ]);
    const allocations = blocks.items.flatMap((kv) => {
      const block = JSON.parse(kv.value) as IpamBlockSpec;
      return block.allocations.flatMap((a, ordinal) => {
        const handle = a === null ? undefined : block.attributes[a]?.handle_id;
        return a === null || handle?.startsWith('vxlan-') ? [] : [`${block.cidr}#${ordinal} ${handle ?? '?'}`];
      });
    });
    const veths = this.nodes.flatMap((node) => {
      const links = JSON.parse(execIn(node.netns, ['ip', '-j', 'link', 'show', 'type', 'veth']).stdout || '[]') as { ifname: string }[];
      return links.map((l) => `${node.name}/${l.ifname}`).filter((name) => name.includes('/cali'));
    });
    return { handles: handles.items.map((kv) => kv.key), allocations, endpoints: endpoints.items.map((kv) => kv.key), veths };
  }

  /** Freezes etcd (SIGSTOP) — it keeps its sockets, answers nothing — until `thaw`. */
  freezeEtcd(): void {
    process.kill(this.etcd.pid, 'SIGSTOP');
  }

  thawEtcd(): void {
    process.kill(this.etcd.pid, 'SIGCONT');
  }

  async dispose(): Promise<void> {
    for (const node of this.nodes) node.server?.kill('SIGKILL');
    for (const forward of this.forwards) forward.kill('SIGKILL');
    try {
      process.kill(this.etcd.pid, 'SIGCONT');
    } catch {
      // etcd already gone
    }
    this.etcdSocket?.close();
    for (const name of this.namespaces) destroyNetns(name);
    await this.admin.close().catch(() => undefined);
    await this.etcd.stop();
    this.net.dispose();
  }

  private async serveEtcd(): Promise<void> {
    const socket = path.join(this.net.dir, 'etcd.sock');
    this.etcdSocket = createServer((inbound) => {
      const outbound = connect(this.etcd.clientPort, '127.0.0.1');
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => this.etcdSocket?.listen(socket, resolve));
  }

  private async addNode(name: string): Promise<CalicoCniNode> {
    const netns = this.namespace(`cf${this.nodes.length}`);
    const n = this.nodes.length + 10;
    for (const cmd of [['ip', 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink-peer'], ['ip', 'link', 'set', 'uplink-peer', 'up'], ['ip', 'link', 'set', 'uplink', 'up'], ['ip', 'addr', 'add', `192.0.2.${n}/24`, 'dev', 'uplink'], ['ip', 'route', 'add', 'default', 'via', '192.0.2.1'], ['ip', 'link', 'set', 'lo', 'up']]) {
      const out = execIn(netns, cmd);
      if (out.code !== 0) throw new Error(`${cmd.join(' ')} in ${netns}: ${out.stderr}`);
    }
    const forwardJs = path.join(this.net.dir, 'forward.js');
    buildSync({ entryPoints: [path.join(__dirname, '../../../lib/lab/programs/forward.ts')], bundle: true, platform: 'node', outfile: forwardJs, logLevel: 'error' });
    const forward = spawn('ip', ['netns', 'exec', netns, process.execPath, forwardJs, '2379', path.join(this.net.dir, 'etcd.sock')], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.forwards.push(forward);
    await new Promise<void>((resolve) => forward.stdout?.once('data', () => resolve()));
    const tokenFile = path.join(this.net.dir, `${name}.token`);
    const shim = path.join(this.net.dir, `shim-${name}`);
    writeFileSync(shim, renderCniShim({ port: SERVER_PORT, tokenFile, node: process.execPath, plugin: this.executable }));
    chmodSync(shim, 0o755);
    return { name, netns, tokenFile, shim };
  }
}

/** The pod's eth0 IPv4 addresses. */
export function podAddresses(pod: string): string[] {
  const shown = execIn(pod, ['ip', '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
  if (shown.code !== 0) return [];
  const links = JSON.parse(shown.stdout || '[]') as { addr_info?: { local: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
}

/** The address an ADD result gave (without prefix). */
export function resultAddress(outcome: Outcome): string | undefined {
  return (outcome.json as { ips?: { address: string }[] } | undefined)?.ips?.[0]?.address.split('/')[0];
}
