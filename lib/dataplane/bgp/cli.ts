import * as fs from 'node:fs';
import { LinuxKernel } from '../kernel/linux-kernel';
import { parseSpeakerConfig } from './config';
import { BGP_ROUTE_PROTOCOL, BgpSpeaker } from './speaker';

export const SPEAKER_USAGE = 'usage: bgp-speaker --config <file.json>  (runs in the current network namespace; SIGTERM stops with NOTIFICATIONs, SIGUSR1 drops sessions for a graceful restart)';

/**
 * The standalone speaker: one JSON file (see config.ts), learned routes programmed into this
 * namespace's kernel as proto 186; logs go to stderr.
 */
export async function runSpeakerCli(argv: readonly string[]): Promise<number> {
  const at = argv.indexOf('--config');
  if (at < 0 || !argv[at + 1]) {
    process.stderr.write(`${SPEAKER_USAGE}\n`);
    return 2;
  }
  let speaker: BgpSpeaker;
  try {
    const config = parseSpeakerConfig(JSON.parse(fs.readFileSync(argv[at + 1], 'utf8')));
    const kernel = new LinuxKernel({ ownership: { routeProtocol: config.routeProtocol ?? BGP_ROUTE_PROTOCOL } });
    speaker = new BgpSpeaker({ ...config, kernel });
    await speaker.start();
  } catch (e) {
    process.stderr.write(`bgp-speaker: ${(e as Error).message}\n`);
    return 1;
  }
  process.stderr.write(`bgp-speaker: running as ${speaker.config.routerId} AS ${speaker.config.asn} with ${speaker.config.peers.length} peer(s)\n`);
  return new Promise<number>((resolve) => {
    const stop = (restarting: boolean) => () => { void speaker.stop({ restarting }).then(() => resolve(0)); };
    process.once('SIGTERM', stop(false));
    process.once('SIGINT', stop(false));
    process.once('SIGUSR1', stop(true));
  });
}
