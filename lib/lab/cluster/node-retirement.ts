import { ClusterLab } from './cluster-lab';
import { CheckResult, NETCHECK_NAMESPACE, listPods } from './checks';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface CalicoObject {
  readonly metadata: { readonly name: string };
  readonly spec?: { readonly node?: string; readonly cidr?: string; readonly affinity?: string | null };
}

/** The node's IPAM objects: its BlockAffinities and the IPAMBlocks affine to it. */
async function ipamOf(lab: ClusterLab, node: string): Promise<string[]> {
  const get = async (plural: string) => (JSON.parse((await lab.kubectl(['get', `${plural}.crd.projectcalico.org`, '-o', 'json'])).stdout) as { items: CalicoObject[] }).items;
  const [affinities, blocks] = await Promise.all([get('blockaffinities'), get('ipamblocks')]);
  return [
    ...affinities.filter((a) => a.spec?.node === node).map((a) => `blockaffinity ${a.metadata.name}`),
    ...blocks.filter((b) => b.spec?.affinity === `host:${node}`).map((b) => `ipamblock ${b.spec?.cidr ?? b.metadata.name}`),
  ];
}

/**
 * Retires a node at the end of a Calico-style run, as an operator does, and checks the stack cleans
 * up after it: a pod on it is deleted first (the CNI plugin's DEL releases its address and handle),
 * then the machine is stopped and its Node object deleted; calico-kube-controllers must then release
 * every address still allocated on it and remove its blocks and affinities (Calico's node
 * controller). Picks the last node that is no route reflector (`keep`) and does not run the
 * controllers (whose own restart would only slow the clean-up). The calls it provokes are the only
 * ones that use some grants (the controllers' and the plugin's deletes), so the RBAC usage check
 * runs after it.
 */
export async function retireNode(lab: ClusterLab, options: { keep: readonly string[]; timeoutMs?: number }): Promise<CheckResult[]> {
  const controllers = (await listPods(lab, 'kube-system')).filter((p) => p.name.startsWith('calico-kube-controllers-')).map((p) => p.node);
  const candidates = lab.nodes.filter((n) => !options.keep.includes(n.name));
  const node = [...candidates].reverse().find((n) => !controllers.includes(n.name)) ?? candidates.at(-1);
  if (!node || lab.nodes.length < 2) {
    return [{ name: 'retire a node', ok: false, skipped: true, detail: `no node to retire (${lab.nodes.length} nodes, route reflectors ${options.keep.join(', ') || 'none'})` }];
  }
  const results: CheckResult[] = [];
  const name = node.name;

  // A pod deleted while its node runs: the kubelet tears its sandbox down through the CNI plugin (DEL).
  const pod = (await listPods(lab, NETCHECK_NAMESPACE, 'app=netcheck')).find((p) => p.node === name && !p.terminating);
  if (pod) {
    const deleted = await lab.kubectl(['delete', 'pod', '-n', NETCHECK_NAMESPACE, pod.name, '--wait=true', '--timeout=90s'], { allowFailure: true, timeoutMs: 100_000 });
    results.push({
      name: `pod deleted on ${name} (CNI DEL)`, ok: deleted.code === 0,
      detail: deleted.code === 0 ? `${pod.namespace}/${pod.name} (${pod.ips.join(', ')}) deleted; the kubelet released its sandbox`
        : `node ${name}: kubectl delete pod ${pod.namespace}/${pod.name} failed: ${(deleted.stderr || deleted.stdout).trim().split('\n')[0]}`,
    });
  }

  const before = await ipamOf(lab, name);
  lab.log(`retiring node ${name}: stopped, then its Node object deleted (IPAM before: ${before.join(', ') || 'none'})`);
  lab.removeNode(node);
  await lab.kubectl(['delete', 'node', name, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });

  // The controllers pass every controllers.node.reconcilerPeriod of KubeControllersConfiguration default (1m as rendered).
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  let left = await ipamOf(lab, name);
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(2000);
    left = await ipamOf(lab, name);
  }
  const seconds = Math.round((options.timeoutMs ?? 180_000) / 1000);
  results.push({
    name: `node ${name} deleted: its IPAM blocks and affinities released`,
    ok: before.length > 0 && left.length === 0,
    detail: before.length === 0 ? `node ${name} had no IPAM blocks or affinities before it was deleted`
      : left.length === 0 ? `calico-kube-controllers removed ${before.join(', ')}`
        : `node ${name} deleted, still there after ${seconds} s: ${left.join(', ')}; calico-kube-controllers' log (kubectl logs -n kube-system deploy/calico-kube-controllers)`,
  });
  return results;
}
