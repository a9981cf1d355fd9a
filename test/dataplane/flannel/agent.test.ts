import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MemoryNetwork } from '../../../lib/dataplane/kernel';
import { FLANNEL_OWNERSHIP, FlannelAgent } from '../../../lib/dataplane/flannel/agent';
import { Logger } from '../../../lib/dataplane/flannel/agent-log';
import { AgentMetrics } from '../../../lib/dataplane/flannel/agent-metrics';
import { Lease, LeaseAttrs, LeaseEvent, LeaseManager, Stoppable } from '../../../lib/dataplane/flannel/lease';
import { FlannelNetConfig, parseNetConfig } from '../../../lib/dataplane/flannel/net-config';
import { Cidr } from '../../../lib/model/cidr';
import { lease } from './backend-fixtures';

/**
 * A LeaseManager over a plain list, so the agent's composition can be checked without etcd (the
 * real managers are exercised with real agents in test/lab). `hold()` delays the first list.
 */
class ListLeaseManager implements LeaseManager {
  public readonly name = 'list';
  public config: FlannelNetConfig | Error;
  private subscriber?: (events: readonly LeaseEvent[]) => void;
  private release?: () => void;
  private held = false;

  constructor(public readonly leases: Lease[], network = '10.244.0.0/16', backend = 'host-gw') {
    this.config = parseNetConfig(JSON.stringify({ Network: network, Backend: { Type: backend } }));
  }
  async getNetworkConfig(): Promise<FlannelNetConfig> {
    if (this.config instanceof Error) throw this.config;
    return this.config;
  }
  async previousLease(): Promise<Lease | undefined> {
    return undefined;
  }
  async acquireLease(attrs: LeaseAttrs): Promise<Lease> {
    const own: Lease = { key: '10.244.1.0-24', subnet: Cidr.parse('10.244.1.0/24', 's', 4), attrs };
    this.leases.push(own);
    return own;
  }
  async renewLease(l: Lease): Promise<Lease> {
    return l;
  }
  async completeLease(): Promise<void> {}
  keepLease(): Stoppable {
    return { stop: async () => undefined };
  }
  hold(): void {
    this.held = true;
  }
  list(): void {
    this.release?.();
  }
  watchLeases(onEvents: (events: readonly LeaseEvent[]) => void): Stoppable {
    this.subscriber = onEvents;
    const send = () => onEvents(this.leases.map((l) => ({ type: 'added' as const, lease: l })));
    if (this.held) this.release = send;
    else setImmediate(send);
    return { stop: async () => void (this.subscriber = undefined) };
  }
  emit(events: LeaseEvent[]): void {
    this.subscriber?.(events);
  }
  async close(): Promise<void> {}
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const quiet: Logger = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function node() {
  const net = new MemoryNetwork();
  const ns = net.namespace('n1');
  ns.addLink({ name: 'eth0', kind: 'veth', mtu: 1500, up: true });
  ns.addresses.set('eth0|10.99.0.11/24', { dev: 'eth0', cidr: '10.99.0.11/24' });
  ns.routes.set('254|0.0.0.0/0|0', { dst: '0.0.0.0/0', via: '10.99.0.1', dev: 'eth0', protocol: 3 });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-agent-test-'));
  dirs.push(dir);
  return { ns, kernel: net.kernel(FLANNEL_OWNERSHIP, 'n1'), dir };
}

function agentFor(leases: LeaseManager, kernel: ReturnType<typeof node>['kernel'], dir: string, log: Logger = quiet) {
  return new FlannelAgent({
    leases, kernel, selection: {}, subnetFile: path.join(dir, 'subnet.env'), stateDir: dir, ipMasq: true,
    resyncSeconds: 3600, log, metrics: new AgentMetrics({ processMetrics: false }), onFatal: () => undefined,
  });
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 120));

describe('FlannelAgent on the in-memory kernel', () => {
  const peers = () => [lease('10.244.2.0/24', '10.99.0.12', 'host-gw'), lease('10.244.3.0/24', '10.99.0.13', 'host-gw')];

  it('acquires a lease, programs peers, writes the subnet file and masquerade rules', async () => {
    const { ns, kernel, dir } = node();
    const agent = agentFor(new ListLeaseManager(peers()), kernel, dir);
    await agent.start();
    expect(agent.isReady).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'subnet.env'), 'utf8')).toBe(
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n');
    expect([...ns.routes.keys()].sort()).toEqual(['254|0.0.0.0/0|0', '254|10.244.2.0/24|0', '254|10.244.3.0/24|0']);
    expect(ns.ruleSets.get('4/flannel-ipv4')?.chains.map((c) => c.name)).toEqual(['postrtg', 'forward']);
    await agent.stop();
  });

  it('removes a peer\'s route when its lease goes, and stop() leaves the rest in place', async () => {
    const { ns, kernel, dir } = node();
    const leases = new ListLeaseManager(peers());
    const agent = agentFor(leases, kernel, dir);
    await agent.start();
    leases.emit([{ type: 'removed', lease: leases.leases[1] }]);
    await settle();
    expect(ns.routes.has('254|10.244.3.0/24|0')).toBe(false);
    await agent.stop();
    expect(ns.routes.has('254|10.244.2.0/24|0')).toBe(true);
    expect(ns.ruleSets.size).toBe(1);
  });

  it('after a restart, touches no existing route before the full list of leases has arrived', async () => {
    const { ns, kernel, dir } = node();
    const first = agentFor(new ListLeaseManager(peers()), kernel, dir);
    await first.start();
    await first.stop();
    const leases = new ListLeaseManager(peers());
    leases.hold();
    const second = agentFor(leases, kernel, dir);
    const started = second.start();
    await settle();
    expect(second.isReady).toBe(true);
    expect(ns.routes.has('254|10.244.2.0/24|0') && ns.routes.has('254|10.244.3.0/24|0')).toBe(true);
    const applied = kernel.applyCount;
    leases.list();
    await started;
    expect(kernel.applyCount).toBe(applied); // everything was already right
    await second.stop();
  });

  it('keeps running on the last good config when the config becomes unreadable or incompatible', async () => {
    const { ns, kernel, dir } = node();
    const warnings: string[] = [];
    const leases = new ListLeaseManager(peers());
    const agent = agentFor(leases, kernel, dir, { ...quiet, warn: (msg) => warnings.push(msg) });
    await agent.start();
    leases.config = new Error('etcd: config is not JSON');
    await (agent as unknown as { resync(): Promise<void> }).resync();
    leases.config = parseNetConfig('{"Network":"10.50.0.0/16","Backend":{"Type":"vxlan"}}');
    await (agent as unknown as { resync(): Promise<void> }).resync();
    expect(warnings).toEqual([
      'network config unreadable; keeping the last good one',
      'network config changed; Network and Backend changes need an agent restart, keeping the running config',
    ]);
    expect(ns.routes.has('254|10.244.2.0/24|0')).toBe(true);
    expect(await agent.metrics.registry.metrics()).toContain('flannel_errors_total{source="config"} 2');
    await agent.stop();
  });
});
