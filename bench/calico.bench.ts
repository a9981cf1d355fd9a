/**
 * Calico-style dataplane figures, each against a reference measured in the same run:
 * 1. Block IPAM allocations per second on a real etcd, one node (sequential) and contended
 *    (3 nodes, 200 ADDs at once), against bare etcd compare-and-swap creates (the floor: one
 *    allocation is several round trips).
 * 2. CNI ADD/DEL latency of the kit's plugin in Calico mode (block IPAM on etcd, cali veth, proxy
 *    ARP, /32 routes, WorkloadEndpoint record) against Debian's reference `ptp` + `host-local`: the
 *    executable, and the shim + resident CNI server (thick-plugin mode, CalicoNetwork's default).
 *
 *   npx ts-node --transpile-only bench/calico.bench.ts [pods=100]
 */
import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EtcdStore } from '../lib/dataplane/datastore';
import { BlockIpam } from '../lib/dataplane/ipam/block-ipam';
import { CALICO_ETCD_PREFIX, prefixedStore } from '../lib/dataplane/ipam/calico-store';
import { renderCniShim } from '../lib/dataplane/cni/shim';
import { CalicoLab } from '../lib/lab/calico';
import { bundleApp } from '../test/integration/cni/harness';
import { startEtcd } from '../test/support/etcd';
import { createNetns, destroyNetns } from '../test/support/netns';
import { machine, percentile, timedExec as exec, writeBenchmarkSection } from './report';

const PODS = Number(process.argv[2] ?? 100);
const REFERENCE_DIR = '/usr/lib/cni';

const f = (n: number) => n.toFixed(1);

async function ipamBench(endpoint: string): Promise<string> {
  const clients = [0, 1, 2].map(() => EtcdStore.connect({ endpoints: [endpoint] }));
  try {
    const N = 200;
    const rate = async (label: string, fn: () => Promise<unknown>) => {
      const start = process.hrtime.bigint();
      await fn();
      const s = Number(process.hrtime.bigint() - start) / 1e9;
      return { label, perSecond: N / s };
    };
    // Reference: N bare compare-and-swap creates (etcd transactions), sequential.
    const floor = await rate('etcd CAS create (reference)', async () => {
      for (let i = 0; i < N; i++) await clients[0].create(`/bench-floor/${i}`, '{}');
    });
    const setup = async (root: string) => {
      await clients[0].put(`${root}ippools/p`, JSON.stringify({ cidr: '10.200.0.0/16', blockSize: 26 }));
      return clients.map((c) => new BlockIpam(prefixedStore(c, root)));
    };
    const single = await setup(`/b1${CALICO_ETCD_PREFIX}`);
    const one = await rate('block IPAM, 1 node, sequential', async () => {
      for (let i = 0; i < N; i++) await single[0].autoAssign({ node: 'n0', handleId: `h${i}`, family: 4 });
    });
    const three = await setup(`/b3${CALICO_ETCD_PREFIX}`);
    const contended = await rate('block IPAM, 3 nodes, 200 at once', () => Promise.all(Array.from({ length: N }, (_, i) =>
      three[i % 3].autoAssign({ node: `n${i % 3}`, handleId: `h${i}`, family: 4 }))));
    const rows = [floor, one, contended];
    return [
      `${N} allocations each; one etcd 3.4 member on loopback (Debian etcd-server); a /16 pool with /26 blocks, so each node claims new blocks as it goes.`,
      '',
      '| subject | allocations/s | ratio to bare CAS creates |',
      '|---|---|---|',
      ...rows.map((r) => `| ${r.label} | ${f(r.perSecond)} | ${(r.perSecond / floor.perSecond).toFixed(2)}× |`),
      '',
      'An allocation reads the pool, config, reservations and affinities, then writes the handle and the block by compare-and-swap (and claims a block — affinity pending, block, affinity confirmed — every 64 addresses): about eight round trips against the reference\'s one. Contended ADDs on one node are serialised by the host lock as Calico\'s ipam.lock does; the three nodes race on etcd.',
    ].join('\n');
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

interface Subject {
  readonly label: string;
  readonly node: string;
  readonly argv: readonly string[];
  readonly conf: string;
  readonly pods: string[];
  readonly add: number[];
  readonly del: number[];
  /** Pod names (and so host veth names) unique per subject on a shared node. @default 'pod' */
  readonly podPrefix?: string;
}

async function cniBench(dir: string, made: string[]): Promise<string> {
  const netns = (role: string) => {
    const n = createNetns(role);
    made.push(n);
    return n;
  };
  // A one-node Calico lab: its node namespace reaches the lab's etcd, its agent runs there, and the
  // plugin is the bundle the lab installs (with etcd3's .proto files beside it).
  const calico = await CalicoLab.create({ nodes: 1, topology: 'flat', vxlanMode: 'Never' });
  try {
    const [node] = calico.lab.nodes;
    const conf = JSON.stringify({ ...calico.cniConfig(node), mtu: 1450 });
    const plugin = calico.lab.binaryPaths.calicoCniPlugin!;
    const executable: Subject = {
      label: 'cnikit, Calico mode (block IPAM on etcd)', node: node.netns, argv: [process.execPath, plugin], pods: [], add: [], del: [], conf,
    };
    // Thick-plugin mode: the resident server in the node namespace, the shim as the plugin.
    const tokenFile = path.join(dir, 'cni-server.token');
    const shim = path.join(dir, 'cnikit-calico-shim');
    writeFileSync(shim, renderCniShim({ port: 7331, tokenFile, node: process.execPath, plugin }));
    chmodSync(shim, 0o755);
    const serverJs = bundleApp('cni-server', path.join(path.dirname(plugin), 'cni-server.js'));
    server = spawn('ip', ['netns', 'exec', node.netns, process.execPath, serverJs, '--port=7331', `--token-file=${tokenFile}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.once('data', () => resolve());
      server?.once('exit', (code) => reject(new Error(`cni-server exited ${code}`)));
    });
    const thick: Subject = {
      label: 'cnikit, Calico mode, shim + resident server', node: node.netns, argv: [shim], pods: [], add: [], del: [], podPrefix: 'srv',
      // its own name, so its handles and endpoints never meet the executable's
      conf: JSON.stringify({ ...calico.cniConfig(node), mtu: 1450, name: 'k8s-pod-network-srv' }),
    };
    return await measureCni([executable, thick], netns, dir);
  } finally {
    server?.kill();
    await calico.destroy();
  }
}

let server: ChildProcess | undefined;

async function measureCni(ours: readonly Subject[], netns: (role: string) => string, dir: string): Promise<string> {
  const reference: Subject = {
    label: 'ptp + host-local', node: netns('cb-ref'), argv: [path.join(REFERENCE_DIR, 'ptp')], pods: [], add: [], del: [],
    conf: JSON.stringify({
      cniVersion: '1.0.0', name: 'bench', type: 'ptp', mtu: 1450,
      ipam: { type: 'host-local', ranges: [[{ subnet: '10.202.0.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: path.join(dir, 'ref') },
    }),
  };
  for (let i = 0; i < PODS; i++) {
    for (const [k, s] of ours.entries()) s.pods.push(netns(`co${k}-${i}`));
    reference.pods.push(netns(`cr${i}`));
  }
  const call = async (s: Subject, command: string, pod: number) => {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_PATH: REFERENCE_DIR, CNI_CONTAINERID: `bench-${s.podPrefix ?? 'pod'}-${pod}`,
      CNI_NETNS: `/var/run/netns/${s.pods[pod]}`, CNI_IFNAME: 'eth0', CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=${s.podPrefix ?? 'pod'}-${pod}`,
    };
    const r = await exec(['nsenter', `--net=/var/run/netns/${s.node}`, ...s.argv], env, s.conf);
    if (r.code !== 0) throw new Error(`${s.label} ${command} ${pod} failed: ${r.out}`);
    return r.ms;
  };
  const subjects = [reference, ...ours];
  for (let i = 0; i < PODS; i++) for (const s of (i % 2 ? subjects : [...subjects].reverse())) s.add.push(await call(s, 'ADD', i));
  for (let i = 0; i < PODS; i++) for (const s of (i % 2 ? subjects : [...subjects].reverse())) s.del.push(await call(s, 'DEL', i));
  const p = (v: number[], q: number) => percentile(v, q);
  return [
    `${PODS} pods, sequential, interleaved per pod; each call is \`nsenter --net=<node ns> <plugin>\`. Reference: Debian \`ptp\` + \`host-local\` (${REFERENCE_DIR}),`,
    'the closest upstream shape to a Calico workload (veth with a host route per pod, no bridge), without a datastore.',
    '',
    '| plugin | ADD p50 ms | ADD p99 ms | DEL p50 ms | DEL p99 ms |',
    '|---|---|---|---|---|',
    ...subjects.map((s) => `| ${s.label} | ${f(p(s.add, 50))} | ${f(p(s.add, 99))} | ${f(p(s.del, 50))} | ${f(p(s.del, 99))} |`),
    ...ours.map((s) => `| **ratio ${s.label} / reference** | **${(p(s.add, 50) / p(reference.add, 50)).toFixed(2)}×** | ${(p(s.add, 99) / p(reference.add, 99)).toFixed(2)}× | ${(p(s.del, 50) / p(reference.del, 50)).toFixed(2)}× | ${(p(s.del, 99) / p(reference.del, 99)).toFixed(2)}× |`),
    '',
    'The executable pays Node start-up (see the CNI section), loading the etcd3/gRPC client and connecting, plus the IPAM round trips; the shim + resident server (CalicoNetwork\'s default, docs/cni.md) pays only the round trips; the reference reads and writes local files.',
  ].join('\n');
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cnikit-bench-calico-'));
  const made: string[] = [];
  const etcd = await startEtcd();
  try {
    const ipam = await ipamBench(etcd.endpoint);
    console.log(ipam);
    const cni = await cniBench(dir, made);
    console.log(cni);
    writeBenchmarkSection('calico', 'Calico-style dataplane: IPAM on etcd and CNI ADD (`bench/calico.bench.ts`)',
      `${machine()}\n\n### Block IPAM allocations per second\n\n${ipam}\n\n### CNI ADD/DEL latency, Calico mode\n\n${cni}`);
  } finally {
    for (const n of made) destroyNetns(n);
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
