import * as fs from 'node:fs';
import { LinuxKernel } from '../kernel/linux-kernel';
import { ValidationError } from '../../model/errors';
import { StoreNodeRegistry } from '../calico/node-registry';
import { CALICO_ETCD_PREFIX, prefixedStore } from '../ipam/calico-store';
import { parseClusterFile, parseSpeakerConfig } from './config';
import { BgpNodeService } from './node-service';
import { BGP_ROUTE_PROTOCOL, BgpSpeaker } from './speaker';

export const SPEAKER_USAGE = [
  'usage: bgp-speaker --config <speaker.json>',
  '       bgp-speaker --calico-etcd <url,...> --node-name <name> [--cluster <bgp.json>]   (BGP resources, nodes and blocks from the Calico datastore; the file overrides and sets timers)',
  'Runs in the current network namespace. SIGTERM stops with NOTIFICATIONs; SIGUSR1 drops the sessions for a graceful restart.',
].join('\n');

function flag(argv: readonly string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

/**
 * The standalone speaker: one JSON file (see config.ts), learned routes programmed into this
 * namespace's kernel as proto 186; logs go to stderr.
 */
export async function runSpeakerCli(argv: readonly string[]): Promise<number> {
  const file = flag(argv, '--config');
  const etcd = flag(argv, '--calico-etcd');
  if (etcd) return runCalicoMode(etcd, flag(argv, '--node-name'), flag(argv, '--cluster'));
  if (!file) {
    process.stderr.write(`${SPEAKER_USAGE}\n`);
    return 2;
  }
  let speaker: BgpSpeaker;
  try {
    const config = parseSpeakerConfig(JSON.parse(fs.readFileSync(file, 'utf8')));
    const kernel = new LinuxKernel({ ownership: { routeProtocol: config.routeProtocol ?? BGP_ROUTE_PROTOCOL } });
    speaker = new BgpSpeaker({ ...config, kernel });
    await speaker.start();
  } catch (e) {
    process.stderr.write(`bgp-speaker: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`bgp-speaker: running as ${speaker.config.routerId} AS ${speaker.config.asn} with ${speaker.config.peers.length} peer(s)\n`);
  return untilSignal((restarting) => speaker.stop({ restarting }));
}

function untilSignal(stop: (restarting: boolean) => Promise<void>): Promise<number> {
  return new Promise<number>((resolve) => {
    const handler = (restarting: boolean) => () => { void stop(restarting).then(() => resolve(0)); };
    process.once('SIGTERM', handler(false));
    process.once('SIGINT', handler(false));
    process.once('SIGUSR1', handler(true));
  });
}

/** calico-node's BGP half: `BgpNodeService` over the Calico resources in etcd. */
async function runCalicoMode(endpoints: string, node: string | undefined, clusterFile: string | undefined): Promise<number> {
  let service: BgpNodeService;
  let close: () => Promise<void>;
  try {
    if (!node) throw new ValidationError('--node-name', node, 'the node name the Calico-style agent registered');
    const file = clusterFile ? (JSON.parse(fs.readFileSync(clusterFile, 'utf8')) as unknown) : {};
    const { cluster, speaker } = parseClusterFile(file);
    const { EtcdStore } = await import('../datastore/etcd');
    const { OutageLog, observedStore } = await import('../datastore/outage');
    const client = EtcdStore.connect({ endpoints: endpoints.split(',') });
    close = () => client.close();
    const line = (msg: string) => process.stderr.write(`bgp-speaker: ${msg}\n`);
    const outage = new OutageLog({ warn: line, info: line });
    const store = observedStore(prefixedStore(client, CALICO_ETCD_PREFIX), outage);
    const kernel = new LinuxKernel({ ownership: { routeProtocol: speaker.routeProtocol ?? BGP_ROUTE_PROTOCOL } });
    service = new BgpNodeService({
      node, store, cluster, kernel, speaker, outage,
      registry: new StoreNodeRegistry(store, (e, standIn) => line(`datastore record refused${standIn ? '; its last good version stays in force' : ''}: ${e.message}`)),
      log: (line) => process.stderr.write(`${line}\n`),
    });
    await service.start();
  } catch (e) {
    process.stderr.write(`bgp-speaker: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`bgp-speaker: running for node ${node} from the Calico datastore\n`);
  return untilSignal((restarting) => service.stop({ restarting }).finally(() => close()));
}
