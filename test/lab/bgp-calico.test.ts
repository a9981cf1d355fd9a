import * as fs from 'node:fs';
import { CalicoLab } from '../../lib/lab/calico';
import { LabBgpRouting } from '../../lib/lab/bgp';
import { BlockIpam } from '../../lib/dataplane/ipam/block-ipam';
import { blockHost } from '../../lib/dataplane/ipam/block-model';
import { canCreateNetns, execIn } from '../support/netns';
import { haveBird, until } from '../integration/bgp/harness';

/**
 * The Calico-style stack routed by BGP (`npm run lab -- --stack calico --routing bgp`): the lab's
 * real calico-agents (etcd mode, pool with VXLAN and IPIP off) and CNI-created pods, plus on every
 * node the bundled speaker in Calico mode (`--calico-etcd`: peers from the node registry, blocks
 * from IPAM) and BIRD 2 in the lab's gateway namespace as the external router peering with every node.
 */
const runs = canCreateNetns() && haveBird() && fs.existsSync('/usr/bin/etcd');
const RESTART = 4;

const MODES = ['agent', 'standalone'] as const;
(runs ? describe.each(MODES) : describe.skip.each(MODES))('Calico-style stack with BGP routing (lab, speaker %s)', (mode) => {
  let calico: CalicoLab;
  let bgp: LabBgpRouting;

  beforeAll(async () => {
    calico = await CalicoLab.create({ nodes: 3, topology: 'flat', vxlanMode: 'Never' });
    bgp = await LabBgpRouting.start(calico, { restartTime: RESTART, mode });
    for (const node of calico.lab.nodes) await calico.lab.addPod(node);
  }, 120_000);

  afterAll(async () => {
    await bgp?.destroy();
    await calico?.destroy();
  });

  const logs = () => `${[...bgp.speakers].map(([n, s]) => `${n}:\n${s.output().join('\n')}`).join('\n')}\nbird:\n${bgp.bird.output().slice(-10).join('\n')}\n${bgp.birdc('show', 'route')}\n${bgp.birdc('show', 'protocols')}`;
  const birdRoutes = () => bgp.birdc('show', 'route');

  it('BIRD holds every node\'s blocks, nodes install BIRD\'s route and each other\'s blocks, pods reach each other without encapsulation', async () => {
    const lab = calico.lab;
    const blocks = (await new BlockIpam(calico.store).blocks()).filter((b) => blockHost(b));
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    await until('BIRD learns every block', () => blocks.every((b) => birdRoutes().includes(b.cidr)), 30000, logs);
    for (const node of lab.nodes) {
      const remote = blocks.filter((b) => blockHost(b) !== node.name);
      await until(`${node.name} installs BGP routes`, () => {
        const table = execIn(node.netns, ['ip', '-4', 'route', 'show', 'proto', '186']).stdout;
        return table.includes(`198.51.100.0/24 via ${bgp.gateway}`) && remote.every((b) => table.includes(b.cidr));
      }, 20000, logs);
    }
    const report = await lab.waitForConnectivity(20_000);
    expect(report.failures).toEqual([]);
    for (const node of lab.nodes) {
      expect(execIn(node.netns, ['ip', '-d', 'link', 'show']).stdout).not.toMatch(/vxlan|ipip/);
      expect(await calico.vxlanTxPackets(node)).toBe(0);
      // With the speaker in the agent, the agent leaves remote blocks to BGP: its own routes are the blackholes only,
      // so every pod packet between nodes follows a BGP route.
      const agentRoutes = execIn(node.netns, ['ip', '-4', 'route', 'show', 'proto', '80']).stdout.split('\n').filter(Boolean);
      if (mode === 'agent') expect(agentRoutes.every((r) => r.startsWith('blackhole'))).toBe(true);
    }
  });

  it('killing one node\'s speaker keeps its blocks at BIRD for the restart time, then withdraws them', async () => {
    const node = calico.lab.nodes[1];
    const mine = (await new BlockIpam(calico.store).blocks()).filter((b) => blockHost(b) === node.name).map((b) => b.cidr);
    await bgp.stopSpeaker(node, 'SIGKILL');
    await until('BIRD notices', () => !/Established/.test(bgp.birdc('show', 'protocols', node.name)), 15000, logs);
    expect(mine.every((cidr) => birdRoutes().includes(cidr))).toBe(true);
    await until('withdrawn after the restart time', () => mine.every((cidr) => !birdRoutes().includes(cidr)), (RESTART + 8) * 1000, logs);
  });
});
