// The Calico-style controllers (what the calico-kube-controllers Deployment runs): the node
// controller — IPAM garbage collection with a leak grace period, and cleanup of deleted nodes'
// blocks and affinities — configured, as Calico's kube-controllers, by KubeControllersConfiguration
// `default` (followed live) and the variables that override it.
import * as http from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { ClusterSource, IpamGarbageCollector, KubeClusterSource, StoreClusterSource } from '../lib/dataplane/calico/controllers';
import { openCalicoStore } from '../lib/dataplane/calico/datastore';
import {
  KUBE_CONTROLLERS_CONFIGURATION_NAME, KUBE_CONTROLLERS_CONFIGURATION_PREFIX, KubeControllersConfigFollower, KubeControllersLogLevel,
  KubeControllersSettings, describeKubeControllersSettings,
} from '../lib/dataplane/calico/kube-controllers-config';
import { NodeControllerLoop } from '../lib/dataplane/calico/node-controller-loop';
import { jsonLogger } from '../lib/dataplane/flannel/agent-log';
import { OutageLog, retryReporter } from '../lib/dataplane/datastore/outage';
import { BlockIpam } from '../lib/dataplane/ipam/block-ipam';
import { ValidationError } from '../lib/model/errors';

const VERSION = 'cnikit-calico-controllers 0.2.0';
const USAGE = `cnikit-calico-controllers: the node controller (IPAM garbage collection and node cleanup)
Settings: KubeControllersConfiguration "default" (healthChecks, logSeverityScreen,
controllers.node.leakGracePeriod and .reconcilerPeriod), followed while running; absent, the
values Calico's kube-controllers creates it with. Overridden as in kube-controllers by
ENABLED_CONTROLLERS (only "node" runs here), HEALTH_ENABLED, LOG_LEVEL.
Environment (flags override; --flag=value):
  DATASTORE_TYPE        --datastore-type     kubernetes (default) | etcdv3
  ETCD_ENDPOINTS        --etcd-endpoints     comma-separated URLs (etcdv3)
  ETCD_PREFIX           --etcd-prefix
  KUBECONFIG            --kubeconfig         (default: in-cluster)
  HEALTH_PORT           --health-port        /liveness /readiness /metrics (default 9094)
  --help --version`;

function config(argv: readonly string[], env: NodeJS.ProcessEnv) {
  const flags = new Map(argv.map((a) => {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (!m) throw new ValidationError('arguments', a, '--flag=value (see --help)');
    return [m[1], m[2] ?? 'true'] as const;
  }));
  const get = (flag: string, name: string) => flags.get(flag) ?? (env[name] || undefined);
  const type = get('datastore-type', 'DATASTORE_TYPE') ?? 'kubernetes';
  if (type !== 'kubernetes' && type !== 'etcdv3') throw new ValidationError('DATASTORE_TYPE', type, '"kubernetes" or "etcdv3"');
  const endpoints = (get('etcd-endpoints', 'ETCD_ENDPOINTS') ?? '').split(',').filter(Boolean);
  if (type === 'etcdv3' && !endpoints.length) throw new ValidationError('ETCD_ENDPOINTS', '', 'comma-separated http(s):// URLs');
  const prefix = get('etcd-prefix', 'ETCD_PREFIX');
  const kubeconfig = get('kubeconfig', 'KUBECONFIG');
  const port = get('health-port', 'HEALTH_PORT') ?? '9094';
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new ValidationError('HEALTH_PORT', port, 'a TCP port from 0 to 65535');
  return {
    help: flags.has('help'),
    version: flags.has('version'),
    datastore: type === 'etcdv3' ? { type, endpoints, ...(prefix ? { prefix } : {}) } as const : { type, ...(kubeconfig ? { kubeconfig } : {}) } as const,
    healthPort: Number(port),
  };
}

async function main(): Promise<void> {
  const c = config(process.argv.slice(2), process.env);
  if (c.help) return void console.log(USAGE);
  if (c.version) return void console.log(VERSION);
  let level: KubeControllersLogLevel = 'info';
  const log = jsonLogger(() => level);
  const outage = new OutageLog(log);
  const store = await openCalicoStore(c.datastore, outage);
  let source: ClusterSource;
  if (c.datastore.type === 'etcdv3') {
    source = new StoreClusterSource(store);
  } else {
    const { KubeClient, inClusterConnection, kubeconfigConnection } = await import('../lib/dataplane/datastore/kube/client');
    source = new KubeClusterSource(new KubeClient(c.datastore.kubeconfig ? kubeconfigConnection(c.datastore.kubeconfig) : inClusterConnection()));
  }
  const registry = new Registry();
  const freed = new Counter({ name: 'cnikit_calico_ipam_released_total', help: 'Addresses released by GC, by reason', labelNames: ['reason'], registers: [registry] });
  const candidates = new Gauge({ name: 'cnikit_calico_ipam_leak_candidates', help: 'Allocations waiting out the leak grace period', registers: [registry] });
  const failures = new Counter({ name: 'cnikit_calico_controller_errors_total', help: 'Failed GC passes', registers: [registry] });
  const setting = new Gauge({
    name: 'cnikit_calico_controllers_setting', help: 'Settings in force (KubeControllersConfiguration default + env): seconds, or 1/0 for switches',
    labelNames: ['setting'], registers: [registry],
  });
  const show = (s: KubeControllersSettings) => {
    level = s.logLevel;
    setting.set({ setting: 'leakGracePeriodSeconds' }, s.leakGracePeriodSeconds);
    setting.set({ setting: 'reconcilerPeriodSeconds' }, s.reconcilerPeriodSeconds);
    setting.set({ setting: 'healthChecks' }, s.healthChecks ? 1 : 0);
    setting.set({ setting: 'nodeController' }, s.nodeController ? 1 : 0);
  };

  const kccKey = `${KUBE_CONTROLLERS_CONFIGURATION_PREFIX}${KUBE_CONTROLLERS_CONFIGURATION_NAME}`;
  // The loop starts after the first read; changes seen before it exists are in that read.
  const started: { loop?: NodeControllerLoop } = {};
  const follower = new KubeControllersConfigFollower({
    store,
    env: process.env,
    // Bad values are errors; failed reads while the datastore is away were said once by the outage log.
    onError: (error) => {
      if (outage.lost) log.debug('kube-controllers configuration', { error: error.message });
      else log.error('kube-controllers configuration', { error: error.message });
    },
    onChange: (result, previous) => {
      show(result.settings);
      started.loop?.apply(result.settings);
      log.info('settings changed', { source: kccKey, ...describeKubeControllersSettings(result.settings), previous: JSON.stringify(describeKubeControllersSettings(previous)), ignored: result.ignored });
    },
  });
  const first = await follower.start();
  for (const error of first.errors) log.error('kube-controllers configuration', { error: error.message });
  show(follower.current);
  const exists = (await store.get(kccKey)) !== undefined;

  const gcFailed = retryReporter(log, 'ipam gc failed', outage);
  const gc = new IpamGarbageCollector(new BlockIpam(store, {
    onBadRecord: (error) => log.warn('datastore record refused; left as it is', { error: error.message }),
  }), source);
  const running = new NodeControllerLoop({
    gc,
    // What is in force now (a change may have come in since the first read).
    settings: follower.current,
    onPass: (r) => {
      freed.inc({ reason: 'leaked' }, r.leaked.length);
      freed.inc({ reason: 'node-deleted' }, r.orphaned.length);
      candidates.set(r.candidates);
      if (r.leaked.length || r.orphaned.length || r.nodesCleaned.length) log.info('ipam gc', { leaked: r.leaked, orphaned: r.orphaned.length, nodesCleaned: r.nodesCleaned });
    },
    onError: (error) => {
      failures.inc();
      gcFailed(error);
    },
  });
  started.loop = running;
  const server = http.createServer((req, res) => {
    const route = (req.url ?? '/').split('?')[0];
    const reply = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    const answer = route === '/liveness' ? running.liveness() : route === '/readiness' ? running.readiness() : undefined;
    if (answer) return reply(answer.ok ? 200 : 503, `${answer.detail}\n`);
    if (route === '/metrics') return void registry.metrics().then((m) => reply(200, m, registry.contentType));
    reply(404, 'not found\n');
  });
  await new Promise<void>((resolve) => server.listen(c.healthPort, () => resolve()));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      server.close();
      void Promise.all([running.stop(), follower.stop()]).then(() => store.close()).finally(() => process.exit(0));
    });
  }
  log.info('starting', {
    version: VERSION, datastore: c.datastore.type,
    settingsFrom: exists ? kccKey : `${kccKey} absent: kube-controllers' defaults (it is not created)`,
    ...describeKubeControllersSettings(follower.current), ignored: first.ignored,
  });
  await running.start();
  log.info('ready', {});
}

main().catch((error: Error) => {
  console.error(`calico-controllers: ${error.message.split('\n')[0]}`);
  process.exit(1);
});
