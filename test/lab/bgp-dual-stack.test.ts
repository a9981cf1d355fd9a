import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolvePeer } from '../../lib/model/calico/bgp';
import { BgpNode, ClusterBgpConfig, planNodePeers } from '../../lib/dataplane/bgp/peers';
import { BirdRouter } from '../../lib/lab/bird-router';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../support/netns';
import { NetnsProcess, bundleSpeaker, haveBird, tempDir, until } from '../integration/bgp/harness';

/**
 * Dual-stack BGP as Calico runs it (bird.cfg + bird6.cfg): three dual-stack node namespaces on one
 * bridge, each running the bundled speaker with the peers `planNodePeers` derives (IPv4 sessions
 * between the IPv4 addresses, IPv6 sessions between the IPv6 addresses), and BIRD 2 (the lab's
 * `BirdRouter`) as the external router with an IPv4 and an IPv6 BGPPeer. Each "pod" has an address
 * of each family on its node's loopback, in the node's IPv4 and IPv6 blocks.
 */
const runs = canCreateNetns() && haveBird();
const maybe = runs ? describe : describe.skip;

const ROUTER = '10.97.0.1';
const ROUTER6 = 'fd97::1';
const NODES: BgpNode[] = [1, 2, 3].map((i) => ({
  name: `node${i}`, address: `10.97.0.1${i}`, address6: `fd97::1${i}`,
  labels: i === 1 ? { 'route-reflector': 'true' } : ({} as Record<string, string>),
}));
const block = (i: number) => `10.245.${i}.0/26`;
const block6 = (i: number) => `fd00:245:${i}::/122`;
const pod = (i: number) => `10.245.${i}.1`;
const pod6 = (i: number) => `fd00:245:${i}::1`;

maybe('BGP lab, dual stack: IPv6 sessions between IPv6 addresses carry the IPv6 blocks', () => {
  let sw: string;
  let router: string;
  const ns: string[] = [];
  let dir: string;
  let bundle: string;
  let bird: BirdRouter | undefined;
  const speakers = new Map<number, NetnsProcess>();

  const sh = (netns: string, ...argv: string[]) => {
    const r = execIn(netns, argv);
    if (r.code !== 0) throw new Error(`${netns}: ${argv.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const routes6 = (i: number) => execIn(ns[i - 1], ['ip', '-6', 'route', 'show', 'proto', '186']).stdout;
  const routes4 = (i: number) => execIn(ns[i - 1], ['ip', '-4', 'route', 'show', 'proto', '186']).stdout;
  /** Established TCP connections on port 179 inside a node, as the kernel has them: the peers' addresses. */
  const sessions = (i: number) => new Set(execIn(ns[i - 1], ['ss', '-Htn', 'state', 'established', '( sport = :179 or dport = :179 )']).stdout
    .split('\n').filter(Boolean).map((l) => (l.trim().split(/\s+/).at(-1) ?? '').replace(/^\[?(.*?)\]?:\d+$/, '$1').replace(/^::ffff:/, '')));
  const birdRoutes = () => bird?.birdc('show', 'route') ?? '';
  const logs = () => [...speakers.entries()].map(([i, s]) => `node${i}:\n${s.output.join('\n')}`).join('\n')
    + `\nbird:\n${bird?.process.output().slice(-15).join('\n')}\n${birdRoutes()}\n${bird?.birdc('show', 'protocols')}`;
  const ping6 = (from: number, to: number) => execIn(ns[from - 1], ['ping', '-6', '-c1', '-W1', '-I', pod6(from), pod6(to)]).code === 0;
  const ping4 = (from: number, to: number) => execIn(ns[from - 1], ['ping', '-c1', '-W1', '-I', pod(from), pod(to)]).code === 0;

  function startSpeakers(cluster: ClusterBgpConfig, clusterIds: Record<number, string> = {}): void {
    const nodes = NODES.map((n, k) => ({ ...n, ...(clusterIds[k + 1] ? { routeReflectorClusterId: clusterIds[k + 1] } : {}) }));
    nodes.forEach((n, k) => {
      const i = k + 1;
      const plan = planNodePeers(n.name, nodes, cluster);
      const config = { ...plan, localRoutes: [block(i), block6(i)], connectRetryTime: 1, holdTime: 9, gracefulRestartTime: 4 };
      const file = path.join(dir, `${n.name}.json`);
      fs.writeFileSync(file, JSON.stringify(config));
      speakers.set(i, new NetnsProcess(ns[k], [process.execPath, bundle, '--config', file]));
    });
  }

  async function stopSpeakers(): Promise<void> {
    await Promise.all([...speakers.values()].map((s) => s.kill('SIGTERM')));
    speakers.clear();
    for (const n of ns) execIn(n, ['ip', '-6', 'route', 'flush', 'proto', '186']);
    for (const n of ns) execIn(n, ['ip', '-4', 'route', 'flush', 'proto', '186']);
  }

  beforeAll(() => {
    dir = tempDir('lab6');
    bundle = bundleSpeaker(dir);
    sw = createNetns('sw');
    router = createNetns('rtr');
    sh(sw, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    sh(sw, 'ip', 'link', 'set', 'br0', 'up');
    const attach = (netns: string, port: string, address: string, address6: string) => {
      sh(sw, 'ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      sh(sw, 'ip', 'link', 'set', port, 'master', 'br0', 'up');
      sh(netns, 'ip', 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      sh(netns, 'ip', 'addr', 'add', `${address6}/64`, 'dev', 'eth0', 'nodad');
      sh(netns, 'ip', 'link', 'set', 'eth0', 'up');
    };
    attach(router, 'pr', ROUTER, ROUTER6);
    NODES.forEach((n, k) => {
      const netns = createNetns(`n${k + 1}`);
      ns.push(netns);
      attach(netns, `p${k + 1}`, n.address, n.address6 as string);
      sh(netns, 'ip', 'addr', 'add', `${pod(k + 1)}/32`, 'dev', 'lo');
      sh(netns, 'ip', 'addr', 'add', `${pod6(k + 1)}/128`, 'dev', 'lo');
    });
    bird = BirdRouter.start({
      netns: router, dir: path.join(dir, 'bird'), address: ROUTER, address6: ROUTER6, asn: 65000,
      // BIRD waits on its IPv6 side: every IPv6 session there is one our speaker opened.
      neighbours: NODES.flatMap((n) => [{ name: n.name, address: n.address, asn: 64512 }, { name: `${n.name}_v6`, address: n.address6 as string, asn: 64512, passive: true }]),
      originate: ['198.51.100.0/24', '2001:db8:100::/48'],
    });
  });

  afterAll(async () => {
    await Promise.all([...speakers.values()].map((s) => s.kill()));
    await bird?.stop();
    for (const n of [...ns, router, sw]) if (n) destroyNetns(n);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const external = [
    resolvePeer({ name: 'uplink', peerIp: ROUTER, asNumber: 65000 }, 'peers[0]'),
    resolvePeer({ name: 'uplink-v6', peerIp: ROUTER6, asNumber: 65000 }, 'peers[1]'),
  ];

  it('full mesh: every pair of nodes has an IPv6 session between their IPv6 addresses beside the IPv4 one; IPv6 blocks are learned over it and pods answer over IPv6', async () => {
    startSpeakers({ peers: external });
    for (const i of [1, 2, 3]) {
      const others = [1, 2, 3].filter((j) => j !== i);
      await until(`node${i}: sessions of both families with every other node and the router`, () => {
        const peers = sessions(i);
        return [ROUTER, ROUTER6, ...others.flatMap((j) => [`10.97.0.1${j}`, `fd97::1${j}`])].every((a) => peers.has(a));
      }, 30000, logs);
      await until(`node${i} installs the other nodes' IPv6 blocks and the router's IPv6 route`, () => others.every((j) => routes6(i).includes(`${block6(j)} via fd97::1${j} dev eth0`))
        && routes6(i).includes(`2001:db8:100::/48 via ${ROUTER6} dev eth0`), 20000, logs);
      // IPv4 stays on the IPv4 sessions: same blocks as before, next hops IPv4.
      for (const j of others) expect(routes4(i)).toContain(`${block(j)} via 10.97.0.1${j} dev eth0`);
      expect(routes4(i)).not.toContain('fd');
    }
    // The speakers say which family each session carries: IPv6 on IPv6 sessions only. (Their log lines
    // come through a pipe, so they may trail the session state read above.)
    const established = () => speakers.get(1)!.output.filter((l) => /session with .* established/.test(l));
    await until('node1 logs both IPv6 sessions', () => established().filter((l) => /session with fd97::1[23] .*\(AS 64512, hold \d+s, ipv6\)/.test(l)).length >= 2, 10000, logs);
    expect(established().filter((l) => /session with fd97::1[23] .*\(AS 64512, hold \d+s, ipv6\)/.test(l))).toHaveLength(2);
    expect(established().filter((l) => /session with 10\.97\.0\.1[23] .*\(AS 64512, hold \d+s, ipv4\)/.test(l))).toHaveLength(2);
    for (const [a, b] of [[1, 2], [2, 3], [3, 1]]) {
      expect(ping6(a, b)).toBe(true);
      expect(ping4(a, b)).toBe(true);
    }
  });

  it('BIRD 2 accepts an IPv6 session from every speaker and holds every IPv6 block, next hop the owner\'s IPv6 address', async () => {
    await until('BIRD: every session Established', () => Object.values(bird!.sessions()).filter((s) => s === 'Established').length === 6, 20000, logs);
    expect(Object.keys(bird!.sessions()).filter((n) => n.endsWith('_v6'))).toHaveLength(3);
    // Accepted by BIRD (its end is [fd97::1]:179), opened from each node's IPv6 address.
    const accepted = execIn(router, ['ss', '-Htn', 'state', 'established', `( sport = :179 )`]).stdout;
    for (const n of NODES) expect(accepted).toMatch(new RegExp(`\\[${ROUTER6}\\]:179\\s+\\[${n.address6}\\]:\\d+`));
    await until('BIRD learns every block of both families', () => [1, 2, 3].every((i) => birdRoutes().includes(block(i)) && birdRoutes().includes(block6(i))), 20000, logs);
    for (const i of [1, 2, 3]) {
      const detail = bird!.birdc('show', 'route', 'for', block6(i), 'all');
      expect([...detail.matchAll(/via (\S+)/g)].map((m) => m[1])).toContain(`fd97::1${i}`);
      // Learned over the IPv6 sessions only (the IPv4 ones carry no IPv6).
      expect(bird!.birdc('show', 'route', 'protocol', `node${i}`)).not.toContain('fd00:245');
      expect(bird!.birdc('show', 'route', 'protocol', `node${i}_v6`)).toContain('fd00:245');
    }
  });

  it('route reflector: mesh off, node1 reflects IPv6 between node2 and node3 over IPv6 sessions, next hops kept', async () => {
    await stopSpeakers();
    startSpeakers({
      nodeToNodeMeshEnabled: false,
      peers: [...external, resolvePeer({ name: 'to-rr', peerSelector: "route-reflector == 'true'" }, 'peers[2]')],
    }, { 1: '244.0.0.1' });
    for (const [i, j] of [[2, 3], [3, 2]]) {
      await until(`node${i} learns node${j}'s IPv6 block via the reflector`, () => routes6(i).includes(`${block6(j)} via fd97::1${j} dev eth0`), 30000, logs);
      // Its sessions: the reflector over both families, no other node.
      expect(sessions(i).has('fd97::11')).toBe(true);
      expect(sessions(i).has(`fd97::1${j}`)).toBe(false);
    }
    expect(ping6(2, 3)).toBe(true);
    expect(ping6(3, 1)).toBe(true);
  });
});
