import { run } from '../exec';
import { ClusterLab } from './cluster-lab';

/** The network name of the reference conflist (its host-local reservations live under /var/lib/cni/networks/<name>). */
export const REFERENCE_NETWORK = 'cnikit-reference';

/**
 * The reference a pod churn is measured against: upstream's `bridge` + `host-local` (Debian's
 * containernetworking-plugins, already in every lab node's /opt/cni/bin), one address per family
 * from the node's podCIDRs, as kubenet or a hand-written conflist sets a node up. Nothing runs
 * between nodes: the churn needs pods up with addresses, not traffic.
 */
export function referenceConflist(podCidrs: readonly string[]): string {
  if (!podCidrs.length) throw new Error('podCIDRs: [] is not valid; expected the node\'s pod CIDR (the controller-manager allocates it with --allocate-node-cidrs)');
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: REFERENCE_NETWORK,
    plugins: [
      {
        type: 'bridge', bridge: 'cnikit-ref0', isGateway: true, isDefaultGateway: true, ipMasq: false, hairpinMode: true,
        ipam: { type: 'host-local', ranges: podCidrs.map((subnet) => [{ subnet }]) },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  }, null, 2);
}

/**
 * Writes the reference conflist into every node's /etc/cni/net.d (through the node's own mount
 * namespace, so containerd's watch sees it) and waits for the kubelets to report Ready.
 */
export async function installReferenceNetwork(lab: ClusterLab, log: (line: string) => void): Promise<void> {
  const nodes = JSON.parse((await lab.kubectl(['get', 'nodes', '-o', 'json'])).stdout) as { items: { metadata: { name: string }; spec: { podCIDRs?: string[] } }[] };
  await Promise.all(lab.nodes.map(async (node) => {
    const podCidrs = nodes.items.find((n) => n.metadata.name === node.name)?.spec.podCIDRs ?? [];
    await run(node.enter(['sh', '-c', 'mkdir -p /etc/cni/net.d && cat > /etc/cni/net.d/10-cnikit-reference.conflist']), { input: referenceConflist(podCidrs) });
  }));
  log(`reference network: bridge + host-local on ${lab.nodes.map((n) => n.name).join(', ')}`);
  await lab.kubectl(['wait', '--for=condition=Ready', 'nodes', '--all', '--timeout=180s'], { timeoutMs: 200_000 });
}
