// `npm run lab -- [--nodes N] [--backend vxlan|host-gw] [--topology flat|two-subnets] [--pods-per-node K] [--keep]`
// Builds a flannel cluster from network namespaces, reports pod-to-pod connectivity (ICMP and
// TCP) as a matrix, and removes everything again. With --keep it waits for Ctrl-C first.
import { parseArgs } from 'util';
import { formatReport, Lab, LabTopologyKind, sweepStaleLabs } from '../lib/lab';

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      backend: { type: 'string', default: 'vxlan' },
      'direct-routing': { type: 'boolean', default: false },
      topology: { type: 'string', default: 'flat' },
      'pods-per-node': { type: 'string', default: '1' },
      keep: { type: 'boolean', default: false },
      sweep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log('npm run lab -- [--nodes 3] [--backend vxlan|host-gw] [--direct-routing] [--topology flat|two-subnets] [--pods-per-node 1] [--keep] [--sweep]');
    return 0;
  }
  if (values.sweep) {
    console.log(`removed stale lab namespaces: ${sweepStaleLabs().join(', ') || 'none'}`);
    return 0;
  }
  const nodes = Number(values.nodes);
  const podsPerNode = Number(values['pods-per-node']);
  if (!['flat', 'two-subnets'].includes(values.topology!)) throw new Error(`--topology: "${values.topology}" is not valid; expected flat or two-subnets`);
  if (!Number.isInteger(podsPerNode) || podsPerNode < 1 || podsPerNode > 20) throw new Error(`--pods-per-node: "${values['pods-per-node']}" is not valid; expected 1 to 20`);
  const backend: Record<string, string | boolean> = { Type: values.backend! };
  if (values['direct-routing']) backend.DirectRouting = true;

  const started = Date.now();
  const lab = await Lab.create({ nodes, backend, topology: values.topology as LabTopologyKind });
  try {
    console.log(`lab ${lab.id}: ${nodes} nodes, backend ${values.backend}, topology ${values.topology}`);
    for (const node of lab.nodes) console.log(`  ${node.name}  netns ${node.netns}  ip ${node.address}  subnet ${lab.subnetOf(node)}`);
    for (const node of lab.nodes) for (let i = 0; i < podsPerNode; i++) await lab.addPod(node);
    for (const pod of lab.pods) console.log(`  pod ${pod.name} on ${pod.node.name}: ${pod.ip}`);
    const report = await lab.waitForConnectivity(15_000);
    console.log(formatReport(report));
    for (const failure of report.failures) console.log(`  ${failure.from} → ${failure.to}: icmp ${failure.icmp}, tcp ${failure.tcp}${failure.error ? ` (${failure.error})` : ''}`);
    for (const node of lab.nodes) {
      const refusals = lab.agent(node)?.output().filter((line) => line.includes('"level":"warn"') && line.includes('not on-link')) ?? [];
      for (const line of refusals) console.log(`  ${node.name} agent: ${(JSON.parse(line) as { msg: string }).msg}`);
    }
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (values.keep) {
      console.log(`lab kept; logs in ${lab.dir}; enter a node with: ip netns exec ${lab.nodes[0].netns} bash. Ctrl-C removes everything.`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
    return report.ok ? 0 : 1;
  } finally {
    await lab.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`lab: ${error.message}`);
    process.exit(1);
  },
);
