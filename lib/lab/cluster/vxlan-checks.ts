import { Cidr } from '../../model/cidr';
import { ClusterLab } from './cluster-lab';
import { CheckResult } from './checks';

/** The route protocol the Calico-style agent programs with (Felix's `proto 80`). */
const CALICO_ROUTE_PROTOCOL = '80';

/** The VXLAN device of a family, as Felix names them. */
export const vxlanDevice = (family: 4 | 6): string => (family === 4 ? 'vxlan.calico' : 'vxlan-v6.calico');

interface KernelRoute {
  readonly dst: string;
  readonly dev?: string;
  readonly gateway?: string;
}

/**
 * VXLAN as routed, read from each node's kernel: every other node's IPAM blocks of `family` go
 * through the family's VXLAN device when that node is in another subnet (or always, without
 * CrossSubnet), and directly over the uplink to its address when it shares this node's subnet.
 * One line per node; a failure names the block, its node and the route found.
 */
export async function vxlanRoutingChecks(lab: ClusterLab, family: 4 | 6, crossSubnet: boolean): Promise<CheckResult[]> {
  const device = vxlanDevice(family);
  const blocks = JSON.parse((await lab.kubectl(['get', 'ipamblocks.crd.projectcalico.org', '-o', 'json'])).stdout) as { items: { spec: { cidr: string; affinity?: string } }[] };
  const owned = blocks.items
    .map((b) => ({ cidr: Cidr.parse(b.spec.cidr, 'ipamblock spec.cidr'), node: b.spec.affinity?.replace(/^host:/, '') }))
    .filter((b) => b.cidr.family === family && b.node);
  const results: CheckResult[] = [];
  for (const node of lab.nodes) {
    const name = `IPv${family} ${crossSubnet ? 'VXLAN CrossSubnet' : 'VXLAN'} routes on ${node.name}`;
    const out = await lab.execOnNode(node, ['ip', '-j', `-${family}`, 'route', 'show', 'proto', CALICO_ROUTE_PROTOCOL], { allowFailure: true });
    const routes = new Map((JSON.parse(out.stdout || '[]') as KernelRoute[]).map((r) => [canonical(r.dst), r]));
    const wrong: string[] = [];
    let tunnelled = 0;
    let direct = 0;
    for (const block of owned.filter((b) => b.node !== node.name)) {
      const owner = lab.nodes.find((n) => n.name === block.node);
      if (!owner) continue; // a node the lab has retired
      const route = routes.get(block.cidr.toString());
      const tunnel = !crossSubnet || owner.plan.segment !== node.plan.segment;
      const gateway = family === 4 ? owner.plan.address : owner.plan.address6;
      const ok = route !== undefined && (tunnel ? route.dev === device : route.dev === node.plan.uplink && sameAddress(route.gateway, gateway));
      if (!ok) {
        wrong.push(`${block.cidr} (${owner.name}, ${tunnel ? `expected dev ${device}` : `expected via ${gateway} dev ${node.plan.uplink}`}): ${route ? `via ${route.gateway ?? '-'} dev ${route.dev ?? '-'}` : 'no route'}`);
      } else if (tunnel) tunnelled++;
      else direct++;
    }
    const ok = wrong.length === 0 && tunnelled + direct > 0;
    results.push({
      name, ok,
      detail: ok ? `${tunnelled} blocks through ${device}, ${direct} direct on ${node.plan.uplink} (same subnet)`
        : wrong.length ? `${wrong.join(' · ')} (calico-node logs on ${node.name})` : `no other node's IPv${family} block known (kubectl get ipamblocks)`,
    });
  }
  return results;
}

function canonical(dst: string): string {
  try {
    return Cidr.parse(dst, 'route dst').toString();
  } catch {
    return dst;
  }
}

function sameAddress(a: string | undefined, b: string): boolean {
  return a !== undefined && canonical(`${a}/${a.includes(':') ? 128 : 32}`) === canonical(`${b}/${b.includes(':') ? 128 : 32}`);
}
