import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { HOST_VETH_PREFIX } from '../../../lib/dataplane/cni';
import { renderCniShim } from '../../../lib/dataplane/cni/shim';
import { addressToBigInt } from '../../../lib/model/cidr';
import { bundleApp, bundlePlugin, invoke, Outcome, tempNetwork } from '../../integration/cni/harness';
import { createNetns, destroyNetns, execIn } from '../../support/netns';

/**
 * Flannel-style CNI "nodes" for fault tests: each is a network namespace with its own subnet file,
 * host-local state dir and bridge, and (on demand) a resident CNI server reached by a shim, as a
 * real node runs them. Pods are namespaces of their own. Everything is removed by `dispose`.
 */
export const SERVER_PORT = 7331;

export interface FlannelCniNode {
  readonly netns: string;
  readonly dataDir: string;
  readonly conf: Record<string, unknown>;
  /** The shim, when `startServer` ran: forwards to the server, else falls back to `plugin`. */
  shim?: string;
  server?: ChildProcess;
}

export class FlannelCniCluster {
  readonly nodes: FlannelCniNode[] = [];
  readonly plugin: string;
  private readonly serverJs: string;
  private readonly net: ReturnType<typeof tempNetwork>;
  private readonly namespaces: string[] = [];

  /** `subnets[i]` is node i's FLANNEL_SUBNET (gateway form, e.g. `10.250.1.1/24`) inside 10.250.0.0/16. */
  constructor(subnets: readonly string[]) {
    this.net = tempNetwork('');
    this.plugin = bundlePlugin(this.net.dir);
    this.serverJs = bundleApp('cni-server', path.join(this.net.dir, 'cni-server.js'));
    subnets.forEach((subnet, i) => {
      const subnetFile = path.join(this.net.dir, `subnet-${i}.env`);
      writeFileSync(subnetFile, `FLANNEL_NETWORK=10.250.0.0/16\nFLANNEL_SUBNET=${subnet}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`);
      const dataDir = path.join(this.net.dir, `data-${i}`);
      this.nodes.push({
        netns: this.namespace(`n${i}`),
        dataDir,
        conf: { cniVersion: '1.1.0', name: 'fault', type: 'cnikit-flannel', subnetFile, dataDir },
      });
    });
  }

  namespace(role: string): string {
    const name = createNetns(role);
    this.namespaces.push(name);
    return name;
  }

  /** Starts the node's resident server and writes its shim; resolves once it listens. */
  async startServer(node: FlannelCniNode): Promise<void> {
    const tokenFile = path.join(node.dataDir, 'server.token');
    const shim = path.join(this.net.dir, `shim-${node.netns}`);
    writeFileSync(shim, renderCniShim({ port: SERVER_PORT, tokenFile, node: process.execPath, plugin: this.plugin }));
    chmodSync(shim, 0o755);
    node.shim = shim;
    // `ip netns exec` execs node: the child's pid is the server's, so a test can SIGKILL it
    const server = spawn('ip', ['netns', 'exec', node.netns, process.execPath, this.serverJs, `--port=${SERVER_PORT}`, `--token-file=${tokenFile}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    node.server = server;
    await new Promise<void>((resolve, reject) => {
      server.stdout?.once('data', () => resolve());
      server.once('exit', (code) => reject(new Error(`CNI server in ${node.netns} exited ${code}`)));
    });
  }

  run(node: FlannelCniNode, via: 'executable' | 'shim', command: 'ADD' | 'DEL', containerId: string, pod: string): Promise<Outcome> {
    const plugin = via === 'shim' ? node.shim : this.plugin;
    if (!plugin) throw new Error(`node ${node.netns} has no server: call startServer first`);
    return invoke({ plugin, node: node.netns, command, conf: node.conf, containerId, netns: pod, ifname: 'eth0' });
  }

  dispose(): void {
    for (const node of this.nodes) node.server?.kill('SIGKILL');
    for (const name of this.namespaces) destroyNetns(name);
    this.net.dispose();
  }
}

/** host-local's reservations as files on disk: address → `<containerID>` (interface after \r\n). */
export function reservationFiles(node: FlannelCniNode): Map<string, { containerId: string; ifname: string }> {
  const dir = path.join(node.dataDir, 'ipam');
  const out = new Map<string, { containerId: string; ifname: string }>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (addressToBigInt(name) === undefined) continue;
    const [containerId = '', ifname = ''] = readFileSync(path.join(dir, name), 'utf8').split('\r\n');
    out.set(name, { containerId, ifname });
  }
  return out;
}

/** The plugin's host veths on the node. */
export function hostVeths(node: FlannelCniNode): string[] {
  const links = JSON.parse(execIn(node.netns, ['ip', '-j', 'link', 'show']).stdout || '[]') as { ifname: string }[];
  return links.map((l) => l.ifname).filter((name) => name.startsWith(HOST_VETH_PREFIX));
}

/** The IPv4 addresses on the pod's eth0 (none when it has no eth0). */
export function podAddresses(pod: string): string[] {
  const shown = execIn(pod, ['ip', '-j', '-4', 'addr', 'show', 'dev', 'eth0']);
  if (shown.code !== 0) return [];
  const links = JSON.parse(shown.stdout || '[]') as { addr_info?: { local: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
}

/**
 * The invariants after any mix of ADD and DEL: every address on a live pod is reserved under
 * that pod's own container ID, no address is on two pods, and no reservation exists without a
 * pod holding it (a leak). Returns the problems found, one line each.
 */
export function auditNode(node: FlannelCniNode, pods: ReadonlyMap<string, string>): string[] {
  const reserved = reservationFiles(node);
  const problems: string[] = [];
  const holders = new Map<string, string>();
  for (const [containerId, pod] of pods) {
    for (const ip of podAddresses(pod)) {
      const other = holders.get(ip);
      if (other) problems.push(`${ip} is on ${other} and ${containerId}`);
      holders.set(ip, containerId);
      const r = reserved.get(ip);
      if (!r) problems.push(`${containerId} holds ${ip} with no reservation`);
      else if (r.containerId !== containerId || r.ifname !== 'eth0') problems.push(`${containerId} holds ${ip} reserved for ${r.containerId}/${r.ifname}`);
    }
  }
  for (const [ip, r] of reserved) if (!holders.has(ip)) problems.push(`${ip} reserved for ${r.containerId}/${r.ifname} is held by no pod (leaked)`);
  return problems;
}
