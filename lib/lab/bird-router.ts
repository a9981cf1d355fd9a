import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { LabProcess } from './process';

export interface BirdNeighbour {
  readonly name: string;
  /** An IPv4 address (an IPv4 session, IPv4 unicast) or an IPv6 one (an IPv6 session, IPv6 unicast: Calico's bird6). */
  readonly address: string;
  readonly asn: number;
  /** TCP-MD5 password, as the node's BGPPeer says. @default none */
  readonly password?: string;
  /** BIRD waits for the node to connect (`passive on`). @default false: both sides connect */
  readonly passive?: boolean;
}

export interface BirdRouterOptions {
  /** The namespace BIRD runs in (the lab's gateway). */
  readonly netns: string;
  readonly dir: string;
  /** Router id and the address IPv4 sessions are made from. */
  readonly address: string;
  /** The address IPv6 sessions are made from; needed when a neighbour is IPv6. @default none */
  readonly address6?: string;
  readonly asn: number;
  readonly neighbours: readonly BirdNeighbour[];
  /** Prefixes the router originates towards every neighbour of their family. @default none */
  readonly originate?: readonly string[];
  /** Graceful restart towards the neighbours. @default true */
  readonly gracefulRestart?: boolean;
  /** @default '/usr/sbin/bird' */
  readonly bird?: string;
}

/**
 * BIRD 2 as the lab's external router (a rack router / ToR): eBGP or iBGP to the given neighbours,
 * imports everything they advertise, exports only what it originates. An IPv6 neighbour gets an
 * IPv6 session from `address6` with the ipv6 channel only, as Calico's nodes peer over IPv6 for
 * IPv6 routes. Shared by the network lab (`--routing bgp`) and the cluster lab (prod's BGPPeers).
 */
export class BirdRouter {
  public static start(options: BirdRouterOptions): BirdRouter {
    fs.mkdirSync(options.dir, { recursive: true });
    const router = new BirdRouter(options);
    const config = path.join(options.dir, 'bird.conf');
    fs.writeFileSync(config, birdConfig(options));
    router.process = new LabProcess('bird', [options.bird ?? '/usr/sbin/bird', '-f', '-c', config, '-s', router.socket, '-P', path.join(options.dir, 'bird.pid')], {
      netns: options.netns, logFile: path.join(options.dir, 'bird.log'),
    });
    return router;
  }

  public process!: LabProcess;
  public readonly socket: string;

  private constructor(public readonly options: BirdRouterOptions) {
    this.socket = path.join(options.dir, 'bird.ctl');
  }

  /** `birdc` against this router, e.g. `birdc('show', 'route')`. */
  public birdc(...args: string[]): string {
    const r = spawnSync(`${path.dirname(this.options.bird ?? '/usr/sbin/bird')}/birdc`, ['-s', this.socket, ...args], { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`;
  }

  /** Per neighbour name: BIRD's session state (`Established`, `Active`, `Connect`, …). */
  public sessions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of this.birdc('show', 'protocols').split('\n')) {
      const m = /^(\S+)\s+BGP\s+\S+\s+\S+\s+\S+\s+(\S+)/.exec(line);
      if (m) out[m[1]] = m[2];
    }
    return out;
  }

  /** Prefixes in BIRD's table learned over BGP. */
  public learnedPrefixes(): string[] {
    return [...new Set(this.birdc('show', 'route', 'where', 'source', '=', 'RTS_BGP').split('\n')
      .map((l) => /^([0-9a-f.:]+\/\d+)/.exec(l)?.[1]).filter((p): p is string => p !== undefined))].sort();
  }

  public async stop(): Promise<void> {
    await this.process?.stop('SIGTERM', 2000);
  }
}

/** BIRD protocol names: letters, digits and underscores. */
const protocolName = (name: string) => name.replace(/[^A-Za-z0-9_]/g, '_');

export function birdConfig(o: Omit<BirdRouterOptions, 'netns' | 'dir' | 'bird'>): string {
  const v6 = (address: string) => address.includes(':');
  const originate = (o.originate ?? []).filter((r) => !v6(r)).map((r) => `route ${r} blackhole;`).join(' ');
  const originate6 = (o.originate ?? []).filter(v6).map((r) => `route ${r} blackhole;`).join(' ');
  const sixes = o.neighbours.filter((n) => v6(n.address));
  if (sixes.length && !o.address6) throw new Error(`bird router: neighbour ${sixes[0].name} (${sixes[0].address}) is IPv6 but the router has no address6`);
  const neighbours = o.neighbours.map((n) => [
    `protocol bgp ${protocolName(n.name)} from ${v6(n.address) ? 'neighbour6' : 'neighbour'} {`,
    `  neighbor ${n.address} as ${n.asn};`,
    ...(n.password ? [`  password "${n.password.replace(/["\\]/g, '\\$&')}";`] : []),
    ...(n.passive ? ['  passive on;'] : []),
    '}',
  ].join('\n')).join('\n');
  return `
log stderr all;
router id ${o.address};
protocol device { scan time 1; }
protocol static originated { ipv4; ${originate} }
template bgp neighbour {
  local ${o.address} as ${o.asn};
  hold time 9; connect retry time 1; error wait time 1, 2;
  graceful restart ${o.gracefulRestart === false ? 'off' : 'on'};
  ipv4 { import all; export where proto = "originated"; };
}
${o.address6 ? `protocol static originated6 { ipv6; ${originate6} }
template bgp neighbour6 {
  local ${o.address6} as ${o.asn};
  hold time 9; connect retry time 1; error wait time 1, 2;
  graceful restart ${o.gracefulRestart === false ? 'off' : 'on'};
  ipv6 { import all; export where proto = "originated6"; };
}
` : ''}${neighbours}
`;
}
