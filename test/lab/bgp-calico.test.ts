import * as fs from 'node:fs';
import * as path from 'node:path';
import { CalicoLab } from '../../lib/lab/calico';
import { BlockIpam } from '../../lib/dataplane/ipam/block-ipam';
import { blockHost } from '../../lib/dataplane/ipam/block-model';
import { canCreateNetns, execIn } from '../support/netns';
import { Bird, NetnsProcess, bundleSpeaker, haveBird, tempDir, until } from '../integration/bgp/harness';

/**
 * The Calico-style stack routed by BGP: the lab's real calico-agents (etcd mode, pool with
 * VXLAN and IPIP off) and CNI-created pods, plus on every node the bundled speaker in Calico
 * mode (`--calico-etcd`: peers from the node registry, blocks from IPAM), and BIRD 2 in the
 * lab's gateway namespace as the external router peering with every node.
 */
const runs = canCreateNetns() && haveBird() && fs.existsSync('/usr/bin/etcd');
const maybe = runs ? describe : describe.skip;
const RESTART = 4;

maybe('Calico-style stack with BGP routing (lab)', () => {
  let calico: CalicoLab;
  let bird: Bird;
  let dir: string;
  const speakers = new Map<string, NetnsProcess>();

  beforeAll(async () => {
    dir = tempDir('calico');
    const bundle = bundleSpeaker(dir);
    calico = await CalicoLab.create({ nodes: 3, topology: 'flat', vxlanMode: 'Never' });
    const lab = calico.lab;
    const gw = lab.plan.segments[0].gateway;
    const neighbours = lab.nodes.map((n) => `protocol bgp ${n.name} from cnikit_node { neighbor ${n.address} as 64512; }`).join('\n');
    fs.mkdirSync(path.join(dir, 'bird'));
    bird = new Bird(lab.plan.gwNetns, path.join(dir, 'bird'), `
log stderr all;
router id ${gw};
protocol device { scan time 1; }
protocol static uplink { ipv4; route 198.51.100.0/24 blackhole; }
template bgp cnikit_node {
  local ${gw} as 65000;
  hold time 9; connect retry time 1; error wait time 1, 2;
  graceful restart on;
  ipv4 { import all; export where proto = "uplink"; };
}
${neighbours}
`);
    const cluster = path.join(dir, 'bgp.json');
    fs.writeFileSync(cluster, JSON.stringify({
      peers: [{ name: 'gateway', peerIp: gw, asNumber: 65000 }],
      speaker: { connectRetryTime: 1, holdTime: 9, gracefulRestartTime: RESTART, families: ['ipv4'] },
    }));
    for (const node of lab.nodes) {
      speakers.set(node.name, new NetnsProcess(node.netns, [process.execPath, bundle, '--calico-etcd', lab.plan.etcdEndpoint, '--node-name', node.name, '--cluster', cluster]));
    }
    for (const node of lab.nodes) await lab.addPod(node);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...speakers.values()].map((s) => s.kill()));
    await bird?.kill();
    await calico?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const logs = () => `${[...speakers].map(([n, s]) => `${n}:\n${s.output.join('\n')}`).join('\n')}\nbird:\n${bird.output.slice(-10).join('\n')}\n${bird.birdc('show', 'route')}\n${bird.birdc('show', 'protocols')}`;

  it('BIRD holds every node\'s blocks, nodes install BIRD\'s route and each other\'s blocks, pods reach each other without encapsulation', async () => {
    const lab = calico.lab;
    const blocks = (await new BlockIpam(calico.store).blocks()).filter((b) => blockHost(b));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    await until('BIRD learns every block', () => blocks.every((b) => bird.birdc('show', 'route').includes(b.cidr)), 30000, logs);
    for (const node of lab.nodes) {
      const remote = blocks.filter((b) => blockHost(b) !== node.name);
      await until(`${node.name} installs BGP routes`, () => {
        const table = execIn(node.netns, ['ip', '-4', 'route', 'show', 'proto', '186']).stdout;
        return table.includes(`198.51.100.0/24 via ${lab.plan.segments[0].gateway}`) && remote.every((b) => table.includes(b.cidr));
      }, 20000, logs);
    }
    const report = await lab.waitForConnectivity(20_000);
    expect(report.failures).toEqual([]);
    for (const node of lab.nodes) {
      expect(execIn(node.netns, ['ip', '-d', 'link', 'show']).stdout).not.toMatch(/vxlan|ipip/);
      expect(await calico.vxlanTxPackets(node)).toBe(0);
    }
  });

  it('killing one node\'s speaker keeps its blocks at BIRD for the restart time, then withdraws them', async () => {
    const node = calico.lab.nodes[1];
    const mine = (await new BlockIpam(calico.store).blocks()).filter((b) => blockHost(b) === node.name).map((b) => b.cidr);
    await speakers.get(node.name)!.kill('SIGKILL');
    await until('BIRD notices', () => !/Established/.test(bird.birdc('show', 'protocols', node.name)), 15000, logs);
    expect(mine.every((cidr) => bird.birdc('show', 'route').includes(cidr))).toBe(true);
    await until('withdrawn after the restart time', () => mine.every((cidr) => !bird.birdc('show', 'route').includes(cidr)), (RESTART + 8) * 1000, logs);
  });
});
