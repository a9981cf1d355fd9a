import { ClusterLab } from './cluster-lab';
import { CheckResult, NETCHECK_NAMESPACE, connectivityChecks, httpGet, listPods } from './checks';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `kubectl patch felixconfiguration default` moving the VXLAN port: every node's VXLAN devices
 * (`vxlan.calico`, and `vxlan-v6.calico` for IPv6 pools: one port for both, as in Felix) follow
 * (read from the kernel, `ip -d link`) within one route refresh, and pods still talk across nodes
 * over every family afterwards. The port is put back at the end.
 */
export async function felixVxlanPortChange(lab: ClusterLab, port: number, options: { devices: readonly string[]; dualStack: boolean; natOutgoing: boolean; refreshSeconds: number }): Promise<CheckResult[]> {
  const name = `kubectl patch felixconfiguration default vxlanPort=${port}`;
  const patch = (value: number | null) => lab.kubectl(['patch', 'felixconfigurations.crd.projectcalico.org', 'default', '--type=merge', '-p', JSON.stringify({ spec: { vxlanPort: value } })]);
  const ports = async () => (await Promise.all(lab.nodes.map((node) => Promise.all(options.devices.map(async (device) => {
    const out = await lab.execOnNode(node, ['ip', '-d', 'link', 'show', device], { allowFailure: true });
    return { node: options.devices.length > 1 ? `${node.name} ${device}` : node.name, port: /dstport (\d+)/.exec(out.stdout)?.[1] ?? `no ${device}` };
  }))))).flat();
  const before = JSON.parse((await lab.kubectl(['get', 'felixconfigurations.crd.projectcalico.org', 'default', '-o', 'json'])).stdout) as { spec?: { vxlanPort?: number } };
  await patch(port);
  const deadline = Date.now() + options.refreshSeconds * 1000;
  let seen = await ports();
  while (seen.some((p) => p.port !== String(port)) && Date.now() < deadline) {
    await sleep(1000);
    seen = await ports();
  }
  const followed = seen.every((p) => p.port === String(port));
  const results: CheckResult[] = [{
    name, ok: followed,
    detail: `${seen.map((p) => `${p.node} ${p.port}`).join(', ')}${followed ? '' : ` after ${options.refreshSeconds} s (one routeRefreshInterval); calico-node logs on those nodes`}`,
  }];
  if (followed) {
    const after = await connectivityChecks(lab, { dualStack: options.dualStack, natOutgoing: options.natOutgoing, timeoutMs: 30_000 });
    const pairs = after.filter((r) => /^(icmp|tcp)[46] /.test(r.name));
    const failed = pairs.filter((r) => !r.ok);
    results.push({
      name: `pods talk across nodes with vxlanPort=${port}`, ok: pairs.length > 0 && failed.length === 0,
      detail: failed.length ? failed.map((r) => `${r.name}: ${r.detail}`).join(' · ') : `${pairs.length} pod ↔ pod probes (ICMP and TCP) passed`,
    });
  }
  await patch(before.spec?.vxlanPort ?? null);
  return results;
}

/**
 * A NetworkPolicy created while the agents run is enforced within `withinMs`: one test pod's ingress
 * is closed, another pod's connection to it must fail by then (and worked before). The policy is
 * deleted afterwards.
 */
export async function lateNetworkPolicy(lab: ClusterLab, withinMs = 2000): Promise<CheckResult> {
  const name = `a NetworkPolicy created while running is enforced within ${withinMs / 1000} s`;
  const pods = (await listPods(lab, NETCHECK_NAMESPACE, 'app=netcheck')).filter((p) => p.ready && !p.terminating);
  const target = pods.find((p) => p.node === lab.nodes.at(-1)?.name);
  const client = pods.find((p) => p.node !== target?.node);
  const ip = target?.ips.find((a) => !a.includes(':'));
  if (!target || !client || !ip) return { name, ok: false, detail: `needs ready netcheck pods on two nodes; have ${pods.map((p) => `${p.name} on ${p.node}`).join(', ') || 'none'}` };
  const probe = async () => (await lab.kubectl(['exec', '-n', NETCHECK_NAMESPACE, client.name, '--', 'sh', '-c', `${httpGet(ip, 8080)} | tail -n 1`], { allowFailure: true })).stdout.trim();
  const before = await probe();
  if (before !== target.name) return { name, ok: false, detail: `${client.name} → ${target.name}@${ip} did not work before the policy: "${before}"` };
  const policy = {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'netcheck-isolate-one', namespace: NETCHECK_NAMESPACE },
    spec: { podSelector: { matchLabels: { 'cnikit.lab/isolated': 'true' } }, policyTypes: ['Ingress'], ingress: [] },
  };
  // A label only the target carries, set before the policy exists.
  await lab.kubectl(['label', 'pod', '-n', NETCHECK_NAMESPACE, target.name, 'cnikit.lab/isolated=true', '--overwrite']);
  try {
    await lab.kubectl(['apply', '-f', '-'], { input: JSON.stringify(policy) });
    const created = Date.now();
    await sleep(withinMs);
    const probedAfter = Date.now() - created;
    const after = await probe();
    const denied = after !== target.name;
    return {
      name, ok: denied,
      detail: denied ? `${client.name} (${client.node}) → ${target.name}@${ip} (${target.node}) refused when probed ${probedAfter} ms after the policy was created (it answered before)`
        : `${client.name} → ${target.name}@${ip} still answered ${withinMs} ms after the policy was created (policy-agent logs on ${target.node})`,
    };
  } finally {
    await lab.kubectl(['delete', 'networkpolicy', '-n', NETCHECK_NAMESPACE, 'netcheck-isolate-one', '--ignore-not-found'], { allowFailure: true });
    await lab.kubectl(['label', 'pod', '-n', NETCHECK_NAMESPACE, target.name, 'cnikit.lab/isolated-'], { allowFailure: true });
  }
}
