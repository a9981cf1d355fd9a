// The standalone BGP speaker (one per node in the lab; the Calico-style agent embeds BgpSpeaker instead).
import { runSpeakerCli } from '../lib/dataplane/bgp/cli';

void runSpeakerCli(process.argv.slice(2)).then((code) => process.exit(code));
