// The policy agent of a node (Felix's policy half): follows workload endpoints, profiles, policies
// and network sets in Calico's key layout — in the etcd datastore, or with --datastore kubernetes
// as the API server's pods, namespaces, service accounts, NetworkPolicies and Calico CRDs converted
// by KubeCrdStore's views — through one watch cache, and enforces them with nftables. The cache is
// fed by Typha when FELIX_TYPHAADDR or FELIX_TYPHAK8SSERVICENAME (+ FELIX_TYPHAK8SNAMESPACE) name it
// (then the agent holds no datastore watch of its own), else by the agent's own list + watch.
//   policy-agent --etcd-endpoints http://10.0.0.1:2379 --node-name n1 [--mode interface|address]
//   policy-agent --datastore kubernetes [--kubeconfig <file>] --node-name n1 --mode address
//                [--etcd-prefix /calico/resources/v3/projectcalico.org/] [--resync-seconds 90] [--table cnikit-policy]
//                [--backend auto|nft|iptables]   (auto: nft when `nft --version` runs, else ipset + iptables)
//                [--netns <name>]   enforce in that network namespace (labs) instead of the agent's own
//                [--felix-configuration]   Calico mode: log level, resync period and defaultEndpointToHostAction
//                                          from FelixConfiguration default / node.<name> and FELIX_* (interface mode)
//                [--metrics-port <port>]   serve /metrics (cnikit_policy_invalid) on that port
// A policy version it refuses is logged once (key and field), counted in cnikit_policy_invalid and, in
// Kubernetes mode, recorded as an Event on the policy; the last good version stays in force.
// SIGTERM/SIGINT stop it and leave the table in place (pods stay protected while it restarts).
import { spawnSync } from 'child_process';
import * as http from 'http';
import { hostname } from 'os';
import { parseArgs } from 'util';
import { openCalicoStore } from '../lib/dataplane/calico/datastore';
import { cachedStore } from '../lib/dataplane/datastore/watch-cache';
import { FelixSettings, felixLogLevel } from '../lib/dataplane/calico/felix-config';
import { FelixConfigFollower } from '../lib/dataplane/calico/felix-config-store';
import { jsonLogger, Logger, LogLevel } from '../lib/dataplane/flannel/agent-log';
import { inClusterConnection, KubeClient, kubeconfigConnection } from '../lib/dataplane/datastore/kube/client';
import { KubeCrdStore } from '../lib/dataplane/datastore/kube/store';
import { KeyValueStore } from '../lib/dataplane/datastore/types';
import { OutageLog, observedStore, retryReporter } from '../lib/dataplane/datastore/outage';
import { policyAgentCache } from '../lib/dataplane/policy/agent-cache';
import { InvalidPolicyReport, PolicyDatastoreSync } from '../lib/dataplane/policy/datastore-sync';
import { recordPolicyEvent } from '../lib/dataplane/policy/events';
import { SyncResult } from '../lib/dataplane/policy/engine';
import { parseTypha } from '../lib/dataplane/typha/config';
import { ValidationError } from '../lib/model/errors';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'etcd-endpoints': { type: 'string' },
      'etcd-prefix': { type: 'string' },
      'node-name': { type: 'string', default: process.env.NODENAME ?? hostname() },
      mode: { type: 'string', default: 'interface' },
      table: { type: 'string', default: 'cnikit-policy' },
      'resync-seconds': { type: 'string' },
      backend: { type: 'string', default: 'auto' },
      netns: { type: 'string' },
      datastore: { type: 'string', default: 'etcdv3' },
      kubeconfig: { type: 'string' },
      'felix-configuration': { type: 'boolean', default: false },
      'metrics-port': { type: 'string' },
    },
  });
  if (values.datastore !== 'etcdv3' && values.datastore !== 'kubernetes') throw new ValidationError('--datastore', values.datastore, 'etcdv3 or kubernetes');
  if (values.datastore === 'etcdv3' && !values['etcd-endpoints']) throw new ValidationError('--etcd-endpoints', values['etcd-endpoints'], 'comma-separated etcd URLs');
  if (values.mode !== 'interface' && values.mode !== 'address') throw new ValidationError('--mode', values.mode, 'interface (cali* veths) or address (bridged pods)');
  const explicitResync = values['resync-seconds'] === undefined ? undefined : Number(values['resync-seconds']);
  if (explicitResync !== undefined && (!Number.isInteger(explicitResync) || explicitResync < 1)) {
    throw new ValidationError('--resync-seconds', values['resync-seconds'], 'a whole number of seconds, at least 1');
  }
  const felixConfiguration = values['felix-configuration'] === true;
  if (felixConfiguration && values.mode !== 'interface') {
    throw new ValidationError('--mode', values.mode, 'interface with --felix-configuration (defaultEndpointToHostAction tells pods apart by their cali* veths)');
  }
  if (!/^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$/.test(values.table as string)) throw new ValidationError('--table', values.table, 'an nftables table name');
  if (!['auto', 'nft', 'iptables'].includes(values.backend as string)) throw new ValidationError('--backend', values.backend, 'auto, nft or iptables');
  const metricsPort = values['metrics-port'] === undefined ? undefined : Number(values['metrics-port']);
  if (metricsPort !== undefined && (!Number.isInteger(metricsPort) || metricsPort < 1 || metricsPort > 65535)) {
    throw new ValidationError('--metrics-port', values['metrics-port'], 'a port number from 1 to 65535');
  }
  const typha = parseTypha(process.env.FELIX_TYPHAADDR, process.env.FELIX_TYPHAK8SSERVICENAME, process.env.FELIX_TYPHAK8SNAMESPACE, values.datastore);
  const backend = values.backend === 'auto' ? (spawnSync('nft', ['--version']).status === 0 ? 'nft' : 'iptables') : values.backend as 'nft' | 'iptables';
  // The level may change while running (FelixConfiguration logSeverityScreen).
  let level: LogLevel = 'info';
  const log: Logger = {
    debug: (msg, fields) => jsonLogger(level).debug(msg, fields),
    info: (msg, fields) => jsonLogger(level).info(msg, fields),
    warn: (msg, fields) => jsonLogger(level).warn(msg, fields),
    error: (msg, fields) => jsonLogger(level).error(msg, fields),
  };
  const nodeName = values['node-name'] as string;
  let kubeClient: KubeClient | undefined;
  let store: KeyValueStore;
  if (values.datastore === 'kubernetes') {
    kubeClient = new KubeClient(values.kubeconfig ? kubeconfigConnection(values.kubeconfig) : inClusterConnection());
    store = new KubeCrdStore({ client: kubeClient });
  } else {
    store = await openCalicoStore({ type: 'etcdv3', endpoints: (values['etcd-endpoints'] as string).split(','), ...(values['etcd-prefix'] ? { prefix: values['etcd-prefix'] } : {}) });
  }
  const outage = new OutageLog(log);
  store = observedStore(store, outage);
  // One watch cache for everything the agent reads (policy inputs, FelixConfigurations); writes: none.
  const cache = policyAgentCache({
    store, node: nodeName, felixConfiguration, ...(typha ? { typha } : {}), ...(kubeClient ? { client: kubeClient } : {}),
    onError: retryReporter(log, 'datastore feed failed; retrying', outage),
    onConnect: (a) => log.info('following the datastore through typha', { typha: `${a.host}:${a.port}` }),
  });
  await cache.start();
  const view = cachedStore(store, cache);

  // Calico mode: Felix's settings for the policy half (felix-config.ts), followed while running.
  const refreshOf = (s: FelixSettings) => explicitResync ?? (backend === 'nft' ? s.nftablesRefreshIntervalSeconds : s.iptablesRefreshIntervalSeconds);
  let felix: FelixConfigFollower | undefined;
  let settings: FelixSettings | undefined;
  // Set once the sync exists (synchronously after the first read, so no change is missed in between).
  const apply: { reconfigure?: (s: FelixSettings) => void } = {};
  if (felixConfiguration) {
    felix = new FelixConfigFollower({
      store: view,
      node: nodeName,
      env: process.env,
      onError: (e) => log.warn('FelixConfiguration', { error: e.message }),
      onChange: (r) => {
        level = felixLogLevel(r.settings.logSeverityScreen);
        settings = r.settings;
        apply.reconfigure?.(r.settings);
        log.info('FelixConfiguration changed', { logSeverityScreen: r.settings.logSeverityScreen, resyncSeconds: refreshOf(r.settings), defaultEndpointToHostAction: r.settings.defaultEndpointToHostAction });
      },
    });
    const first = await felix.start();
    settings = first.settings;
    level = felixLogLevel(settings.logSeverityScreen);
    for (const e of first.errors) log.warn('FelixConfiguration', { error: e.message });
    if (first.ignored.length) log.info('FelixConfiguration fields the policy agent does not obey', { fields: first.ignored });
  }
  const common = {
    nodeName, mode: values.mode as 'interface' | 'address', table: values.table as string, backend,
    resyncSeconds: settings ? refreshOf(settings) : explicitResync ?? 90,
    ...(settings ? { endpointToHostAction: settings.defaultEndpointToHostAction } : {}),
    ...(values.netns ? { netns: values.netns } : {}),
    onSync: (r: SyncResult | Error) => (r instanceof Error ? log.warn('policy sync failed', { error: r.message })
      : log.info('policy applied', { full: r.full, commands: r.script ? r.script.trim().split('\n').length : 0 })),
  };
  const onInvalid = (r: InvalidPolicyReport) => {
    const fields = { key: r.key, kind: r.kind, ...(r.namespace ? { namespace: r.namespace } : {}), name: r.name };
    if (r.resolved) log.info('policy accepted again', fields);
    else log.warn('policy version refused', { ...fields, enforcing: r.fallback, error: r.message });
    if (kubeClient) recordPolicyEvent(kubeClient, r, nodeName).catch((e: Error) => log.warn('policy event not recorded', { ...fields, error: e.message }));
  };
  const sync = new PolicyDatastoreSync({ ...common, store: view, onInvalid });
  const metrics = metricsPort === undefined ? undefined : http.createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') return void res.writeHead(404).end('not found\n');
    void sync.registry.metrics().then((body) => res.writeHead(200, { 'content-type': sync.registry.contentType }).end(body));
  });
  if (metrics) await new Promise<void>((resolve, reject) => metrics.once('error', reject).listen(metricsPort, () => resolve()));
  const close = async () => {
    metrics?.close();
    await cache.stop();
    await store.close();
    kubeClient?.close();
  };
  apply.reconfigure = (s) => sync.reconfigure({ resyncSeconds: refreshOf(s), endpointToHostAction: s.defaultEndpointToHostAction });
  const stopFelix = async () => felix?.stop();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void stopFelix().finally(() => sync.stop().finally(() => close().finally(() => process.exit(0)))));
  }
  const first = await sync.start();
  log.info('ready', {
    node: nodeName, datastore: values.datastore, feed: typha ? 'typha' : 'datastore', mode: values.mode, backend, table: values.table, full: first.full, resyncSeconds: common.resyncSeconds,
    ...(settings ? { logSeverityScreen: settings.logSeverityScreen, defaultEndpointToHostAction: settings.defaultEndpointToHostAction } : {}),
  });
}

main().catch((error: Error) => {
  console.error(`policy-agent: ${error.message.split('\n')[0]}`);
  process.exit(1);
});
