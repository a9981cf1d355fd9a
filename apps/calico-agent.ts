// The Calico-style node agent (what the calico-node DaemonSet runs): env/flags → datastore,
// kernel, agent; SIGTERM/SIGINT stop it and leave every route in place.
import { CALICO_AGENT_USAGE, CalicoAgentConfig, parseCalicoAgentConfig } from '../lib/dataplane/calico/agent-config';
import { CALICO_AGENT_OWNERSHIP, CALICO_AGENT_PREFIXES, CalicoAgent, logBadRecord } from '../lib/dataplane/calico/agent';
import { WatchCache, cachedStore } from '../lib/dataplane/datastore/watch-cache';
import { agentFeed } from '../lib/dataplane/typha/agent-feed';
import { openCalicoStore } from '../lib/dataplane/calico/datastore';
import { NodeRegistry, StoreNodeRegistry } from '../lib/dataplane/calico/node-registry';
import { LogLevel, jsonLogger } from '../lib/dataplane/flannel/agent-log';
import { OutageLog, retryReporter } from '../lib/dataplane/datastore/outage';
import { parseFelixEnv } from '../lib/dataplane/calico/felix-config';
import { LinuxKernel } from '../lib/dataplane/kernel/linux-kernel';
import { KeyValueStore } from '../lib/dataplane/datastore/types';
import { CalicoDatastoreConfig } from '../lib/dataplane/calico/datastore';
// Types only: the Kubernetes client is loaded when the datastore is Kubernetes.
import type { KubeClient } from '../lib/dataplane/datastore/kube/client';

const VERSION = 'cnikit-calico-agent 0.1.0';

/** Kubernetes datastore: the agent's API client (KUBECONFIG, else in-cluster), shared by the node registry and the CNI kubeconfig writer. */
async function kubeClient(config: CalicoDatastoreConfig): Promise<KubeClient | undefined> {
  if (config.type !== 'kubernetes') return undefined;
  const { KubeClient, inClusterConnection, kubeconfigConnection } = await import('../lib/dataplane/datastore/kube/client');
  return new KubeClient(config.kubeconfig ? kubeconfigConnection(config.kubeconfig) : inClusterConnection());
}

/** Reads every node through `view` (the cache); registers into the store (etcd) or onto the own Node (Kubernetes). */
async function registry(client: KubeClient | undefined, view: KeyValueStore, log: ReturnType<typeof jsonLogger>): Promise<NodeRegistry> {
  const onBadRecord = logBadRecord.bind(undefined, log);
  if (!client) return new StoreNodeRegistry(view, onBadRecord);
  const { KubeNodeRegistry } = await import('../lib/dataplane/calico/node-registry');
  return new KubeNodeRegistry(client, view, onBadRecord);
}

/**
 * The agent's one watch cache: fed by Typha when the manifests name it (FELIX_TYPHA*), else by
 * watches of its own on the datastore.
 */
function watchCache(config: CalicoAgentConfig, store: KeyValueStore, client: KubeClient | undefined, log: ReturnType<typeof jsonLogger>, outage: OutageLog): WatchCache {
  const feed = agentFeed({
    store, node: config.node, typha: config.typha, client, outage,
    onConnect: (a) => log.info('following the datastore through typha', { typha: `${a.host}:${a.port}` }),
  });
  return new WatchCache(feed, CALICO_AGENT_PREFIXES, retryReporter(log, 'datastore feed failed; retrying', outage));
}

/**
 * CNI_SERVICE_ACCOUNT + CNI_KUBECONFIG: the plugin's kubeconfig with a token of its account, pointing
 * where the agent reaches the API (the plugin runs on the host, host network) with the agent's CA.
 */
async function cniKubeconfigWriter(config: CalicoAgentConfig, client: KubeClient | undefined, log: ReturnType<typeof jsonLogger>) {
  if (!config.cniKubeconfig || !client) return undefined;
  const [{ CniKubeconfigWriter }, { inClusterNamespace }] = await Promise.all([
    import('../lib/dataplane/calico/cni-kubeconfig'),
    import('../lib/dataplane/datastore/kube/client'),
  ]);
  const { serviceAccount, path, namespace } = config.cniKubeconfig;
  const { server, ca, insecureSkipTlsVerify } = client.connection;
  return new CniKubeconfigWriter({ client, serviceAccount, namespace: namespace ?? inClusterNamespace(), path, server, ca, insecureSkipTlsVerify, log });
}

/** BGP passwords: `secretKeyRef`s resolve in the agent's own namespace (POD_NAMESPACE), as calico-node's. */
async function secretReader(client: KubeClient): Promise<(name: string, key: string) => Promise<string | undefined>> {
  const { inClusterNamespace, isKubeApiError } = await import('../lib/dataplane/datastore/kube/client');
  const namespace = process.env.POD_NAMESPACE || inClusterNamespace();
  return async (name, key) => {
    try {
      const secret = await client.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`);
      const value = secret.data?.[key];
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
    } catch (error) {
      if (isKubeApiError(error, 404)) return undefined;
      throw error;
    }
  };
}

/** CALICO_NETWORKING_BACKEND=bird: the BGP speaker beside the agent (BIRD's role in calico-node); a restart keeps peers' routes (graceful restart). */
async function bgpSpeaker(config: CalicoAgentConfig, store: KeyValueStore, nodes: NodeRegistry, client: KubeClient | undefined, log: ReturnType<typeof jsonLogger>, outage: OutageLog) {
  const [{ BgpNodeService, BGP_ROUTE_PROTOCOL }, { parseSelector }] = await Promise.all([import('../lib/dataplane/bgp'), import('../lib/model/calico/selector-parser')]);
  const rr = config.routeReflector;
  const service = new BgpNodeService({
    node: config.node, store, registry: nodes,
    ...(rr ? { routeReflectors: { selector: parseSelector(rr.selector, 'CALICO_ROUTE_REFLECTOR_SELECTOR'), clusterId: rr.clusterId } } : {}),
    ...(client ? { secret: await secretReader(client) } : {}),
    kernel: new LinuxKernel({ ownership: { routeProtocol: BGP_ROUTE_PROTOCOL } }),
    log: (line) => log.info(line),
    outage,
  });
  return { start: () => service.start(), stop: () => service.stop({ restarting: true }), notReady: () => service.notReady() };
}

async function main(): Promise<void> {
  const config = parseCalicoAgentConfig(process.argv.slice(2), process.env);
  if (config.help) return void console.log(CALICO_AGENT_USAGE);
  if (config.version) return void console.log(VERSION);
  // preStop hook: the agent's own SIGTERM handling does the graceful part (routes stay).
  if (config.shutdown) return;
  // --log-level wins; otherwise FelixConfiguration's logSeverityScreen, followed while running.
  let level: LogLevel = config.logLevel ?? 'info';
  const log = jsonLogger(() => level);
  const outage = new OutageLog(log);
  const store = await openCalicoStore(config.datastore, outage);
  const client = await kubeClient(config.datastore);
  const cache = watchCache(config, store, client, log, outage);
  const view = cachedStore(store, cache);
  const nodeRegistry = await registry(client, view, log);
  const agent = new CalicoAgent({
    node: config.node,
    store,
    cache,
    registry: nodeRegistry,
    bgp: config.networkingBackend === 'bird' ? await bgpSpeaker(config, view, nodeRegistry, client, log, outage) : undefined,
    kernel: new LinuxKernel({ ownership: CALICO_AGENT_OWNERSHIP }),
    autodetect: config.autodetect,
    autodetect6: config.autodetect6,
    defaultPool: config.defaultPool,
    stateDir: config.stateDir,
    resyncSeconds: config.resyncSeconds,
    felixEnv: process.env,
    setLogLevel: (l) => {
      if (!config.logLevel) level = l;
    },
    // Health is served before the datastore is read, so only FELIX_HEALTHENABLED can turn it off (the kit's default is on).
    health: parseFelixEnv(process.env).settings.healthEnabled === false ? undefined : { port: config.healthPort, host: config.healthHost },
    procSysNet: config.procSysNet,
    cniKubeconfig: await cniKubeconfigWriter(config, client, log),
    log,
    outage,
  });
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info('shutting down; routes stay in place', { signal });
      void agent.stop().finally(() => store.close().finally(() => process.exit(0)));
    });
  }
  log.info('starting', { version: VERSION, node: config.node, datastore: config.datastore.type });
  await agent.start();
  log.info('ready', { node: config.node, address: agent.nodeAddress, vxlanTunnelAddress: agent.tunnelAddress, healthPort: agent.healthPort });
}

main().catch((error: Error) => {
  // One line, no stack: bad config and refusals (IPIP without the module) must read like a message.
  console.error(`calico-agent: ${error.message.split('\n')[0]}`);
  process.exit(1);
});
