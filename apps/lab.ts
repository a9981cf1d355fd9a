// `npm run lab -- [--nodes N] [--backend vxlan|host-gw] [--topology flat|two-subnets] [--pods-per-node K] [--keep]`
// `npm run lab -- --stack calico [--vxlan-mode CrossSubnet|Always] [--nodes N] [--topology …]` for the Calico-style stack.
// `npm run lab -- --stack calico --ipv6-pool fd00:10:244::/48`: dual-stack, IPv6 over vxlan-v6.calico.
// `npm run lab -- --stack calico --routing bgp`: routed pool, BGP speaker per node, BIRD 2 router in the gateway namespace.
// Builds a flannel cluster from network namespaces, reports pod-to-pod connectivity (ICMP and
// TCP) as a matrix, and removes everything again. With --keep it waits for Ctrl-C first.
import { parseArgs } from 'util';
import { CalicoLab, formatReport, Lab, LabTopologyKind, sweepStaleLabs } from '../lib/lab';
import { runPolicyCli } from '../lib/lab/policy-cli';
import { LabBgpRouting } from '../lib/lab/bgp';
import { Cidr } from '../lib/model/cidr';

async function main(): Promise<number> {
  // `npm run lab -- policy …`: the policy verification harness (docs/policy.md).
  if (process.argv[2] === 'policy') return runPolicyCli(process.argv.slice(3), console.log);
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      backend: { type: 'string', default: 'vxlan' },
      'direct-routing': { type: 'boolean', default: false },
      topology: { type: 'string' },
      'pods-per-node': { type: 'string', default: '1' },
      keep: { type: 'boolean', default: false },
      sweep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
      stack: { type: 'string', default: 'flannel' },
      'vxlan-mode': { type: 'string', default: 'CrossSubnet' },
      routing: { type: 'string', default: 'vxlan' },
      'ipv6-pool': { type: 'string' },
    },
  });
  if (values.help) {
    console.log('npm run lab -- [--nodes 3] [--backend vxlan|host-gw] [--direct-routing] [--topology flat|two-subnets] [--pods-per-node 1] [--keep] [--sweep]');
    console.log('npm run lab -- --stack calico [--vxlan-mode CrossSubnet|Always] [--ipv6-pool <cidr>] [--nodes 3] [--topology two-subnets|flat] [--pods-per-node 1] [--keep]');
    console.log('npm run lab -- --stack calico --routing bgp [--nodes 3] [--pods-per-node 1] [--keep]');
    return 0;
  }
  if (values.sweep) {
    console.log(`removed stale lab namespaces: ${sweepStaleLabs().join(', ') || 'none'}`);
    return 0;
  }
  const nodes = Number(values.nodes);
  const podsPerNode = Number(values['pods-per-node']);
  // The Calico-style lab shows CrossSubnet, so it defaults to two subnets.
  // BGP routing needs on-link next hops (the speaker has no recursive next hops): one flat L2.
  const bgpRouting = values.routing === 'bgp';
  if (values.routing !== 'vxlan' && !bgpRouting) throw new Error(`--routing: "${values.routing}" is not valid; expected vxlan or bgp`);
  if (bgpRouting && values.stack !== 'calico') throw new Error('--routing: "bgp" is not valid; expected vxlan with the flannel stack (bgp needs --stack calico)');
  const topology = values.topology ?? (values.stack === 'calico' && !bgpRouting ? 'two-subnets' : 'flat');
  if (!['flat', 'two-subnets'].includes(topology)) throw new Error(`--topology: "${values.topology}" is not valid; expected flat or two-subnets`);
  if (!Number.isInteger(podsPerNode) || podsPerNode < 1 || podsPerNode > 20) throw new Error(`--pods-per-node: "${values['pods-per-node']}" is not valid; expected 1 to 20`);
  const backend: Record<string, string | boolean> = { Type: values.backend! };
  if (values['direct-routing']) backend.DirectRouting = true;

  if (!['flannel', 'calico'].includes(values.stack!)) throw new Error(`--stack: "${values.stack}" is not valid; expected flannel or calico`);
  const vxlanMode = values['vxlan-mode'];
  if (vxlanMode !== 'CrossSubnet' && vxlanMode !== 'Always') throw new Error(`--vxlan-mode: "${vxlanMode}" is not valid; expected CrossSubnet or Always`);
  const ipv6Pool = values['ipv6-pool'];
  if (ipv6Pool !== undefined && (values.stack !== 'calico' || bgpRouting)) throw new Error('--ipv6-pool: only with --stack calico and VXLAN routing (its pool uses --vxlan-mode, over vxlan-v6.calico)');
  if (ipv6Pool !== undefined) Cidr.parse(ipv6Pool, '--ipv6-pool', 6);

  const started = Date.now();
  const calico = values.stack === 'calico'
    ? await CalicoLab.create({ nodes, topology: topology as LabTopologyKind, vxlanMode: bgpRouting ? 'Never' : vxlanMode, ...(ipv6Pool ? { ipv6PoolCidr: ipv6Pool } : {}) })
    : undefined;
  const bgp = calico && bgpRouting ? await LabBgpRouting.start(calico) : undefined;
  const lab = calico?.lab ?? await Lab.create({ nodes, backend, topology: topology as LabTopologyKind });
  try {
    console.log(calico
      ? `lab ${lab.id}: ${nodes} nodes, Calico-style stack, ${bgp ? `BGP (router ${bgp.gateway})` : `VXLAN ${vxlanMode}${ipv6Pool ? ` (IPv4 and IPv6 ${ipv6Pool})` : ''}`}, topology ${topology}`
      : `lab ${lab.id}: ${nodes} nodes, backend ${values.backend}, topology ${topology}`);
    for (const node of lab.nodes) console.log(`  ${node.name}  netns ${node.netns}  ip ${node.address}${calico ? '' : `  subnet ${lab.subnetOf(node)}`}`);
    for (const node of lab.nodes) for (let i = 0; i < podsPerNode; i++) await lab.addPod(node);
    for (const pod of lab.pods) console.log(`  pod ${pod.name} on ${pod.node.name}: ${pod.ip}${pod.ip6 ? ` ${pod.ip6}` : ''}`);
    const report = await lab.waitForConnectivity(15_000);
    console.log(formatReport(report));
    const report6 = ipv6Pool ? await lab.waitForConnectivity(15_000, { family: 6 }) : undefined;
    if (report6) {
      console.log(`IPv6: ${formatReport(report6)}`);
      for (const failure of report6.failures) console.log(`  ${failure.from} → ${failure.to} (IPv6): icmp ${failure.icmp}, tcp ${failure.tcp}${failure.error ? ` (${failure.error})` : ''}`);
    }
    for (const failure of report.failures) console.log(`  ${failure.from} → ${failure.to}: icmp ${failure.icmp}, tcp ${failure.tcp}${failure.error ? ` (${failure.error})` : ''}`);
    for (const node of lab.nodes) {
      const refusals = lab.agent(node)?.output().filter((line) => line.includes('"level":"warn"') && line.includes('not on-link')) ?? [];
      for (const line of refusals) console.log(`  ${node.name} agent: ${(JSON.parse(line) as { msg: string }).msg}`);
    }
    if (bgp) console.log(bgp.birdc('show', 'route'));
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (values.keep) {
      console.log(`lab kept; logs in ${lab.dir}; enter a node with: ip netns exec ${lab.nodes[0].netns} bash. Ctrl-C removes everything.`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
    }
    return report.ok && (report6?.ok ?? true) ? 0 : 1;
  } finally {
    await bgp?.destroy();
    await (calico ?? lab).destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    console.error(`lab: ${error.message}`);
    process.exit(1);
  },
);
