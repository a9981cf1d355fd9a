// The Calico-style controllers (what the calico-kube-controllers Deployment runs): IPAM garbage
// collection with a leak grace period, and cleanup of deleted nodes' blocks and affinities.
import * as http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { ClusterSource, IpamGarbageCollector, KubeClusterSource, StoreClusterSource } from '../lib/dataplane/calico/controllers';
import { openCalicoStore } from '../lib/dataplane/calico/datastore';
import { StoreNodeRegistry } from '../lib/dataplane/calico/node-registry';
import { jsonLogger } from '../lib/dataplane/flannel/agent-log';
import { BlockIpam } from '../lib/dataplane/ipam/block-ipam';
import { ValidationError } from '../lib/model/errors';

const VERSION = 'cnikit-calico-controllers 0.1.0';
const USAGE = `cnikit-calico-controllers: IPAM garbage collection and node cleanup
Environment (flags override; --flag=value):
  DATASTORE_TYPE        --datastore-type     kubernetes (default) | etcdv3
  ETCD_ENDPOINTS        --etcd-endpoints     comma-separated URLs (etcdv3)
  ETCD_PREFIX           --etcd-prefix
  KUBECONFIG            --kubeconfig         (default: in-cluster)
  LEAK_GRACE_PERIOD     --leak-grace-period  seconds an allocation without workload is kept (default 900; 0 disables)
  SYNC_INTERVAL         --sync-interval      seconds between passes (default 60)
  HEALTH_PORT           --health-port        /liveness /readiness /metrics (default 9094)
  --help --version`;

function config(argv: readonly string[], env: NodeJS.ProcessEnv) {
  const flags = new Map(argv.map((a) => {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new ValidationError('arguments', a, '--flag=value (see --help)');
    return [m[1], m[2] ?? 'true'] as const;
  }));
  const get = (flag: string, name: string) => flags.get(flag) ?? (env[name] || undefined);
  const seconds = (flag: string, name: string, fallback: number) => {
    const v = get(flag, name);
    const n = v === undefined ? fallback : Number(v);
    if (!Number.isInteger(n) || n < 0) throw new ValidationError(name, v, 'a whole number of seconds (0 or more)');
    return n;
  };
  const type = get('datastore-type', 'DATASTORE_TYPE') ?? 'kubernetes';
  if (type !== 'kubernetes' && type !== 'etcdv3') throw new ValidationError('DATASTORE_TYPE', type, '"kubernetes" or "etcdv3"');
  const endpoints = (get('etcd-endpoints', 'ETCD_ENDPOINTS') ?? '').split(',').filter(Boolean);
  if (type === 'etcdv3' && !endpoints.length) throw new ValidationError('ETCD_ENDPOINTS', '', 'comma-separated http(s):// URLs');
  const prefix = get('etcd-prefix', 'ETCD_PREFIX');
  const kubeconfig = get('kubeconfig', 'KUBECONFIG');
  return {
    help: flags.has('help'),
    version: flags.has('version'),
    datastore: type === 'etcdv3' ? { type, endpoints, ...(prefix ? { prefix } : {}) } as const : { type, ...(kubeconfig ? { kubeconfig } : {}) } as const,
    graceMs: seconds('leak-grace-period', 'LEAK_GRACE_PERIOD', 900) * 1000,
    intervalMs: Math.max(1, seconds('sync-interval', 'SYNC_INTERVAL', 60)) * 1000,
    healthPort: seconds('health-port', 'HEALTH_PORT', 9094),
  };
}

async function main(): Promise<void> {
  const c = config(process.argv.slice(2), process.env);
  if (c.help) return void console.log(USAGE);
  if (c.version) return void console.log(VERSION);
  const log = jsonLogger('info');
  const store = await openCalicoStore(c.datastore);
  let source: ClusterSource;
  if (c.datastore.type === 'etcdv3') {
    source = new StoreClusterSource(store, new StoreNodeRegistry(store));
  } else {
    const { KubeClient, inClusterConnection, kubeconfigConnection } = await import('../lib/dataplane/datastore/kube/client');
    source = new KubeClusterSource(new KubeClient(c.datastore.kubeconfig ? kubeconfigConnection(c.datastore.kubeconfig) : inClusterConnection()));
  }
  const gc = new IpamGarbageCollector(new BlockIpam(store), source, { leakGracePeriodMs: c.graceMs });
  const registry = new Registry();
  const freed = new Counter({ name: 'cnikit_calico_ipam_released_total', help: 'Addresses released by GC, by reason', labelNames: ['reason'], registers: [registry] });
  const candidates = new Gauge({ name: 'cnikit_calico_ipam_leak_candidates', help: 'Allocations waiting out the leak grace period', registers: [registry] });
  const failures = new Counter({ name: 'cnikit_calico_controller_errors_total', help: 'Failed GC passes', registers: [registry] });
  let lastOk = 0;
  const pass = async () => {
    try {
      const r = await gc.run();
      freed.inc({ reason: 'leaked' }, r.leaked.length);
      freed.inc({ reason: 'node-deleted' }, r.orphaned.length);
      candidates.set(r.candidates);
      lastOk = Date.now();
      if (r.leaked.length || r.orphaned.length || r.nodesCleaned.length) log.info('ipam gc', { leaked: r.leaked, orphaned: r.orphaned.length, nodesCleaned: r.nodesCleaned });
    } catch (error) {
      failures.inc();
      log.error('ipam gc failed', { error: (error as Error).message });
    }
  };
  const server = http.createServer((req, res) => {
    const route = (req.url ?? '/').split('?')[0];
    const ready = lastOk > 0;
    const reply = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (route === '/liveness') return reply(lastOk === 0 || Date.now() - lastOk < 5 * c.intervalMs ? 200 : 503, 'ok\n');
    if (route === '/readiness') return reply(ready ? 200 : 503, ready ? 'ok\n' : 'not ready: no GC pass has completed\n');
    if (route === '/metrics') return void registry.metrics().then((m) => reply(200, m, registry.contentType));
    reply(404, 'not found\n');
  });
  await new Promise<void>((resolve) => server.listen(c.healthPort, () => resolve()));
  const timer = setInterval(() => void pass(), c.intervalMs);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      clearInterval(timer);
      server.close();
      void store.close().finally(() => process.exit(0));
    });
  }
  log.info('starting', { version: VERSION, datastore: c.datastore.type, leakGracePeriodSeconds: c.graceMs / 1000 });
  await pass();
  log.info('ready', {});
}

main().catch((error: Error) => {
  console.error(`calico-controllers: ${error.message.split('\n')[0]}`);
  process.exit(1);
});
