import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolvePeer } from '../../lib/model/calico/bgp';
import { BgpNode, ClusterBgpConfig, planNodePeers } from '../../lib/dataplane/bgp/peers';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../support/netns';
import { Bird, NetnsProcess, bundleSpeaker, haveBird, tempDir, until } from '../integration/bgp/harness';

/**
 * Calico-style routed networking over BGP on one L2: three node namespaces on a bridge, each
 * running the bundled speaker with the peers `planNodePeers` derives from the Calico model, and
 * an external router namespace running BIRD 2 that peers with every node. "Pods" are addresses
 * of each node's block on its loopback; they reach each other through BGP-learned routes, with
 * no encapsulation device anywhere.
 */
const runs = canCreateNetns() && haveBird();
const maybe = runs ? describe : describe.skip;

const ROUTER = '10.98.0.1';
const NODES: BgpNode[] = [1, 2, 3].map((i) => ({ name: `node${i}`, address: `10.98.0.1${i}`, labels: i === 1 ? { 'route-reflector': 'true' } : ({} as Record<string, string>) }));
const block = (i: number) => `10.244.${i}.0/26`;
const pod = (i: number) => `10.244.${i}.1`;
const RESTART = 4;

maybe('BGP lab: mesh, route reflector and an external BIRD router', () => {
  let sw: string;
  let router: string;
  const ns: string[] = [];
  let dir: string;
  let bundle: string;
  let bird: Bird | undefined;
  const speakers = new Map<number, NetnsProcess>();

  const sh = (netns: string, ...argv: string[]) => {
    const r = execIn(netns, argv);
    if (r.code !== 0) throw new Error(`${netns}: ${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const routes = (i: number) => execIn(ns[i - 1], ['ip', '-4', 'route', 'show', 'proto', '186']).stdout;
  const birdRoutes = () => bird?.birdc('show', 'route') ?? '';
  const logs = () => [...speakers.entries()].map(([i, s]) => `node${i}:\n${s.output.join('\n')}`).join('\n') + `\nbird:\n${bird?.output.slice(-15).join('\n')}\n${birdRoutes()}\n${bird?.birdc('show', 'protocols')}`;
  const birdNextHops = (prefix: string) => [...(bird?.birdc('show', 'route', 'for', prefix) ?? '').matchAll(/via (\S+)/g)].map((m) => m[1]);
  const ping = (from: number, to: number) => execIn(ns[from - 1], ['ping', '-c1', '-W1', '-I', pod(from), pod(to)]).code === 0;

  function startSpeakers(cluster: ClusterBgpConfig, clusterIds: Record<number, string> = {}): void {
    const nodes = NODES.map((n, k) => ({ ...n, ...(clusterIds[k + 1] ? { routeReflectorClusterId: clusterIds[k + 1] } : {}) }));
    nodes.forEach((n, k) => {
      const i = k + 1;
      const plan = planNodePeers(n.name, nodes, cluster);
      const config = {
        ...plan, listenAddress: n.address, localRoutes: [block(i)], connectRetryTime: 1, holdTime: 9, gracefulRestartTime: RESTART, families: ['ipv4'],
      };
      const file = path.join(dir, `${n.name}.json`);
      fs.writeFileSync(file, JSON.stringify(config));
      speakers.set(i, new NetnsProcess(ns[k], [process.execPath, bundle, '--config', file]));
    });
  }

  async function stopSpeakers(): Promise<void> {
    await Promise.all([...speakers.values()].map((s) => s.kill('SIGTERM')));
    speakers.clear();
    for (const n of ns) execIn(n, ['ip', 'route', 'flush', 'proto', '186']);
  }

  beforeAll(() => {
    dir = tempDir('lab');
    bundle = bundleSpeaker(dir);
    sw = createNetns('sw');
    router = createNetns('rtr');
    sh(sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    sh(sw, 'ip', 'link', 'set', 'br0', 'up');
    const attach = (netns: string, port: string, address: string) => {
      sh(sw, 'ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      sh(sw, 'ip', 'link', 'set', port, 'master', 'br0', 'up');
      sh(netns, 'ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      sh(netns, 'ip', 'link', 'set', 'eth0', 'up');
    };
    attach(router, 'pr', ROUTER);
    NODES.forEach((n, k) => {
      const netns = createNetns(`n${k + 1}`);
      ns.push(netns);
      attach(netns, `p${k + 1}`, n.address);
      // The kernel here has no dummy module: the "pod" address sits on the node's loopback.
      sh(netns, 'ip', 'addr', 'add', `${pod(k + 1)}/32`, 'dev', 'lo');
    });
    const neighbours = NODES.map((n, k) => `protocol bgp node${k + 1} from cnikit_node { neighbor ${n.address} as 64512; }`).join('\n');
    bird = new Bird(router, dir, `
log stderr all;
router id ${ROUTER};
protocol device { scan time 1; }
protocol static uplink { ipv4; route 198.51.100.0/24 blackhole; }
template bgp cnikit_node {
  local ${ROUTER} as 65000;
  hold time 9; connect retry time 1; error wait time 1, 2;
  graceful restart on;
  ipv4 { import all; export where proto = "uplink"; };
}
${neighbours}
`);
  });

  afterAll(async () => {
    await Promise.all([...speakers.values()].map((s) => s.kill()));
    await bird?.kill();
    for (const n of [...ns, router, sw]) if (n) destroyNetns(n);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const external = resolvePeer({ name: 'uplink', peerIp: ROUTER, asNumber: 65000 }, 'peers[0]');

  it('full mesh: BIRD holds every node\'s block, nodes install BIRD\'s route and each other\'s blocks, pods reach each other unencapsulated', async () => {
    startSpeakers({ peers: [external] });
    await until('BIRD learns every block', () => [1, 2, 3].every((i) => birdRoutes().includes(block(i))), 30000, logs);
    for (const i of [1, 2, 3]) {
      await until(`node${i} routes`, () => routes(i).split('\n').filter(Boolean).length === 3, 20000, logs);
      expect(routes(i)).toContain(`198.51.100.0/24 via ${ROUTER} dev eth0`);
      for (const j of [1, 2, 3].filter((j) => j !== i)) expect(routes(i)).toContain(`${block(j)} via 10.98.0.1${j} dev eth0`);
    }
    // Every node re-advertises the blocks it learned, but with the owning node as ("third party") next hop,
    // as BIRD does on a shared subnet: whichever path BIRD picks, traffic goes straight to the owner.
    for (const i of [1, 2, 3]) {
      await until(`BIRD's next hops for ${block(i)}`, () => birdNextHops(block(i)).every((h) => h === `10.98.0.1${i}`) && birdNextHops(block(i)).length === 3, 10000, logs);
    }
    for (const [a, b] of [[1, 2], [2, 3], [3, 1]]) expect(ping(a, b)).toBe(true);
    for (const n of ns) expect(sh(n, 'ip', '-d', 'link', 'show')).not.toMatch(/vxlan|ipip|gre/);
  });

  it('killing one node\'s agent: BIRD keeps its block for the restart time, then withdraws it', async () => {
    await speakers.get(2)!.kill('SIGKILL');
    speakers.delete(2);
    await until('BIRD session with node2 down', () => !/node2\s+BGP\s+---\s+up\s.*Established/.test(bird!.birdc('show', 'protocols', 'node2')), 15000, logs);
    expect(birdRoutes()).toContain(block(2));
    await until('node2 block withdrawn at BIRD', () => !birdRoutes().includes(block(2)), (RESTART + 8) * 1000, logs);
    await until('node1 drops node2 after the restart time', () => !routes(1).includes(block(2)), 10000, logs);
  });

  it('route reflector: mesh off, node1 reflects between node2 and node3, next hops kept', async () => {
    await stopSpeakers();
    startSpeakers({
      nodeToNodeMeshEnabled: false,
      peers: [
        external,
        resolvePeer({ name: 'to-rr', peerSelector: "route-reflector == 'true'" }, 'peers[1]'),
        resolvePeer({ name: 'rr-clients', nodeSelector: "route-reflector == 'true'", peerSelector: 'all()' }, 'peers[2]'),
      ],
    }, { 1: '244.0.0.1' });
    for (const [i, j] of [[2, 3], [3, 2]]) {
      await until(`node${i} learns node${j} via the reflector`, () => routes(i).includes(`${block(j)} via 10.98.0.1${j} dev eth0`), 30000, logs);
    }
    expect(ping(2, 3)).toBe(true);
    expect(ping(3, 1)).toBe(true);
    await until('BIRD learns every block', () => [1, 2, 3].every((i) => birdRoutes().includes(block(i))), 20000, logs);
  });
});
