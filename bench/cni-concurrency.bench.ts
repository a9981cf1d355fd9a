/**
 * 200 concurrent Calico-mode CNI ADDs over 3 nodes through the shim + resident server (one etcd),
 * beside 200 sequential ADDs of the reference `ptp` + `host-local` (Debian's containernetworking-plugins),
 * same machine, same run. Wall time from the first ADD started to the last answered; every pod's
 * namespace is made before timing. The Calico run is checked as the fault test checks it: 200/200,
 * no duplicate address, and after DEL of all no handle, allocation, endpoint or veth.
 *
 *   npx ts-node --transpile-only bench/cni-concurrency.bench.ts [pods=200]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createNetns, destroyNetns } from '../test/support/netns';
import { CalicoCniCluster, resultAddress } from '../test/fault/support/calico-cni';
import { machine, timedExec as exec, writeBenchmarkSection } from './report';

const PODS = Number(process.argv[2] ?? 200);
const REFERENCE_DIR = '/usr/lib/cni';

async function reference(made: string[], dir: string): Promise<{ addMs: number; delMs: number }> {
  const node = createNetns('bcr-node');
  made.push(node);
  const pods = Array.from({ length: PODS }, (_, i) => {
    const pod = createNetns(`bcr${i}`);
    made.push(pod);
    return pod;
  });
  const conf = JSON.stringify({
    cniVersion: '1.0.0', name: 'bench', type: 'ptp', mtu: 1450,
    ipam: { type: 'host-local', ranges: [[{ subnet: '10.252.0.0/16' }]], dataDir: path.join(dir, 'ref') },
  });
  const call = async (command: string, i: number) => {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', CNI_COMMAND: command, CNI_PATH: REFERENCE_DIR, CNI_CONTAINERID: `ref-${i}`, CNI_NETNS: `/var/run/netns/${pods[i]}`, CNI_IFNAME: 'eth0' };
    const r = await exec(['nsenter', `--net=/var/run/netns/${node}`, path.join(REFERENCE_DIR, 'ptp')], env, conf);
    if (r.code !== 0) throw new Error(`reference ${command} ${i} failed: ${r.out}`);
  };
  await call('ADD', 0); // warm the page cache
  await call('DEL', 0);
  let start = process.hrtime.bigint();
  for (let i = 0; i < PODS; i++) await call('ADD', i);
  const addMs = Number(process.hrtime.bigint() - start) / 1e6;
  start = process.hrtime.bigint();
  for (let i = 0; i < PODS; i++) await call('DEL', i);
  return { addMs, delMs: Number(process.hrtime.bigint() - start) / 1e6 };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'cnikit-bench-cnic-'));
  const made: string[] = [];
  const cluster = await CalicoCniCluster.create(3);
  try {
    await Promise.all(cluster.nodes.map((node) => cluster.startServer(node)));
    const pods = Array.from({ length: PODS }, (_, i) => ({ id: `bench-${i}`, node: cluster.nodes[i % 3], netns: cluster.namespace(`bc${i}`) }));
    // warm each server (its Calico mode loads and connects etcd at the first call)
    await Promise.all(cluster.nodes.map((node) => cluster.run(node, 'shim', 'DEL', 'warm-up', undefined)));
    let start = process.hrtime.bigint();
    const adds = await Promise.all(pods.map((p) => cluster.run(p.node, 'shim', 'ADD', p.id, p.netns)));
    const addMs = Number(process.hrtime.bigint() - start) / 1e6;
    const ok = adds.filter((a) => a.code === 0).length;
    const distinct = new Set(adds.map(resultAddress).filter((a) => a !== undefined)).size;
    start = process.hrtime.bigint();
    const dels = await Promise.all(pods.map((p) => cluster.run(p.node, 'shim', 'DEL', p.id, p.netns)));
    const delMs = Number(process.hrtime.bigint() - start) / 1e6;
    const left = await cluster.audit();
    if (ok !== PODS || distinct !== PODS || dels.some((d) => d.code !== 0) || Object.values(left).some((l) => l.length)) {
      throw new Error(`Calico run failed its checks: ${ok}/${PODS} ADDs ok, ${distinct} distinct addresses, left ${JSON.stringify(left)}`);
    }
    const ref = await reference(made, dir);
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const text = [
      `${PODS} Calico-mode ADDs started at once over 3 node namespaces (${PODS / 3 | 0}+ each), each through the node's bash shim to its resident CNI`,
      'server (one etcd, real kernel), against the reference doing the same number of ADDs one after another in one node namespace:',
      `Debian containernetworking-plugins \`ptp\` + \`host-local\` (${REFERENCE_DIR}). Wall time from the first ADD started to the last answered;`,
      'pod namespaces made before timing. The machine is shared; the ratio matters more than absolute figures.',
      '',
      '| run | ADD wall | DEL wall | checks |',
      '|---|---|---|---|',
      `| cnikit Calico mode, ${PODS} concurrent, shim + server, 3 nodes | ${s(addMs)} | ${s(delMs)} | ${ok}/${PODS} ok, ${distinct} distinct addresses; after DEL: 0 handles, 0 allocations, 0 endpoints, 0 veths |`,
      `| reference ptp + host-local, ${PODS} sequential, 1 node | ${s(ref.addMs)} | ${s(ref.delMs)} | |`,
      `| **ratio cnikit concurrent / reference sequential** | **${(addMs / ref.addMs).toFixed(2)}×** | ${(delMs / ref.delMs).toFixed(2)}× | |`,
    ].join('\n');
    console.log(text);
    writeBenchmarkSection('cni-concurrency', 'Concurrent Calico-mode CNI ADDs (`bench/cni-concurrency.bench.ts`)', `${machine()}\n\n${text}`);
  } finally {
    await cluster.dispose();
    for (const n of made) destroyNetns(n);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
