import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { hostVethName } from '../../../lib/dataplane/cni';
import { renderCniShim } from '../../../lib/dataplane/cni/shim';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../../support/netns';
import { bundleApp, bundlePlugin, invoke, tempNetwork } from './harness';

const describeRoot = canCreateNetns() ? describe : describe.skip;
const PORT = 7331;

/** The resident server runs inside the "node" namespace (its own loopback), the shim is what the runtime executes. */
describeRoot('cnikit CNI shim and resident server on a real kernel', () => {
  const net = tempNetwork('FLANNEL_NETWORK=10.249.0.0/16\nFLANNEL_SUBNET=10.249.5.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n');
  const names: string[] = [];
  let node: string;
  let shim: string;
  let server: ChildProcess | undefined;
  const tokenFile = path.join(net.dir, 'token');
  const conf = { cniVersion: '1.1.0', name: 'srv', type: 'cnikit-flannel', subnetFile: net.subnetFile, dataDir: net.dataDir };
  const pod = (role: string) => {
    const n = createNetns(role);
    names.push(n);
    return n;
  };

  beforeAll(async () => {
    node = pod('snode');
    const plugin = bundlePlugin(net.dir);
    const serverJs = bundleApp('cni-server', path.join(net.dir, 'cni-server.js'));
    shim = path.join(net.dir, 'cnikit-shim');
    writeFileSync(shim, renderCniShim({ port: PORT, tokenFile, node: process.execPath, plugin }));
    chmodSync(shim, 0o755);
    server = spawn('ip', ['netns', 'exec', node, process.execPath, serverJs, `--port=${PORT}`, `--token-file=${tokenFile}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.once('data', () => resolve());
      server?.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
  });
  afterAll(() => {
    server?.kill();
    for (const n of names) destroyNetns(n);
    net.dispose();
  });

  it('serves ADD, CHECK and DEL through the shim, concurrently, with the same results as the executable', async () => {
    // a shim whose fallback cannot run: every success below came from the server
    const serverOnly = path.join(net.dir, 'server-only-shim');
    writeFileSync(serverOnly, renderCniShim({ port: PORT, tokenFile, node: process.execPath, plugin: '/nonexistent' }));
    chmodSync(serverOnly, 0o755);
    const pods = Array.from({ length: 20 }, (_, i) => pod(`s${i}`));
    const adds = await Promise.all(pods.map((p, i) => invoke({ plugin: serverOnly, node, command: 'ADD', conf, containerId: `srv-${i}`, netns: p, ifname: 'eth0' })));
    expect(adds.map((a) => a.code)).toEqual(pods.map(() => 0));
    const addresses = adds.map((a) => (a.json as { ips: { address: string }[] }).ips[0].address);
    expect(new Set(addresses).size).toBe(20);
    expect(execIn(pods[0], ['ping', '-c1', '-W2', addresses[1].split('/')[0]]).code).toBe(0);
    const check = await invoke({ plugin: serverOnly, node, command: 'CHECK', conf: { ...conf, prevResult: adds[0].json }, containerId: 'srv-0', netns: pods[0], ifname: 'eth0' });
    expect(check).toMatchObject({ code: 0, stdout: '' });
    const dels = await Promise.all(pods.map((p, i) => invoke({ plugin: serverOnly, node, command: 'DEL', conf, containerId: `srv-${i}`, netns: p, ifname: 'eth0' })));
    expect(dels.map((d) => d.code)).toEqual(pods.map(() => 0));
    expect(execIn(node, ['ip', 'link', 'show', hostVethName('srv-0', 'eth0')]).code).not.toBe(0);
  });

  it('passes CNI errors through and refuses a wrong token', async () => {
    const p = pod('se');
    const bad = await invoke({ plugin: shim, node, command: 'ADD', conf: { ...conf, mtu: 'x' }, containerId: 'srv-e', netns: p, ifname: 'eth0' });
    expect(bad.code).toBe(1);
    expect(bad.json).toMatchObject({ code: 7 });
    writeFileSync(path.join(net.dir, 'wrong-token'), 'nope\n');
    const wrongShim = path.join(net.dir, 'wrong-shim');
    writeFileSync(wrongShim, renderCniShim({ port: PORT, tokenFile: path.join(net.dir, 'wrong-token'), node: process.execPath, plugin: '/nonexistent' }));
    chmodSync(wrongShim, 0o755);
    const refused = await invoke({ plugin: wrongShim, node, command: 'ADD', conf, containerId: 'srv-e', netns: p, ifname: 'eth0' });
    expect(refused.json).toMatchObject({ code: 4, msg: expect.stringMatching(/token/) });
  });

  it('falls back to the Node plugin when the server is down', async () => {
    server?.kill();
    await new Promise((resolve) => server?.once('exit', resolve));
    const p = pod('sf');
    const out = await invoke({ plugin: shim, node, command: 'ADD', conf, containerId: 'srv-f', netns: p, ifname: 'eth0' });
    expect(out.code).toBe(0);
    expect((out.json as { ips: unknown[] }).ips).toHaveLength(1);
    expect((await invoke({ plugin: shim, node, command: 'DEL', conf, containerId: 'srv-f', netns: p, ifname: 'eth0' })).code).toBe(0);
  });
});
