import { ClusterLab } from './cluster-lab';
import { CheckResult, NETCHECK_NAMESPACE, PodInfo, connectivityChecks, httpGet, listPods } from './checks';

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

/** The Calico NetworkPolicy of `invalidPolicyUpdate` and the labels it selects by. */
const INVALID_UPDATE = { policy: 'netcheck-deny-one-client', target: 'cnikit.lab/deny-target', client: 'cnikit.lab/deny-client', pass: 'cnikit.lab/pass' } as const;

interface PolicyEventSeen {
  readonly host: string;
  readonly type: string;
  readonly reason: string;
  readonly message: string;
}

/**
 * Issue 14 on the real API server: a Calico NetworkPolicy (crd.projectcalico.org/v1) denying one test
 * pod's ingress from another is enforced, then `kubectl patch`ed to a version the CRD schema accepts
 * but the policy agent refuses (a selector that does not parse). Every node's agent must record a
 * `Warning InvalidPolicy` Event on the policy saying the last good version stays in force (the
 * `events create` grant of calico-node, used), the client must stay refused over a few seconds after
 * that, each probe after a relabel of the target (so every agent recomputes with the bad version), and a third pod (its Allow rule) must still get through: the last good version, not an
 * isolated namespace. Repaired, every agent records `Normal PolicyAccepted`; deleted, the client
 * answers again. The policy and the labels are removed at the end whatever happened.
 */
export async function invalidPolicyUpdate(lab: ClusterLab, options: { withinMs?: number; holdMs?: number } = {}): Promise<CheckResult> {
  const withinMs = options.withinMs ?? 15_000;
  const holdMs = options.holdMs ?? 6_000;
  const name = 'a Calico NetworkPolicy patched to an invalid version keeps its last good version in force';
  const { policy, target: targetLabel, client: clientLabel } = INVALID_UPDATE;
  const pods = (await listPods(lab, NETCHECK_NAMESPACE, 'app=netcheck')).filter((p) => p.ready && !p.terminating);
  const target = pods.find((p) => p.node === lab.nodes.at(-1)?.name);
  const client = pods.find((p) => p.node !== target?.node);
  const bystander = pods.find((p) => p !== client && p.node !== target?.node);
  const ip = target?.ips.find((a) => !a.includes(':'));
  if (!target || !client || !ip) return { name, ok: false, detail: `needs ready netcheck pods on two nodes; have ${pods.map((p) => `${p.name} on ${p.node}`).join(', ') || 'none'}` };
  const who = (p: PodInfo) => `${p.name} (${p.node})`;
  const logs = `calico-node's policy-agent log on node ${target.node}`;
  /** The target's name when it answered, else undefined; a kubectl exec that itself failed throws. */
  const probe = async (from: PodInfo): Promise<string | undefined> => {
    const exec = await lab.kubectl(['exec', '-n', NETCHECK_NAMESPACE, from.name, '--', 'sh', '-c', `${httpGet(ip, 8080)} | tail -n 1`], { allowFailure: true, timeoutMs: 30_000 });
    if (exec.code !== 0) throw new Error(`kubectl exec into ${from.name} failed: ${(exec.stderr || exec.stdout).trim().split('\n')[0]}`);
    return exec.stdout.trim() === target.name ? target.name : undefined;
  };
  /** Probes until `answered(result)` holds or `ms` pass; how long it took, or undefined. */
  const until = async (from: PodInfo, answered: boolean, ms: number): Promise<number | undefined> => {
    const start = Date.now();
    for (;;) {
      if ((await probe(from) !== undefined) === answered) return Date.now() - start;
      if (Date.now() - start > ms) return undefined;
      await sleep(500);
    }
  };
  const kind = 'networkpolicies.crd.projectcalico.org';
  const selectorOf = (broken: boolean) => `${targetLabel} == ${broken ? '' : "'true'"}`;
  const patchSelector = (broken: boolean) => lab.kubectl(['patch', kind, '-n', NETCHECK_NAMESPACE, policy, '--type=merge', '-p', JSON.stringify({ spec: { selector: selectorOf(broken) } })]);
  const events = async (reason: string): Promise<PolicyEventSeen[]> => {
    const out = await lab.kubectl(['get', 'events', '-n', NETCHECK_NAMESPACE, '--field-selector', `involvedObject.name=${policy},reason=${reason}`, '-o', 'json']);
    const list = JSON.parse(out.stdout) as { items: { type?: string; reason?: string; message?: string; source?: { host?: string }; reportingInstance?: string }[] };
    return list.items.map((e) => ({ host: e.source?.host ?? e.reportingInstance ?? '?', type: e.type ?? '?', reason: e.reason ?? '?', message: e.message ?? '' }));
  };
  /** Waits for an Event of `reason` from every node's agent; the nodes still missing otherwise. */
  const eventsFromEveryNode = async (reason: string): Promise<{ seen: PolicyEventSeen[]; missing: string[]; ms: number }> => {
    const start = Date.now();
    for (;;) {
      const seen = await events(reason);
      const missing = lab.nodes.map((n) => n.name).filter((n) => !seen.some((e) => e.host === n));
      if (missing.length === 0 || Date.now() - start > 30_000) return { seen, missing, ms: Date.now() - start };
      await sleep(1000);
    }
  };
  const fail = (detail: string): CheckResult => ({ name, ok: false, detail: `${detail} (${logs})` });
  const steps: string[] = [];
  await lab.kubectl(['label', 'pod', '-n', NETCHECK_NAMESPACE, target.name, `${targetLabel}=true`, '--overwrite']);
  await lab.kubectl(['label', 'pod', '-n', NETCHECK_NAMESPACE, client.name, `${clientLabel}=true`, '--overwrite']);
  try {
    // Events of an earlier run of this check would answer for this one.
    await lab.kubectl(['delete', 'events', '-n', NETCHECK_NAMESPACE, '--field-selector', `involvedObject.name=${policy}`], { allowFailure: true });
    if (await probe(client) === undefined) return fail(`${who(client)} → ${target.name}@${ip} did not answer before the policy`);
    const manifest = {
      apiVersion: 'crd.projectcalico.org/v1', kind: 'NetworkPolicy', metadata: { name: policy, namespace: NETCHECK_NAMESPACE },
      // Ahead of every other policy of the default tier (Kubernetes policies are at 1000, prod's default-deny has no order).
      spec: {
        order: 10, selector: selectorOf(false), types: ['Ingress'],
        ingress: [{ action: 'Deny', source: { selector: `${clientLabel} == 'true'` } }, { action: 'Allow' }],
      },
    };
    await lab.kubectl(['apply', '-f', '-'], { input: JSON.stringify(manifest) });
    const denied = await until(client, false, withinMs);
    if (denied === undefined) return fail(`${who(client)} → ${target.name}@${ip} still answered ${withinMs / 1000} s after the Deny was created`);
    steps.push(`${who(client)} → ${target.name}@${ip} (${target.node}) refused ${denied} ms after the Deny was created`);
    if (bystander && await probe(bystander) === undefined) return fail(`${steps.join('; ')}, but ${who(bystander)} was refused too: the policy's Allow rule is not in force`);

    await patchSelector(true);
    const refused = await eventsFromEveryNode('InvalidPolicy');
    const onTarget = refused.seen.find((e) => e.host === target.node);
    if (refused.missing.length) {
      return fail(`${steps.join('; ')}; patched spec.selector to "${selectorOf(true)}" (the API server took it): no InvalidPolicy Event from ${refused.missing.map((n) => `node ${n}`).join(', ')} after 30 s (${refused.seen.length} seen; their policy-agent logs too)`);
    }
    const notWarning = refused.seen.filter((e) => e.type !== 'Warning');
    if (notWarning.length || !onTarget || !/last good version stays in force/.test(onTarget.message)) {
      return fail(`${steps.join('; ')}; patched: InvalidPolicy Events ${refused.seen.map((e) => `${e.type} from ${e.host}: "${e.message}"`).join(' · ')}; expected Warning, saying the last good version stays in force`);
    }
    steps.push(`patched spec.selector to "${selectorOf(true)}": Warning InvalidPolicy from ${[...new Set(refused.seen.map((e) => e.host))].sort().join(', ')} within ${refused.ms} ms ("${onTarget.message}")`);
    // After every agent has refused the version: still denied over a few seconds, and still precise.
    // Each round relabels the target first: a change, so every agent recomputes (a pass) with the bad version present.
    const start = Date.now();
    let probes = 0;
    while (probes < 2 || Date.now() - start < holdMs) {
      probes++;
      await lab.kubectl(['label', 'pod', '-n', NETCHECK_NAMESPACE, target.name, `${INVALID_UPDATE.pass}=${probes}`, '--overwrite']);
      await sleep(1000);
      if (await probe(client) !== undefined) return fail(`${steps.join('; ')}; then ${who(client)} → ${target.name} answered ${Date.now() - start} ms after the Events, after relabel ${probes}: the invalid version opened the policy`);
    }
    let precise = '';
    if (bystander) {
      if (await probe(bystander) === undefined) return fail(`${steps.join('; ')}; client still refused, but ${who(bystander)} → ${target.name} no longer answered: the Allow rule of the last good version is not in force (isolation instead?)`);
      precise = `, ${who(bystander)} still answered (its Allow rule)`;
    }
    steps.push(`client still refused ${probes}/${probes} over ${Date.now() - start} ms, each after a relabel of the target (an agent pass)${precise}`);

    await patchSelector(false);
    const accepted = await eventsFromEveryNode('PolicyAccepted');
    if (accepted.missing.length || accepted.seen.some((e) => e.type !== 'Normal')) {
      return fail(`${steps.join('; ')}; repaired: PolicyAccepted Events ${accepted.seen.map((e) => `${e.type} from ${e.host}`).join(', ') || 'none'}, missing from ${accepted.missing.map((n) => `node ${n}`).join(', ') || 'none'} after 30 s`);
    }
    steps.push(`repaired: Normal PolicyAccepted from ${[...new Set(accepted.seen.map((e) => e.host))].sort().join(', ')}`);
    await lab.kubectl(['delete', kind, '-n', NETCHECK_NAMESPACE, policy]);
    const restored = await until(client, true, withinMs);
    if (restored === undefined) return fail(`${steps.join('; ')}; deleted, but ${who(client)} → ${target.name} still refused after ${withinMs / 1000} s`);
    steps.push(`deleted: answered again after ${restored} ms`);
    return { name, ok: true, detail: steps.join('; ') };
  } catch (error) {
    return fail(`${[...steps, (error as Error).message.split('\n')[0]].join('; ')}`);
  } finally {
    await lab.kubectl(['delete', kind, '-n', NETCHECK_NAMESPACE, policy, '--ignore-not-found'], { allowFailure: true });
    await lab.kubectl(['label', 'pod', '-n', NETCHECK_NAMESPACE, target.name, `${targetLabel}-`], { allowFailure: true });
    await lab.kubectl(['label', 'pod', '-n', NETCHECK_NAMESPACE, target.name, `${INVALID_UPDATE.pass}-`], { allowFailure: true });
    await lab.kubectl(['label', 'pod', '-n', NETCHECK_NAMESPACE, client.name, `${clientLabel}-`], { allowFailure: true });
  }
}
