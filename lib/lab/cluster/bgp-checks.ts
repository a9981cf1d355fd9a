import { ClusterLab } from './cluster-lab';
import { CheckResult } from './checks';

/**
 * BGP as it runs, not as configured: each lab router's sessions (BIRD's own state), the blocks its
 * table holds, and the node ↔ reflector sessions seen as established TCP connections on port 179
 * inside each node (`ss`), so a speaker cannot report itself healthy.
 */
export async function bgpChecks(lab: ClusterLab, reflectorNodes: readonly string[], timeoutMs = 60_000): Promise<CheckResult[]> {
  const deadline = Date.now() + timeoutMs;
  let results: CheckResult[] = [];
  for (;;) {
    results = [];
    const blocks = await ipv4Blocks(lab);
    const sessions = new Map<string, Set<string>>();
    for (const node of lab.nodes) {
      const out = await lab.execOnNode(node, ['ss', '-Htn', 'state', 'established', '( sport = :179 or dport = :179 )'], { allowFailure: true });
      sessions.set(node.name, new Set(out.stdout.split('\n').flatMap((l) => {
        const peer = l.trim().split(/\s+/).at(-1) ?? '';
        return peer ? [peer.replace(/^\[?(.*?)\]?:\d+$/, '$1').replace(/^::ffff:/, '')] : [];
      })));
    }
    const reflectors = lab.nodes.filter((n) => reflectorNodes.includes(n.name));
    for (const node of lab.nodes.filter((n) => !reflectorNodes.includes(n.name))) {
      const mine = sessions.get(node.name) ?? new Set<string>();
      const missing = reflectors.filter((r) => !mine.has(r.plan.address));
      results.push({
        name: `bgp ${node.name} ↔ reflectors`,
        ok: reflectors.length > 0 && missing.length === 0,
        detail: reflectors.length === 0 ? `no node is a route reflector (labels); node ${node.name} has sessions with ${[...mine].join(', ') || 'nobody'}`
          : missing.length === 0 ? `node ${node.name} has sessions with ${reflectors.map((r) => `${r.name} (${r.plan.address})`).join(', ')}`
            : `node ${node.name} has no established session with reflector ${missing.map((r) => `${r.name} (${r.plan.address})`).join(', ')}; established: ${[...mine].join(', ') || 'none'} (calico-node log on ${node.name})`,
      });
    }
    for (const [name, router] of lab.routers) {
      const states = router.sessions();
      for (const n of router.options.neighbours) {
        results.push({
          name: `bgp router ${name} ↔ ${n.name}`,
          ok: states[n.name] === 'Established',
          detail: `BIRD at ${router.options.address} AS ${router.options.asn} sees node ${n.name} (${n.address}) ${states[n.name] ?? 'not configured'}${states[n.name] === 'Established' ? '' : `; birdc: ${router.birdc('show', 'protocols', 'all', n.name).split('\n').filter((l) => /Last error|State|BGP state/.test(l)).map((l) => l.trim()).join('; ')}`}`,
        });
      }
      const learned = new Set(router.learnedPrefixes());
      const absent = blocks.filter((b) => !learned.has(b));
      results.push({
        name: `bgp router ${name} holds every block`,
        ok: blocks.length > 0 && absent.length === 0,
        detail: blocks.length === 0 ? 'no IPv4 IPAM blocks exist yet'
          : absent.length === 0 ? `${blocks.length} blocks learned: ${blocks.join(', ')}` : `missing ${absent.join(', ')} of ${blocks.length} blocks; learned ${[...learned].join(', ') || 'nothing'}`,
      });
    }
    if (results.every((r) => r.ok) || Date.now() > deadline) return results;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function ipv4Blocks(lab: ClusterLab): Promise<string[]> {
  const out = await lab.kubectl(['get', 'ipamblocks.crd.projectcalico.org', '-o', 'jsonpath={range .items[*]}{.spec.cidr}{"\\n"}{end}'], { allowFailure: true });
  return out.stdout.split('\n').filter((c) => c && !c.includes(':')).sort();
}
