import * as fs from 'node:fs';
import * as path from 'node:path';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../../support/netns';
import { Bird, NetnsProcess, bundleSpeaker, haveBird, joinNamespaces, tempDir, until } from './harness';

/**
 * Interop with BIRD 2: BIRD in one namespace, the cnikit speaker (the bundled apps/bgp-speaker.ts)
 * in another, joined by a veth pair. Sessions, routes both ways into BIRD's table and our kernel,
 * and graceful restart in both directions.
 */
const runs = canCreateNetns() && haveBird();
const maybe = runs ? describe : describe.skip;

const BIRD_IP = '10.99.0.1';
const SPEAKER_IP = '10.99.0.2';
const SPEAKER_RESTART = 4;
const BIRD_RESTART = 3;

maybe('BGP interop with BIRD 2', () => {
  let birdNs: string;
  let speakerNs: string;
  let dir: string;
  let bundle: string;
  let bird: Bird | undefined;
  let speaker: NetnsProcess | undefined;

  const birdConfig = `
log stderr all;
router id ${BIRD_IP};
protocol device { scan time 1; }
protocol static static4 { ipv4; route 198.51.100.0/24 blackhole; route 203.0.113.0/25 blackhole; }
protocol bgp cnikit {
  local ${BIRD_IP} as 65000;
  neighbor ${SPEAKER_IP} as 64512;
  hold time 9;
  connect retry time 1;
  error wait time 1, 2;
  graceful restart on;
  graceful restart time ${BIRD_RESTART};
  ipv4 { import all; export where proto = "static4"; };
}
`;

  const speakerConfig = {
    routerId: SPEAKER_IP, asn: 64512, listenAddress: SPEAKER_IP, connectRetryTime: 1, gracefulRestartTime: SPEAKER_RESTART, holdTime: 9,
    localRoutes: ['10.244.7.0/26', '10.244.8.64/26'],
    peers: [{ address: BIRD_IP, asn: 65000 }],
  };

  const startSpeaker = () => {
    speaker = new NetnsProcess(speakerNs, [process.execPath, bundle, '--config', path.join(dir, 'speaker.json')]);
    return speaker;
  };
  const birdRoutes = () => bird?.birdc('show', 'route', 'protocol', 'cnikit') ?? '';
  const kernelRoutes = () => execIn(speakerNs, ['ip', '-4', 'route', 'show', 'proto', '186']).stdout;
  const logs = () => `speaker:\n${speaker?.output.join('\n')}\nbird:\n${bird?.output.slice(-20).join('\n')}\n${birdRoutes()}`;

  beforeAll(() => {
    dir = tempDir('bird');
    bundle = bundleSpeaker(dir);
    fs.writeFileSync(path.join(dir, 'speaker.json'), JSON.stringify(speakerConfig));
    birdNs = createNetns('bird');
    speakerNs = createNetns('bgp');
    joinNamespaces(birdNs, speakerNs, BIRD_IP, SPEAKER_IP, ['vb', 'vs']);
  });

  afterAll(async () => {
    await speaker?.kill();
    await bird?.kill();
    if (birdNs) destroyNetns(birdNs);
    if (speakerNs) destroyNetns(speakerNs);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reaches Established, advertises our blocks to BIRD and installs BIRD\'s routes in our kernel', async () => {
    bird = new Bird(birdNs, dir, birdConfig);
    startSpeaker();
    await until('BIRD session Established', () => /cnikit\s+BGP\s+---\s+up\s.*Established/.test(bird!.birdc('show', 'protocols', 'cnikit')), 20000, logs);
    await until('both blocks at BIRD', () => birdRoutes().includes('10.244.7.0/26') && birdRoutes().includes('10.244.8.64/26'), 10000, logs);
    expect(birdRoutes()).toMatch(/10\.244\.7\.0\/26\s+unicast \[cnikit [^\]]+\] \* \(100\) \[AS64512i\]\s+via 10\.99\.0\.2 on vb/);
    await until('BIRD\'s routes in our kernel', () => kernelRoutes().includes('198.51.100.0/24') && kernelRoutes().includes('203.0.113.0/25'), 10000, logs);
    expect(kernelRoutes()).toContain(`198.51.100.0/24 via ${BIRD_IP} dev vs`); // (ip omits the proto it filtered on)
  });

  it('killing our speaker keeps its routes at BIRD for our restart time, then BIRD withdraws them; kernel routes persist', async () => {
    await speaker!.kill('SIGKILL');
    const killedAt = Date.now();
    await until('BIRD notices the session loss', () => !/Established/.test(bird!.birdc('show', 'protocols', 'cnikit')), 15000, logs);
    // Graceful restart: the routes stay (stale) while we are away…
    expect(birdRoutes()).toContain('10.244.7.0/26');
    await until('BIRD withdraws after the restart time', () => !birdRoutes().includes('10.244.7.0/26'), 20000, logs);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual((SPEAKER_RESTART - 1) * 1000);
    // …and the routes we programmed stay in the kernel (forwarding preserved).
    expect(kernelRoutes()).toContain('198.51.100.0/24');
  });

  it('a restarted speaker re-establishes and re-advertises; killing BIRD keeps its routes for BIRD\'s restart time, then removes them', async () => {
    startSpeaker();
    await until('re-established and re-advertised', () => birdRoutes().includes('10.244.8.64/26'), 20000, logs);
    expect(kernelRoutes()).toContain('203.0.113.0/25');
    await bird!.kill('SIGKILL');
    await until('speaker notices the loss', () => speaker!.output.some((l) => l.includes('keeping routes of 10.99.0.1')), 15000, logs);
    expect(kernelRoutes()).toContain('198.51.100.0/24');
    await until('stale routes removed from the kernel', () => !kernelRoutes().includes('198.51.100.0/24'), (BIRD_RESTART + 5) * 1000, logs);
    expect(kernelRoutes()).toBe('');
    expect(speaker!.output.join('\n')).toContain('restart time of 10.99.0.1 expired: 2 stale route(s) withdrawn');
  });
});
