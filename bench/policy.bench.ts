/**
 * Policy engine at scale, in a namespace of its own:
 *  1. one change (a pod's label, which moves it into a selector's set) applied with N pods and
 *     1,000 policies: compile + diff (CPU) and the incremental nft transaction, against a full
 *     reload of the equivalent rules with ipset restore + iptables-restore (the fallback path);
 *  2. pod-to-pod TCP throughput (iperf3) through the policy lab's node with 1,000 policies
 *     installed against no policy.
 *
 *   npx ts-node --transpile-only bench/policy.bench.ts [sizes=100,1000,10000] [reps=3]
 */
import { spawnSync } from 'node:child_process';
import { compilePolicy } from '../lib/dataplane/policy/compile';
import { diffRuleSets, renderNftDiff, renderNftFull } from '../lib/dataplane/policy/render-nft';
import { renderIptables } from '../lib/dataplane/policy/render-iptables';
import { fromKubernetesNetworkPolicy } from '../lib/dataplane/policy/kubernetes';
import { Policy, PolicyEndpoint, PolicyWorld } from '../lib/dataplane/policy/types';
import { PolicyLab } from '../lib/lab/policy-lab';
import { createNetns, destroyNetns } from '../test/support/netns';
import { machine, percentile, writeBenchmarkSection } from './report';

const SIZES = (process.argv[2] ?? '100,1000,10000').split(',').map(Number);
const REPS = Number(process.argv[3] ?? 3);
const POLICIES = 1000;
const NAMESPACES = 50;

function policies(n: number): Policy[] {
  return Array.from({ length: n }, (_, i) => fromKubernetesNetworkPolicy({
    metadata: { name: `p${i}`, namespace: `ns${i % NAMESPACES}` },
    spec: {
      podSelector: { matchLabels: { app: `app${i % 20}` } },
      ingress: [{
        from: [{ podSelector: { matchLabels: { role: `r${i % 10}` } } }, { namespaceSelector: { matchLabels: { tier: `t${i % 5}` } } }],
        ports: [{ protocol: 'TCP', port: 8000 + (i % 100) }, { protocol: 'UDP', port: 53 }],
      }],
    },
  }));
}

function world(pods: number, relabel = -1): PolicyWorld {
  const endpoints: PolicyEndpoint[] = Array.from({ length: pods }, (_, i) => ({
    namespace: `ns${i % NAMESPACES}`, name: `pod${i}`, interfaceName: `cali${i.toString(16).padStart(11, '0')}`,
    labels: { app: `app${i % 20}`, role: i === relabel ? 'r0' : `r${(i % 9) + 1}` },
    addresses: [`10.${Math.floor(i / 65536) + 100}.${Math.floor(i / 256) % 256}.${i % 256}`],
  }));
  return {
    namespaces: Array.from({ length: NAMESPACES }, (_, i) => ({ name: `ns${i}`, labels: { tier: `t${i % 7}` } })),
    endpoints, policies: policies(POLICIES),
  };
}

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;
function run(netns: string, argv: string[], input?: string): number {
  const start = process.hrtime.bigint();
  const r = spawnSync('ip', ['netns', 'exec', netns, ...argv], { input, maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr.toString().slice(0, 400)}`);
  return ms(start);
}

function changeBench(): string[] {
  const rows: string[] = [];
  for (const n of SIZES) {
    const samples = { compile: [] as number[], diff: [] as number[], nftFull: [] as number[], nftChange: [] as number[], ipt: [] as number[] };
    let shape = '';
    for (let rep = 0; rep < REPS; rep++) {
      const ns = createNetns('polb');
      try {
        let t = process.hrtime.bigint();
        const before = compilePolicy(world(n), { mode: 'interface' });
        samples.compile.push(ms(t));
        samples.nftFull.push(run(ns, ['nft', '-f', '-'], renderNftFull(before)));
        // the change: pod 7 gets role=r0, joining the source sets of the policies that allow r0
        t = process.hrtime.bigint();
        const after = compilePolicy(world(n, 7), { mode: 'interface' });
        const diff = diffRuleSets(before, after);
        const script = renderNftDiff(after, diff);
        samples.diff.push(ms(t));
        samples.nftChange.push(run(ns, ['nft', '-f', '-'], script));
        const ipt = renderIptables(after);
        samples.ipt.push(run(ns, ['ipset', 'restore', '-exist'], ipt.ipset) + run(ns, ['iptables-restore'], ipt.v4));
        shape = `${after.sets.length} sets, ${after.chains.length} chains, ${after.chains.reduce((a, c) => a + c.rules.length, 0)} rules; change = ${script.trim().split('\n').length} nft command(s)`;
        // the iptables tables must not linger for the next rep's nft measurement
      } finally {
        destroyNetns(ns);
      }
    }
    const med = (xs: number[]) => percentile(xs, 50);
    rows.push(`| ${n} | ${POLICIES} | ${med(samples.compile).toFixed(0)} | ${med(samples.nftFull).toFixed(0)} | ${med(samples.diff).toFixed(0)} | ${med(samples.nftChange).toFixed(1)} | ${med(samples.ipt).toFixed(0)} | **${(med(samples.nftChange) / med(samples.ipt)).toFixed(3)}×** | ${shape} |`);
    console.log(rows[rows.length - 1]);
  }
  return rows;
}

async function throughput(): Promise<string> {
  const ports = [{ port: 5201, protocol: 'TCP' as const }];
  const lab = await PolicyLab.create({ namespaces: [{ name: 'ns0', labels: { tier: 't0' } }], pods: [
    { namespace: 'ns0', name: 'server', labels: { app: 'app0', role: 'r1' } },
    { namespace: 'ns0', name: 'client', labels: { app: 'app1', role: 'r0' } },
  ] }, { stack: 'calico' });
  try {
    const server = lab.pod('ns0/server');
    const client = lab.pod('ns0/client');
    const measure = (): number => {
      spawnSync('ip', ['netns', 'exec', server.netns, 'iperf3', '-s', '-D', '-1', '-p', '5201']);
      spawnSync('sleep', ['0.3']);
      const r = spawnSync('ip', ['netns', 'exec', client.netns, 'iperf3', '-c', server.ip, '-p', '5201', '-t', '3', '--connect-timeout', '2000', '-J'], { encoding: 'utf8' });
      const j = JSON.parse(r.stdout) as { error?: string; end: { sum_received: { bits_per_second: number } } };
      if (j.error) throw new Error(`iperf3: ${j.error}`);
      return j.end.sum_received.bits_per_second / 1e9;
    };
    const none: number[] = [];
    const withPolicies: number[] = [];
    // 999 of the generated policies plus the one that lets the client reach iperf3 on the server
    const many = [...policies(POLICIES - 1), fromKubernetesNetworkPolicy({
      metadata: { name: 'iperf', namespace: 'ns0' },
      spec: { podSelector: { matchLabels: { app: 'app0' } }, ingress: [{ from: [{ podSelector: { matchLabels: { role: 'r0' } } }], ports: [{ port: ports[0].port }] }] },
    })];
    for (let i = 0; i < 3; i++) {
      await lab.setPolicies([]);
      none.push(measure());
      await lab.setPolicies(many);
      withPolicies.push(measure());
    }
    const a = percentile(none, 50);
    const b = percentile(withPolicies, 50);
    const applied = lab.engine.current;
    return `| ${a.toFixed(2)} | ${b.toFixed(2)} | **${(b / a).toFixed(2)}×** | ${applied?.chains.length} chains, ${applied?.sets.length} sets; server selected by ${many.filter((p) => p.namespace === 'ns0' && p.selector === "app == 'app0'").length} policies, client allowed by its role |`;
  } finally {
    await lab.destroy();
  }
}

async function main(): Promise<void> {
  const rows = changeBench();
  const tp = await throughput();
  console.log(tp);
  writeBenchmarkSection('policy', 'Policy engine: one change at scale, and throughput with 1,000 policies (`bench/policy.bench.ts`)', `
${machine()}

**One change** (a pod gains the label that puts it into the source set of 1/10 of the policies), every pod local to the node
(interface dispatch, the Calico-style stack), 50 namespaces, ${POLICIES} Kubernetes NetworkPolicies (each: a pod selector, two peers, two ports).
Median of ${REPS} runs, each in a fresh namespace. "compile" is the pure compiler over the whole world; "diff" recompiles after the change
and diffs; "nft change" is the one incremental \`nft -f\` transaction; the reference is the fallback's full reload of the same rule set
(\`ipset restore\` + \`iptables-restore\`), i.e. what an iptables dataplane without sets-per-change does. Ratio = nft change / iptables reload.

| pods | policies | compile ms | nft full load ms | recompile + diff ms | nft change ms | ipset + iptables-restore full ms | ratio | rule set |
|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

**Throughput**: iperf3 TCP, 3 s, pod → pod through the node of the policy lab (calico stack), median of 3; "1,000 policies" has the
server selected and the client allowed through the sets (the packet walks the dispatch map, the endpoint chain and the policy chains).
Target ≥ 0.9.

| no policy Gbit/s | 1,000 policies Gbit/s | ratio | installed |
|---|---|---|---|
${tp}
`);
}

main().catch((error: Error) => {
  console.error(error);
  process.exit(1);
});
