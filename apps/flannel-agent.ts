// The flannel-style node agent (what the DaemonSet runs): flags/env → lease manager, kernel,
// agent; SIGTERM/SIGINT stop it and leave every route in place.
import * as fs from 'fs';
import { LinuxKernel } from '../lib/dataplane/kernel';
import { EtcdStore } from '../lib/dataplane/datastore/etcd';
import { KubeClient, inClusterConnection } from '../lib/dataplane/datastore/kube/client';
import { EtcdLeaseManager } from '../lib/dataplane/flannel/lease-etcd';
import { KubeLeaseManager } from '../lib/dataplane/flannel/lease-kube';
import { LeaseManager } from '../lib/dataplane/flannel/lease';
import { parseNetConfig } from '../lib/dataplane/flannel/net-config';
import { readSubnetEnv } from '../lib/dataplane/flannel/subnet-env';
import { AGENT_USAGE, AgentConfig, parseAgentConfig } from '../lib/dataplane/flannel/agent-config';
import { FLANNEL_OWNERSHIP, FlannelAgent } from '../lib/dataplane/flannel/agent';
import { jsonLogger, Logger } from '../lib/dataplane/flannel/agent-log';
import { connectionFromKubeconfig } from '../lib/dataplane/flannel/agent-kubeconfig';

const VERSION = 'cnikit-flannel-agent 0.1.0';

async function leaseManager(config: AgentConfig, log: Logger): Promise<LeaseManager> {
  if (config.datastore.kind === 'etcd') {
    const ds = config.datastore;
    const read = (file?: string) => (file ? fs.readFileSync(file) : undefined);
    const store = EtcdStore.connect({ endpoints: ds.endpoints, tls: ds.caFile ? { ca: read(ds.caFile), cert: read(ds.certFile), key: read(ds.keyFile) } : undefined });
    const previous = await readSubnetEnv(config.subnetFile).catch(() => undefined);
    return new EtcdLeaseManager({
      store,
      prefix: ds.prefix,
      renewMarginSeconds: config.renewMarginMinutes * 60,
      previous: previous ? { subnet: previous.subnet, ipv6Subnet: previous.ipv6Subnet } : undefined,
      log: (message) => log.info(message),
    });
  }
  if (!config.nodeName) throw new Error('--node-name: (unset) is not valid; expected this node\'s name (or env NODE_NAME) in Kubernetes mode');
  const netConfig = parseNetConfig(fs.readFileSync(config.netConfigPath, 'utf8'), config.netConfigPath);
  const connection = config.datastore.apiUrl
    ? { server: config.datastore.apiUrl, token: process.env.KUBE_TOKEN }
    : config.datastore.kubeconfig
      ? connectionFromKubeconfig(config.datastore.kubeconfig)
      : inClusterConnection();
  return new KubeLeaseManager({
    client: new KubeClient(connection),
    nodeName: config.nodeName,
    netConfig,
    annotationPrefix: config.datastore.annotationPrefix,
  });
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
  const leases = await leaseManager(config, log);
  let selection = config.selection;
  if (leases instanceof KubeLeaseManager && !selection.publicIp) {
    // flannel: the admin-set node-public-ip annotation wins over interface addresses.
    const { publicIp } = await leases.nodePublicIps();
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
