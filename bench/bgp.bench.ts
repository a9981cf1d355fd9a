/**
 * BGP speaker: (1) learning 10,000 prefixes from BIRD 2 and installing them in the kernel, against
 * BIRD 2 doing the same (BIRD-to-BIRD) in the same run; (2) a 20-node full mesh converging.
 *
 *   npx ts-node --transpile-only bench/bgp.bench.ts [prefixes=10000] [reps=3] [meshNodes=20]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BgpSpeaker } from '../lib/dataplane/bgp/speaker';
import { planNodePeers } from '../lib/dataplane/bgp/peers';
import { MemoryNetwork } from '../lib/dataplane/kernel';
import { createNetns, destroyNetns, execIn } from '../test/support/netns';
import { Bird, NetnsProcess, bundleSpeaker, tempDir } from '../test/integration/bgp/harness';
import { machine, percentile, writeBenchmarkSection } from './report';

const PREFIXES = Number(process.argv[2] ?? 10000);
const REPS = Number(process.argv[3] ?? 3);
const MESH = Number(process.argv[4] ?? 20);

let senderStatus = () => '';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function countRoutes(netns: string, proto: number): number {
  const r = spawnSync('ip', ['-n', netns, '-4', 'route', 'show', 'proto', String(proto)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return r.stdout.split('\n').filter(Boolean).length;
}

async function timeUntilInstalled(start: () => NetnsProcess, netns: string, proto: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const proc = start();
  try {
    for (;;) {
      if (countRoutes(netns, proto) >= PREFIXES) return Number(process.hrtime.bigint() - t0) / 1e6;
      if (Number(process.hrtime.bigint() - t0) > 60e9) throw new Error(`no convergence after 60 s (${countRoutes(netns, proto)} routes):\n${proc.output.slice(-10).join('\n')}\n${senderStatus()}`);
      await sleep(50);
    }
  } finally {
    await proc.kill('SIGKILL');
    execIn(netns, ['ip', 'route', 'flush', 'proto', String(proto)]);
  }
}

async function learnBench(): Promise<string> {
  const dir = tempDir('bench');
  const bundle = bundleSpeaker(dir);
  const sender = createNetns('bsnd');
  const ours = createNetns('bours');
  const theirs = createNetns('bbird');
  let senderBird: Bird | undefined;
  try {
    const link = (peer: string, local: string, remote: string, n: number) => {
      execIn(sender, ['ip', 'link', 'add', `s${n}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
      execIn(sender, ['ip', 'addr', 'add', `${local}/24`, 'dev', `s${n}`]);
      execIn(sender, ['ip', 'link', 'set', `s${n}`, 'up']);
      execIn(peer, ['ip', 'addr', 'add', `${remote}/24`, 'dev', 'eth0']);
      execIn(peer, ['ip', 'link', 'set', 'eth0', 'up']);
    };
    link(ours, '10.97.1.1', '10.97.1.2', 1);
    link(theirs, '10.97.2.1', '10.97.2.2', 2);
    const routes = Array.from({ length: PREFIXES }, (_, i) => `route 20.${i >> 8}.${i & 255}.0/24 blackhole;`).join('\n');
    const senderDir = path.join(dir, 'sender');
    fs.mkdirSync(senderDir);
    senderBird = new Bird(sender, senderDir, `
router id 10.97.0.1;
protocol device { scan time 10; }
protocol static feed { ipv4; ${routes} }
template bgp feeder { local as 65000; connect delay time 0; connect retry time 1; error wait time 1, 1; ipv4 { import none; export all; }; }
protocol bgp ours from feeder { neighbor 10.97.1.2 as 64512; local 10.97.1.1; }
protocol bgp theirs from feeder { neighbor 10.97.2.2 as 64513; local 10.97.2.1; }
`);
    senderStatus = () => senderBird?.birdc('show', 'protocols') ?? '';
    fs.writeFileSync(path.join(dir, 'speaker.json'), JSON.stringify({
      routerId: '10.97.1.2', asn: 64512, listenAddress: '10.97.1.2', connectRetryTime: 1, families: ['ipv4'],
      peers: [{ address: '10.97.1.1', asn: 65000 }],
    }));
    const receiverDir = path.join(dir, 'receiver');
    fs.mkdirSync(receiverDir);
    const receiverConfig = `
router id 10.97.2.2;
protocol device { scan time 10; }
protocol kernel { ipv4 { import none; export all; }; merge paths on; }
protocol bgp feed { local 10.97.2.2 as 64513; neighbor 10.97.2.1 as 65000; connect delay time 0; connect retry time 1; ipv4 { import all; export none; }; }
`;
    await sleep(500);
    const ourTimes: number[] = [];
    const birdTimes: number[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      birdTimes.push(await timeUntilInstalled(() => new Bird(theirs, receiverDir, receiverConfig), theirs, 12));
      await sleep(1500); // the sender notices the session loss before the next run
      ourTimes.push(await timeUntilInstalled(() => new NetnsProcess(ours, [process.execPath, bundle, '--config', path.join(dir, 'speaker.json')]), ours, 186));
      await sleep(1500);
    }
    const bird = percentile(birdTimes, 50);
    const us = percentile(ourTimes, 50);
    return [
      `Sender: BIRD 2 with ${PREFIXES} static /24s exporting to two receivers in their own namespaces (veth each). Timed from spawning the receiver`,
      `(process start, session set-up, UPDATEs, kernel install) until \`ip route show proto <p>\` lists all ${PREFIXES} routes, polled every 50 ms;`,
      `median of ${REPS} runs each, alternating. Reference: BIRD 2 receiving with a kernel protocol (netlink). Ours: the bundled \`apps/bgp-speaker.ts\``,
      'installing through the kernel layer (`ip -batch`, proto 186). Target: within 2× of BIRD.',
      '',
      '| prefixes | BIRD → BIRD ms | BIRD → cnikit ms | ratio | runs (BIRD / cnikit) |',
      '|---|---|---|---|---|',
      `| ${PREFIXES} | ${bird.toFixed(0)} | ${us.toFixed(0)} | **${(us / bird).toFixed(2)}×** | ${birdTimes.map((t) => t.toFixed(0)).join(', ')} / ${ourTimes.map((t) => t.toFixed(0)).join(', ')} |`,
    ].join('\n');
  } finally {
    await senderBird?.kill();
    for (const n of [sender, ours, theirs]) destroyNetns(n);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function meshBench(): Promise<string> {
  const network = new MemoryNetwork();
  const port = 22000 + (process.pid % 20000);
  const nodes = Array.from({ length: MESH }, (_, i) => ({ name: `m${i}`, address: `127.0.3.${i + 1}` }));
  const speakers: BgpSpeaker[] = [];
  for (const [i, n] of nodes.entries()) {
    const plan = planNodePeers(n.name, nodes, { listenPort: port });
    const ns = network.namespace(n.name);
    ns.links.get('lo')!.up = true;
    await network.kernel({ everything: true }, n.name).apply([{ op: 'addr.replace', address: { dev: 'lo', cidr: `${n.address}/8` } }]);
    const s = new BgpSpeaker({
      ...plan, listenAddress: n.address, listenPort: port, connectRetryTime: 1, families: ['ipv4'], localRoutes: [`10.${100 + i}.0.0/26`],
      kernel: network.kernel({ routeProtocol: 186 }, n.name), kernelBatchMs: 5,
    }, () => undefined);
    speakers.push(s);
  }
  const t0 = process.hrtime.bigint();
  await Promise.all(speakers.map((s) => s.start()));
  const routes = (name: string) => [...network.namespace(name).routes.values()].filter((r) => r.protocol === 186).length;
  for (;;) {
    if (nodes.every((n) => routes(n.name) === MESH - 1)) break;
    if (Number(process.hrtime.bigint() - t0) > 60e9) throw new Error('mesh did not converge in 60 s');
    await sleep(10);
  }
  const converge = Number(process.hrtime.bigint() - t0) / 1e6;
  const sessions = speakers.reduce((n, s) => n + s.status().filter((p) => p.state === 'Established').length, 0) / 2;
  await Promise.all(speakers.map((s) => s.stop()));
  return [
    `${MESH} speakers in one Node process on loopback (127.0.3.x), Calico's mesh rule (one connecting side per pair), each originating one /26`,
    'and programming a kernel twin. Timed from starting all speakers at once until every node has the other nodes\' blocks installed.',
    '',
    '| nodes | sessions | converge ms |',
    '|---|---|---|',
    `| ${MESH} | ${sessions} | ${converge.toFixed(0)} |`,
  ].join('\n');
}

async function main(): Promise<void> {
  const mesh = await meshBench();
  const learn = await learnBench();
  writeBenchmarkSection('bgp', 'BGP speaker (`bench/bgp.bench.ts`)', `${machine()}\n\n### Learning ${PREFIXES} prefixes from BIRD\n\n${learn}\n\n### ${MESH}-node mesh convergence\n\n${mesh}\n`);
  console.log(`${learn}\n\n${mesh}`);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
