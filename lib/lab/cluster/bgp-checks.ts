import { canonicalAddress, canonicalPrefix } from '../../dataplane/bgp/wire/address';
import { ClusterLab } from './cluster-lab';
import { CheckResult } from './checks';

/**
 * BGP as it runs, not as configured: each lab router's sessions (BIRD's own state), the blocks its
 * table holds (of the families it has sessions for), and the node ↔ reflector sessions seen as
 * established TCP connections on port 179 inside each node (`ss`), so a speaker cannot report
 * itself healthy. With IPv6 blocks, a node needs both: an IPv4 session between the IPv4 addresses
 * and an IPv6 session between the IPv6 addresses (Calico's bird.cfg and bird6.cfg).
 */
export async function bgpChecks(lab: ClusterLab, reflectorNodes: readonly string[], timeoutMs = 60_000): Promise<CheckResult[]> {
  const deadline = Date.now() + timeoutMs;
  let results: CheckResult[] = [];
  for (;;) {
    results = [];
    const allBlocks = await ipamBlocks(lab);
    const sessions = new Map<string, Set<string>>();
    for (const node of lab.nodes) {
      const out = await lab.execOnNode(node, ['ss', '-Htn', 'state', 'established', '( sport = :179 or dport = :179 )'], { allowFailure: true });
      sessions.set(node.name, new Set(out.stdout.split('\n').flatMap((l) => {
        const peer = l.trim().split(/\s+/).at(-1) ?? '';
        return peer ? [canonicalAddress(peer.replace(/^\[?(.*?)\]?:\d+$/, '$1').replace(/^::ffff:/, ''))] : [];
      })));
    }
    const reflectors = lab.nodes.filter((n) => reflectorNodes.includes(n.name));
    // IPv6 blocks are routed over IPv6 sessions only: where they exist, every node needs one with each reflector.
    const dualStack = allBlocks.some((b) => b.includes(':'));
    const families: readonly { label: string; address: (n: (typeof lab.nodes)[number]) => string }[] = [
      { label: '', address: (n) => n.plan.address },
      ...(dualStack ? [{ label: ' (IPv6)', address: (n: (typeof lab.nodes)[number]) => canonicalAddress(n.plan.address6) }] : []),
    ];
    for (const family of families) {
      for (const node of lab.nodes.filter((n) => !reflectorNodes.includes(n.name))) {
        const mine = sessions.get(node.name) ?? new Set<string>();
        const missing = reflectors.filter((r) => !mine.has(family.address(r)));
        const from = `node ${node.name} (${family.address(node)})`;
        results.push({
          name: `bgp ${node.name} ↔ reflectors${family.label}`,
          ok: reflectors.length > 0 && missing.length === 0,
          detail: reflectors.length === 0 ? `no node is a route reflector (labels); node ${node.name} has sessions with ${[...mine].join(', ') || 'nobody'}`
            : missing.length === 0 ? `${from} has sessions Established with ${reflectors.map((r) => `${r.name} (${family.address(r)})`).join(', ')}`
              : `${from} has no established session with reflector ${missing.map((r) => `${r.name} (${family.address(r)})`).join(', ')}; established: ${[...mine].join(', ') || 'none'} (calico-node log on ${node.name})`,
        });
      }
    }
    for (const [name, router] of lab.routers) {
      const states = router.sessions();
      for (const n of router.options.neighbours) {
        results.push({
          name: `bgp router ${name} ↔ ${n.name}`,
          ok: states[n.name] === 'Established',
          detail: `BIRD at ${n.address.includes(':') ? router.options.address6 : router.options.address} AS ${router.options.asn} sees node ${n.name} (${canonicalAddress(n.address)}) ${states[n.name] ?? 'not configured'}${states[n.name] === 'Established' ? '' : `; birdc: ${router.birdc('show', 'protocols', 'all', n.name).split('\n').filter((l) => /Last error|State|BGP state/.test(l)).map((l) => l.trim()).join('; ')}`}`,
        });
      }
      const learned = new Set(router.learnedPrefixes());
      // A router learns the blocks of the families it has sessions for: an IPv4 BGPPeer carries IPv4 only (Calico).
      const v6 = router.options.neighbours.some((n) => n.address.includes(':'));
      const v4 = router.options.neighbours.some((n) => !n.address.includes(':'));
      const blocks = allBlocks.filter((b) => (b.includes(':') ? v6 : v4));
      const kinds = [v4 ? 'IPv4' : '', v6 ? 'IPv6' : ''].filter(Boolean).join(' and ');
      const absent = blocks.filter((b) => !learned.has(b));
      results.push({
        name: `bgp router ${name} holds every block`,
        ok: blocks.length > 0 && absent.length === 0,
        detail: blocks.length === 0 ? `no ${kinds} IPAM blocks exist yet`
          : absent.length === 0 ? `${blocks.length} ${kinds} blocks learned: ${blocks.join(', ')}` : `missing ${absent.join(', ')} of ${blocks.length} ${kinds} blocks; learned ${[...learned].join(', ') || 'nothing'}`,
      });
    }
    if (results.every((r) => r.ok) || Date.now() > deadline) return results;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

async function ipamBlocks(lab: ClusterLab): Promise<string[]> {
  const out = await lab.kubectl(['get', 'ipamblocks.crd.projectcalico.org', '-o', 'jsonpath={range .items[*]}{.spec.cidr}{"\\n"}{end}'], { allowFailure: true });
  return out.stdout.split('\n').filter(Boolean).map((c) => canonicalPrefix(c) ?? c).sort();
}
