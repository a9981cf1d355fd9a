// The flannel-style node agent (what the DaemonSet runs): flags/env → lease manager, kernel,
// agent; SIGTERM/SIGINT stop it and leave every route in place.
import * as fs from 'fs';
import { LinuxKernel } from '../lib/dataplane/kernel';
import { LeaseManager } from '../lib/dataplane/flannel/lease';
import { parseNetConfig } from '../lib/dataplane/flannel/net-config';
import { readSubnetEnv } from '../lib/dataplane/flannel/subnet-env';
import { AGENT_USAGE, AgentConfig, parseAgentConfig } from '../lib/dataplane/flannel/agent-config';
import { FLANNEL_OWNERSHIP, FlannelAgent } from '../lib/dataplane/flannel/agent';
import { jsonLogger, Logger } from '../lib/dataplane/flannel/agent-log';
import { OutageLog } from '../lib/dataplane/datastore/outage';

const VERSION = 'cnikit-flannel-agent 0.1.0';

// The datastore clients are loaded only for the mode in use: etcd3's gRPC stack costs ~23 MiB
// and reads its .proto files when loaded, which --version and Kubernetes mode must not depend on.
async function leaseManager(config: AgentConfig, log: Logger, outage: OutageLog): Promise<{ leases: LeaseManager; nodePublicIp?: () => Promise<string | undefined> }> {
  if (config.datastore.kind === 'etcd') {
    const { EtcdStore } = await import('../lib/dataplane/datastore/etcd');
    const { observedStore } = await import('../lib/dataplane/datastore/outage');
    const { EtcdLeaseManager } = await import('../lib/dataplane/flannel/lease-etcd');
    const ds = config.datastore;
    const read = (file?: string) => (file ? fs.readFileSync(file) : undefined);
    const store = observedStore(EtcdStore.connect({ endpoints: ds.endpoints, tls: ds.caFile ? { ca: read(ds.caFile), cert: read(ds.certFile), key: read(ds.keyFile) } : undefined }), outage);
    const previous = await readSubnetEnv(config.subnetFile).catch(() => undefined);
    return {
      leases: new EtcdLeaseManager({
        store,
        prefix: ds.prefix,
        renewMarginSeconds: config.renewMarginMinutes * 60,
        previous: previous ? { subnet: previous.subnet, ipv6Subnet: previous.ipv6Subnet } : undefined,
        log: (message) => log.info(message),
      }),
    };
  }
  const { KubeClient, inClusterConnection } = await import('../lib/dataplane/datastore/kube/client');
  const { KubeLeaseManager } = await import('../lib/dataplane/flannel/lease-kube');
  const { connectionFromKubeconfig } = await import('../lib/dataplane/flannel/agent-kubeconfig');
  if (!config.nodeName) throw new Error('--node-name: (unset) is not valid; expected this node\'s name (or env NODE_NAME) in Kubernetes mode');
  const netConfig = parseNetConfig(fs.readFileSync(config.netConfigPath, 'utf8'), config.netConfigPath);
  const connection = config.datastore.apiUrl
    ? { server: config.datastore.apiUrl, token: process.env.KUBE_TOKEN }
    : config.datastore.kubeconfig
      ? connectionFromKubeconfig(config.datastore.kubeconfig)
      : inClusterConnection();
  const leases = new KubeLeaseManager({
    client: new KubeClient(connection),
    nodeName: config.nodeName,
    netConfig,
    annotationPrefix: config.datastore.annotationPrefix,
    outage,
  });
  // flannel: the admin-set node-public-ip annotation wins over interface addresses.
  return { leases, nodePublicIp: async () => (await leases.nodePublicIps()).publicIp };
}

async function main(): Promise<void> {
  const config = parseAgentConfig(process.argv.slice(2), process.env);
  if (config.help) {
    console.log(AGENT_USAGE);
    return;
  }
  if (config.version) {
    console.log(VERSION);
    return;
  }
  const log = jsonLogger(config.logLevel);
  const outage = new OutageLog(log);
  const { leases, nodePublicIp } = await leaseManager(config, log, outage);
  let selection = config.selection;
  if (nodePublicIp && !selection.publicIp) {
    const publicIp = await nodePublicIp();
    if (publicIp) selection = { ...selection, publicIp };
  }
  const agent: FlannelAgent = new FlannelAgent({
    leases,
    kernel: new LinuxKernel({ ownership: FLANNEL_OWNERSHIP }),
    selection,
    subnetFile: config.subnetFile,
    stateDir: config.stateDir,
    ipMasq: config.ipMasq,
    forwardRules: config.forwardRules,
    resyncSeconds: config.resyncSeconds,
    healthz: config.healthzPort ? { port: config.healthzPort, host: config.healthzIp } : undefined,
    log,
    outage,
    onFatal: () => void exit(1),
  });
  async function exit(code: number): Promise<void> {
    await agent.stop().catch(() => undefined);
    process.exit(code);
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      log.info('shutting down; routes stay in place', { signal });
      void exit(0);
    });
  }
  log.info('starting', { version: VERSION, datastore: leases.name, node: config.nodeName });
  await agent.start();
}

main().catch((error: Error) => {
  // One line, no stack: bad config must read like a message, not a crash.
  console.error(`flannel-agent: ${error.message.split('\n')[0]}`);
  process.exit(1);
});
