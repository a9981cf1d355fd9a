// The policy agent of a node (Felix's policy half): follows workload endpoints, profiles, policies
// and network sets in the Calico-layout etcd datastore — or, with --datastore kubernetes, pods,
// namespaces, service accounts, NetworkPolicies and Calico's CRDs through the API server — and
// enforces them with nftables.
//   policy-agent --etcd-endpoints http://10.0.0.1:2379 --node-name n1 [--mode interface|address]
//   policy-agent --datastore kubernetes [--kubeconfig <file>] --node-name n1 --mode address
//                [--etcd-prefix /calico/resources/v3/projectcalico.org/] [--resync-seconds 90] [--table cnikit-policy]
//                [--backend auto|nft|iptables]   (auto: nft when `nft --version` runs, else ipset + iptables)
//                [--netns <name>]   enforce in that network namespace (labs) instead of the agent's own
// SIGTERM/SIGINT stop it and leave the table in place (pods stay protected while it restarts).
import { spawnSync } from 'child_process';
import { hostname } from 'os';
import { parseArgs } from 'util';
import { openCalicoStore } from '../lib/dataplane/calico/datastore';
import { jsonLogger } from '../lib/dataplane/flannel/agent-log';
import { inClusterConnection, KubeClient, kubeconfigConnection } from '../lib/dataplane/datastore/kube/client';
import { PolicyDatastoreSync } from '../lib/dataplane/policy/datastore-sync';
import { SyncResult } from '../lib/dataplane/policy/engine';
import { PolicyKubeSync } from '../lib/dataplane/policy/kube-sync';
import { ValidationError } from '../lib/model/errors';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'etcd-endpoints': { type: 'string' },
      'etcd-prefix': { type: 'string' },
      'node-name': { type: 'string', default: process.env.NODENAME ?? hostname() },
      mode: { type: 'string', default: 'interface' },
      table: { type: 'string', default: 'cnikit-policy' },
      'resync-seconds': { type: 'string', default: '90' },
      backend: { type: 'string', default: 'auto' },
      netns: { type: 'string' },
      datastore: { type: 'string', default: 'etcdv3' },
      kubeconfig: { type: 'string' },
    },
  });
  if (values.datastore !== 'etcdv3' && values.datastore !== 'kubernetes') throw new ValidationError('--datastore', values.datastore, 'etcdv3 or kubernetes');
  if (values.datastore === 'etcdv3' && !values['etcd-endpoints']) throw new ValidationError('--etcd-endpoints', values['etcd-endpoints'], 'comma-separated etcd URLs');
  if (values.mode !== 'interface' && values.mode !== 'address') throw new ValidationError('--mode', values.mode, 'interface (cali* veths) or address (bridged pods)');
  const resyncSeconds = Number(values['resync-seconds']);
  if (!Number.isInteger(resyncSeconds) || resyncSeconds < 1) throw new ValidationError('--resync-seconds', values['resync-seconds'], 'a whole number of seconds, at least 1');
  if (!/^[a-zA-Z][a-zA-Z0-9_.-]{0,63}$/.test(values.table as string)) throw new ValidationError('--table', values.table, 'an nftables table name');
  if (!['auto', 'nft', 'iptables'].includes(values.backend as string)) throw new ValidationError('--backend', values.backend, 'auto, nft or iptables');
  const backend = values.backend === 'auto' ? (spawnSync('nft', ['--version']).status === 0 ? 'nft' : 'iptables') : values.backend as 'nft' | 'iptables';
  const log = jsonLogger('info');
  const common = {
    nodeName: values['node-name'] as string, mode: values.mode as 'interface' | 'address', table: values.table as string, resyncSeconds, backend,
    ...(values.netns ? { netns: values.netns } : {}),
    onSync: (r: SyncResult | Error) => (r instanceof Error ? log.warn('policy sync failed', { error: r.message })
      : log.info('policy applied', { full: r.full, commands: r.script ? r.script.trim().split('\n').length : 0 })),
  };
  let sync: { start(): Promise<SyncResult>; stop(): Promise<void> };
  let close: () => Promise<void>;
  if (values.datastore === 'kubernetes') {
    const client = new KubeClient(values.kubeconfig ? kubeconfigConnection(values.kubeconfig) : inClusterConnection());
    sync = new PolicyKubeSync({ ...common, client });
    close = async () => client.close();
  } else {
    const store = await openCalicoStore({ type: 'etcdv3', endpoints: (values['etcd-endpoints'] as string).split(','), ...(values['etcd-prefix'] ? { prefix: values['etcd-prefix'] } : {}) });
    sync = new PolicyDatastoreSync({ ...common, store });
    close = () => store.close();
  }
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => void sync.stop().finally(() => close().finally(() => process.exit(0))));
  }
  const first = await sync.start();
  log.info('ready', { node: values['node-name'], datastore: values.datastore, mode: values.mode, backend, table: values.table, full: first.full });
}

main().catch((error: Error) => {
  console.error(`policy-agent: ${error.message.split('\n')[0]}`);
  process.exit(1);
});
