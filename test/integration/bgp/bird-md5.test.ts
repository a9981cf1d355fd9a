import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildNativeAddon } from '../../../lib/image/native-addon';
import { birdConfig as routerConfig } from '../../../lib/lab/bird-router';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../../support/netns';
import { Bird, NetnsProcess, bundleSpeaker, haveBird, joinNamespaces, tempDir, until } from './harness';

/**
 * TCP-MD5 (RFC 2385) with BIRD 2: the speaker installs the peer's key on its listening socket (the
 * native addon) and BIRD, configured with the same password, opens the session. A wrong password
 * never gets a session: the kernel drops the unsigned or mis-signed SYNs.
 */
const maybe = canCreateNetns() && haveBird() ? describe : describe.skip;
const BIRD_IP = '10.98.0.1';
const SPEAKER_IP = '10.98.0.2';

maybe('TCP-MD5 sessions with BIRD 2 (real kernel)', () => {
  let birdNs: string;
  let speakerNs: string;
  let dir: string;
  let bundle: string;
  let bird: Bird | undefined;
  let speaker: NetnsProcess | undefined;
  let addon: string;

  // The lab's rack-router configuration (lib/lab/bird-router.ts), with the password under test.
  const birdConfig = (password: string) => routerConfig({
    address: BIRD_IP, asn: 65000, gracefulRestart: false,
    neighbours: [{ name: 'cnikit', address: SPEAKER_IP, asn: 64512, password }], originate: ['198.51.100.0/24'],
  });
  const logs = () => `speaker:\n${speaker?.output.join('\n')}\nbird:\n${bird?.output.slice(-20).join('\n')}\n${bird?.birdc('show', 'protocols', 'all', 'cnikit')}`;

  beforeAll(() => {
    dir = tempDir('md5');
    bundle = bundleSpeaker(dir);
    addon = buildNativeAddon(path.resolve(__dirname, '../../..'), 'tcp-md5', process.env.CNIKIT_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'cnikit'));
    fs.writeFileSync(path.join(dir, 'speaker.json'), JSON.stringify({
      routerId: SPEAKER_IP, asn: 64512, listenAddress: SPEAKER_IP, connectRetryTime: 1, holdTime: 9, localRoutes: ['10.244.9.0/26'],
      peers: [{ address: BIRD_IP, asn: 65000, password: 'rack-s3cret' }],
    }));
    birdNs = createNetns('md5b');
    speakerNs = createNetns('md5s');
    joinNamespaces(birdNs, speakerNs, BIRD_IP, SPEAKER_IP, ['vb', 'vs']);
  });

  afterAll(async () => {
    await speaker?.kill();
    await bird?.kill();
    if (birdNs) destroyNetns(birdNs);
    if (speakerNs) destroyNetns(speakerNs);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the same password: Established, routes both ways; a wrong one: no session', async () => {
    // The addon as the image places it would be found beside the bundle; here the variable points at the build.
    speaker = new NetnsProcess(speakerNs, ['env', `CNIKIT_TCP_MD5_ADDON=${addon}`, process.execPath, bundle, '--config', path.join(dir, 'speaker.json')]);
    bird = new Bird(birdNs, dir, birdConfig('rack-s3cret'));
    await until('BIRD session Established with TCP-MD5', () => /cnikit\s+BGP\s+---\s+up\s.*Established/.test(bird!.birdc('show', 'protocols', 'cnikit')), 20000, logs);
    await until('our block at BIRD', () => bird!.birdc('show', 'route', 'protocol', 'cnikit').includes('10.244.9.0/26'), 10000, logs);
    await until('BIRD\'s route in our kernel', () => execIn(speakerNs, ['ip', '-4', 'route', 'show', 'proto', '186']).stdout.includes('198.51.100.0/24'), 10000, logs);
    // The kernel signs the session: the established socket carries the key.
    expect(execIn(speakerNs, ['ss', '-tni', 'state', 'established', '( sport = :179 )']).stdout).toMatch(/md5/);

    const sessions = () => speaker!.output.filter((l) => / established /.test(l)).length;
    // The speaker's log line may still be in its pipe when the kernel already has the routes.
    const before = await until('the speaker logs its session', () => sessions(), 10000, logs);
    await bird.kill();
    bird = new Bird(birdNs, dir, birdConfig('wrong-password'));
    // BIRD retries every second; five seconds of mis-signed SYNs bring no session.
    await new Promise((r) => setTimeout(r, 5000));
    expect(bird.birdc('show', 'protocols', 'cnikit')).not.toMatch(/Established/);
    expect(sessions()).toBe(before);
  }, 60_000);
});
