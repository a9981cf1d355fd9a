import * as fs from 'fs';
import * as path from 'path';
import { BirdRouter } from './bird-router';
import { CalicoLab } from './calico';
import { LabNode } from './lab';
import { LabProcess } from './process';

export interface LabBgpOptions {
  /** The external router's AS. @default 65000 */
  readonly routerAs?: number;
  /** Graceful-restart time the node speakers advertise. @default 120 */
  readonly restartTime?: number;
  /** Routes the external router advertises to every node. @default ['198.51.100.0/24'] */
  readonly uplinkRoutes?: readonly string[];
  /** @default '/usr/sbin/bird' */
  readonly bird?: string;
  /**
   * Where the speaker runs: inside each calico-agent (`CALICO_NETWORKING_BACKEND=bird`; the agents
   * are restarted in that mode and leave remote blocks to BGP), or as a separate
   * `bgp-speaker --calico-etcd` process beside unchanged agents. @default 'agent'
   */
  readonly mode?: 'agent' | 'standalone';
}

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * BGP routing for a Calico-style lab (`--routing bgp`): the speaker on every node (inside the
 * calico-agent, or standalone in Calico mode; either way peers from the node registry and the
 * BGPPeer resources, blocks from IPAM, node-to-node mesh) and BIRD 2 in the lab's gateway
 * namespace as an external router peering with every node.
 */
export class LabBgpRouting {
  public static async start(calico: CalicoLab, options: LabBgpOptions = {}): Promise<LabBgpRouting> {
    const lab = calico.lab;
    const dir = path.join(lab.dir, 'bgp');
    fs.mkdirSync(dir, { recursive: true });
    const esbuild = await import('esbuild');
    const bundle = path.join(dir, 'bin', 'bgp-speaker.js');
    await esbuild.build({
      entryPoints: [path.join(REPO_ROOT, 'apps', 'bgp-speaker.ts')], outfile: bundle,
      bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error',
    });
    // etcd3 loads its .proto files from `${__dirname}/../proto`.
    fs.cpSync(path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto'), path.join(dir, 'proto'), { recursive: true });
    const routing = new LabBgpRouting(calico, dir, options);
    // BGP resources where Calico keeps them: the external router as a BGPPeer for every node, and
    // the restart time advertised on every session (BIRD's graceful restart time).
    const restart = `${options.restartTime ?? 120}s`;
    await calico.store.put('bgpconfigurations/default', JSON.stringify({ nodeToNodeMeshEnabled: true, nodeMeshMaxRestartTime: restart }));
    await calico.store.put('bgppeers/lab-router', JSON.stringify({ peerIP: routing.gateway, asNumber: options.routerAs ?? 65000, maxRestartTime: restart }));
    routing.startBird();
    if ((options.mode ?? 'agent') === 'agent') await Promise.all(lab.nodes.map((node) => routing.restartAgentWithBgp(node)));
    else for (const node of lab.nodes) routing.startSpeaker(node, bundle);
    return routing;
  }

  public bird!: LabProcess;
  private router!: BirdRouter;
  /** Per node: the calico-agent with its embedded speaker (mode 'agent') or the standalone speaker. */
  public readonly speakers = new Map<string, LabProcess>();
  private constructor(public readonly calico: CalicoLab, public readonly dir: string, private readonly options: LabBgpOptions) {}

  public get gateway(): string {
    return this.calico.lab.plan.segments[0].gateway;
  }

  /** `birdc` against the lab router, e.g. `birdc('show', 'route')`. */
  public birdc(...args: string[]): string {
    return this.router.birdc(...args);
  }

  public speaker(node: LabNode): LabProcess | undefined {
    return this.speakers.get(node.name);
  }

  public async stopSpeaker(node: LabNode, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.speakers.get(node.name)?.stop(signal);
    this.speakers.delete(node.name);
  }

  public async destroy(): Promise<void> {
    await Promise.all([...this.speakers.values()].map((s) => s.stop('SIGTERM', 2000)));
    await this.bird?.stop('SIGTERM', 2000);
  }

  private startBird(): void {
    const lab = this.calico.lab;
    this.router = BirdRouter.start({
      netns: lab.plan.gwNetns, dir: this.dir, address: this.gateway, asn: this.options.routerAs ?? 65000, bird: this.options.bird,
      neighbours: lab.nodes.map((n) => ({ name: n.name, address: n.address, asn: 64512 })),
      originate: this.options.uplinkRoutes ?? ['198.51.100.0/24'],
    });
    this.bird = this.router.process;
  }

  /** Replaces the lab's agent on `node` by one with CALICO_NETWORKING_BACKEND=bird; resolves when it is ready. */
  private async restartAgentWithBgp(node: LabNode): Promise<void> {
    const binary = this.calico.lab.binaryPaths.calicoAgent;
    if (!binary) throw new Error('lab: apps/calico-agent.ts is missing');
    await this.calico.stopAgent(node);
    const agent = new LabProcess(`calico-agent-bgp-${node.name}`, ['node', binary, ...this.calico.agentArgs(node), '--networking-backend=bird'], {
      netns: node.netns, logFile: path.join(node.dir, `calico-agent-bgp-${node.name}.log`),
    });
    this.speakers.set(node.name, agent);
    await agent.waitForLine(/"msg":"ready"/, 30_000);
  }

  private startSpeaker(node: LabNode, bundle: string): void {
    const cluster = path.join(this.dir, 'cluster.json');
    if (!fs.existsSync(cluster)) {
      fs.writeFileSync(cluster, JSON.stringify({
        speaker: { connectRetryTime: 1, holdTime: 9, families: ['ipv4'] },
      }));
    }
    const lab = this.calico.lab;
    this.speakers.set(node.name, new LabProcess(`bgp-speaker-${node.name}`, [
      process.execPath, bundle, '--calico-etcd', lab.plan.etcdEndpoint, '--node-name', node.name, '--cluster', cluster,
    ], { netns: node.netns, logFile: path.join(node.dir, `bgp-speaker-${node.name}.log`) }));
  }
}
