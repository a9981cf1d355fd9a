/**
 * Route convergence through the kernel layer: the flannel agent's `Reconciler` (list owned routes
 * with one `ip -j` dump, diff, one `ip -batch`) bringing an empty namespace to N host-gw routes,
 * against plain `ip -batch` adding the same N routes, in the same run. Also the steady-state
 * resync (everything already right: dump + diff, no change) and repairing 10% drift.
 *
 *   npx ts-node --transpile-only bench/kernel-routes.bench.ts [sizes=1000,5000] [reps=3]
 */
import { spawnSync } from 'node:child_process';
import { LinuxKernel, Route } from '../lib/dataplane/kernel';
import { Reconciler } from '../lib/dataplane/flannel/reconcile';
import { DesiredDataplane } from '../lib/dataplane/flannel/backend';
import { createNetns, destroyNetns } from '../test/support/netns';
import { machine, percentile, writeBenchmarkSection } from './report';

const SIZES = (process.argv[2] ?? '1000,5000').split(',').map(Number);
const REPS = Number(process.argv[3] ?? 3);
const PROTO = 222;
const DEV = 'kb0';

function routesFor(n: number): Route[] {
  // remote node i: subnet 10.(i/256).(i%256).0/24 via 172.16.(i/250).(i%250+2) on the uplink
  return Array.from({ length: n }, (_, i) => ({
    dst: `10.${Math.floor(i / 256)}.${i % 256}.0/24`, via: `172.16.${Math.floor(i / 250)}.${(i % 250) + 2}`, dev: DEV, protocol: PROTO,
  }));
}

function prepare(netns: string): void {
  const script = `link add ${DEV} type veth peer name ${DEV}p\naddr add 172.16.0.1/16 dev ${DEV}\nlink set ${DEV}p up\nlink set ${DEV} up\n`;
  const r = spawnSync('ip', ['-n', netns, '-batch', '-'], { input: script });
  if (r.status !== 0) throw new Error(`prepare ${netns}: ${r.stderr.toString()}`);
}

function desired(routes: Route[]): DesiredDataplane {
  return { links: [], addresses: [], routes, neighbours: [], fdb: [], refusals: [] };
}

async function timed(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const n of SIZES) {
    const routes = routesFor(n);
    const batch = routes.map((r) => `route add ${r.dst} via ${r.via} dev ${DEV} proto ${PROTO}`).join('\n') + '\n';
    const ipBatch: number[] = [];
    const converge: number[] = [];
    const resync: number[] = [];
    const repair: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      const ref = createNetns(`rb${n}`);
      const ours = createNetns(`rk${n}`);
      try {
        prepare(ref);
        prepare(ours);
        ipBatch.push(await timed(() => {
          const r = spawnSync('ip', ['-n', ref, '-batch', '-'], { input: batch });
          if (r.status !== 0) throw new Error(r.stderr.toString());
        }));
        const kernel = new LinuxKernel({ netns: ours, ownership: { routeProtocol: PROTO, links: [DEV] } });
        const reconciler = new Reconciler(kernel, PROTO);
        converge.push(await timed(() => reconciler.reconcile(desired(routes))));
        const count = (await kernel.routes({ family: 4, protocol: PROTO })).length;
        if (count !== n) throw new Error(`converged to ${count} routes, expected ${n}`);
        resync.push(await timed(() => reconciler.reconcile(desired(routes))));
        const drift = routes.filter((_, i) => i % 10 === 0).map((r) => `route del ${r.dst} proto ${PROTO}`).join('\n') + '\n';
        spawnSync('ip', ['-n', ours, '-batch', '-'], { input: drift });
        repair.push(await timed(() => reconciler.reconcile(desired(routes))));
      } finally {
        destroyNetns(ref);
        destroyNetns(ours);
      }
    }
    const p50 = (v: number[]) => percentile(v, 50);
    rows.push(`| ${n} | ${p50(ipBatch).toFixed(1)} | ${p50(converge).toFixed(1)} | **${(p50(converge) / p50(ipBatch)).toFixed(2)}×** | ${p50(resync).toFixed(1)} | ${p50(repair).toFixed(1)} |`);
  }
  const text = [
    `Median of ${REPS} runs; each run uses fresh namespaces with a veth uplink. "Converge" = \`Reconciler.reconcile\` from an empty table`,
    '(one owned-route dump, diff, one `ip -force -batch`), timed from Node including process spawns; the reference is one `ip -batch` process adding the same routes.',
    'Target: converge within 1.5× of `ip -batch`.',
    '',
    '| routes | `ip -batch` ms | converge ms | ratio | resync, nothing to do ms | repair 10% drift ms |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(text);
  writeBenchmarkSection('kernel-routes', 'Route convergence through the kernel layer (`bench/kernel-routes.bench.ts`)', `${machine()}\n\n${text}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
