import { existsSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { hostVethName } from '../../../lib/dataplane/cni';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../../support/netns';
import { bundlePlugin, invoke, tempNetwork } from './harness';

const describeRoot = canCreateNetns() ? describe : describe.skip;
const SUBNET_ENV = 'FLANNEL_NETWORK=10.251.0.0/16\nFLANNEL_SUBNET=10.251.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n';

describeRoot('cnikit CNI plugin on a real kernel', () => {
  let net: ReturnType<typeof tempNetwork>;
  let plugin: string;
  let node: string;
  const pods: string[] = [];
  const conf = (extra: Record<string, unknown> = {}) => ({
    cniVersion: '1.1.0', name: 'cnikit-test', type: 'cnikit-flannel', subnetFile: net.subnetFile, dataDir: net.dataDir, ...extra,
  });
  const pod = (role: string) => {
    const name = createNetns(role);
    pods.push(name);
    return name;
  };
  const add = (netns: string, id: string, extra: Record<string, unknown> = {}) =>
    invoke({ plugin, node, command: 'ADD', conf: conf(extra), containerId: id, netns, ifname: 'eth0' });

  beforeAll(() => {
    net = tempNetwork(SUBNET_ENV);
    plugin = bundlePlugin(net.dir);
    node = createNetns('node');
  });
  afterAll(() => {
    for (const name of pods) destroyNetns(name);
    destroyNetns(node);
    net.dispose();
  });

  it('ADD wires a pod to the bridge: address, MTU, routes, hairpin, and a 1.1.0 result', async () => {
    const p = pod('p1');
    const out = await add(p, 'ctr-one');
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const result = out.json as { interfaces: { name: string; mac: string; mtu?: number; sandbox?: string }[]; ips: { address: string; gateway: string; interface: number }[]; routes: { dst: string; gw: string }[] };
    expect(result.interfaces.map((i) => i.name)).toEqual(['cni0', hostVethName('ctr-one', 'eth0'), 'eth0']);
    expect(result.interfaces[2]).toMatchObject({ mtu: 1450, sandbox: `/var/run/netns/${p}` });
    expect(result.ips).toEqual([{ address: '10.251.3.2/24', gateway: '10.251.3.1', interface: 2 }]);
    expect(result.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.251.3.1' }, { dst: '10.251.0.0/16', gw: '10.251.3.1' }]);
    const eth0 = JSON.parse(execIn(p, ['ip', '-j', 'addr', 'show', 'eth0']).stdout)[0];
    expect(eth0.mtu).toBe(1450);
    expect(eth0.address).toBe(result.interfaces[2].mac);
    expect(execIn(p, ['ip', 'route']).stdout).toContain('default via 10.251.3.1 dev eth0');
    const veth = JSON.parse(execIn(node, ['ip', '-j', '-d', 'link', 'show', hostVethName('ctr-one', 'eth0')]).stdout)[0];
    expect(veth.master).toBe('cni0');
    expect(veth.linkinfo.info_slave_data.hairpin).toBe(true);
    expect(execIn(p, ['ping', '-c1', '-W2', '10.251.3.1']).code).toBe(0);
  });

  it('gives 50 concurrent ADDs 50 distinct addresses', async () => {
    const names = Array.from({ length: 50 }, (_, i) => pod(`c${i}`));
    const outs = await Promise.all(names.map((p, i) => add(p, `ctr-many-${i}`)));
    const failed = outs.filter((o) => o.code !== 0);
    expect(failed.map((o) => o.stdout)).toEqual([]);
    const addresses = outs.map((o) => (o.json as { ips: { address: string }[] }).ips[0].address);
    expect(new Set(addresses).size).toBe(50);
    for (const [i, p] of names.entries()) expect(execIn(p, ['ip', '-br', 'addr', 'show', 'eth0']).stdout).toContain(addresses[i]);
    const dels = await Promise.all(names.map((p, i) => invoke({ plugin, node, command: 'DEL', conf: conf(), containerId: `ctr-many-${i}`, netns: p, ifname: 'eth0' })));
    expect(dels.map((d) => d.code)).toEqual(names.map(() => 0));
  });

  it('pods on the same bridge reach each other over ICMP and TCP', async () => {
    const a = pod('pa');
    const b = pod('pb');
    const ra = await add(a, 'ctr-a');
    const rb = await add(b, 'ctr-b');
    const ipB = (rb.json as { ips: { address: string }[] }).ips[0].address.split('/')[0];
    expect(ra.code).toBe(0);
    expect(execIn(a, ['ping', '-c1', '-W2', ipB]).code).toBe(0);
    const server = `require('net').createServer((s)=>{s.end('pong');}).listen(8080,'${ipB}',()=>console.log('up'));setTimeout(()=>process.exit(0),8000)`;
    const { spawn } = await import('node:child_process');
    const srv = spawn('ip', ['netns', 'exec', b, process.execPath, '-e', server], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => srv.stdout.once('data', () => resolve()));
    const client = execIn(a, [process.execPath, '-e', `require('net').connect(8080,'${ipB}').on('data',(d)=>{process.stdout.write(d);process.exit(0)})`]);
    srv.kill();
    expect(client.stdout).toBe('pong');
  });

  it('chains with Debian\'s portmap after it: a hostPort reaches the pod, and DEL through the chain cleans up', async () => {
    const p = pod('pm');
    const chainConf = (extra: Record<string, unknown>) => conf({ cniVersion: '1.0.0', ...extra });
    const ours = await add(p, 'ctr-portmap', { cniVersion: '1.0.0' });
    expect(ours.code).toBe(0);
    const portmapConf = {
      cniVersion: '1.0.0', name: 'cnikit-test', type: 'portmap', capabilities: { portMappings: true },
      runtimeConfig: { portMappings: [{ hostPort: 18080, containerPort: 8080, protocol: 'tcp' }] }, prevResult: ours.json,
    };
    const pm = await invoke({ plugin: '/usr/lib/cni/portmap', node, command: 'ADD', conf: portmapConf, containerId: 'ctr-portmap', netns: p, ifname: 'eth0' });
    expect(pm.stderr).toBe('');
    expect(pm.code).toBe(0);
    // portmap passes our result through unchanged
    expect((pm.json as { ips: unknown[] }).ips).toEqual((ours.json as { ips: unknown[] }).ips);
    const { spawn } = await import('node:child_process');
    const srv = spawn('ip', ['netns', 'exec', p, process.execPath, '-e',
      "require('net').createServer((s)=>{s.end('via-hostport');}).listen(8080,()=>console.log('up'));setTimeout(()=>process.exit(0),8000)"], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => srv.stdout.once('data', () => resolve()));
    const client = execIn(node, [process.execPath, '-e', "require('net').connect(18080,'10.251.3.1').on('data',(d)=>{process.stdout.write(d);process.exit(0)}).on('error',(e)=>{console.error(e.message);process.exit(1)})"]);
    srv.kill();
    expect(client.stdout).toBe('via-hostport');
    expect(execIn(node, ['iptables-save', '-t', 'nat']).stdout).toContain('18080');
    const pmDel = await invoke({ plugin: '/usr/lib/cni/portmap', node, command: 'DEL', conf: portmapConf, containerId: 'ctr-portmap', netns: p, ifname: 'eth0' });
    expect(pmDel.code).toBe(0);
    expect((await invoke({ plugin, node, command: 'DEL', conf: chainConf({ prevResult: ours.json }), containerId: 'ctr-portmap', netns: p, ifname: 'eth0' })).code).toBe(0);
    expect(execIn(node, ['iptables-save', '-t', 'nat']).stdout).not.toContain('18080');
  });

  it('DEL twice and DEL of an unknown container succeed, and release the address', async () => {
    const p = pod('pd');
    const r = await add(p, 'ctr-del');
    const ip = (r.json as { ips: { address: string }[] }).ips[0].address.split('/')[0];
    expect(existsSync(path.join(net.dataDir, 'ipam', ip))).toBe(true);
    const del = () => invoke({ plugin, node, command: 'DEL', conf: conf(), containerId: 'ctr-del', netns: p, ifname: 'eth0' });
    expect((await del()).code).toBe(0);
    expect((await del()).code).toBe(0);
    expect(existsSync(path.join(net.dataDir, 'ipam', ip))).toBe(false);
    expect(execIn(p, ['ip', 'link', 'show', 'eth0']).code).not.toBe(0);
    const unknown = await invoke({ plugin, node, command: 'DEL', conf: conf(), containerId: 'never-added', ifname: 'eth0' });
    expect(unknown).toMatchObject({ code: 0, stdout: '' });
  });

  it('CHECK passes after ADD and detects a removed veth', async () => {
    const p = pod('pc');
    const r = await add(p, 'ctr-check');
    const check = () => invoke({ plugin, node, command: 'CHECK', conf: conf({ prevResult: r.json }), containerId: 'ctr-check', netns: p, ifname: 'eth0' });
    expect(await check()).toMatchObject({ code: 0, stdout: '' });
    execIn(node, ['ip', 'link', 'del', hostVethName('ctr-check', 'eth0')]);
    const failed = await check();
    expect(failed.code).not.toBe(0);
    expect(failed.json).toMatchObject({ cniVersion: '1.1.0', code: 999 });
    expect(String(failed.json?.msg)).toMatch(/host veth .* is missing.*eth0 is missing/);
  });

  it('reconciles a stale bridge address left by an old subnet (flannel #1850)', async () => {
    execIn(node, ['ip', 'addr', 'add', '10.251.99.1/24', 'dev', 'cni0']);
    const p = pod('ps');
    expect((await add(p, 'ctr-stale')).code).toBe(0);
    const addrs = execIn(node, ['ip', '-br', '-4', 'addr', 'show', 'cni0']).stdout;
    expect(addrs).toContain('10.251.3.1/24');
    expect(addrs).not.toContain('10.251.99.1');
  });

  it('returns the spec error codes as JSON with a non-zero exit', async () => {
    const p = pod('pe');
    const base = { plugin, node, containerId: 'ctr-err', netns: p, ifname: 'eth0' };
    const cases: [string, Promise<{ code: number; json?: Record<string, unknown> }>, number, RegExp][] = [
      ['undecodable JSON', invoke({ ...base, command: 'ADD', conf: '{not json' }), 6, /not valid JSON/],
      ['unsupported version', invoke({ ...base, command: 'ADD', conf: conf({ cniVersion: '9.9.9' }) }), 1, /cniVersion.*9\.9\.9/],
      ['bad value', invoke({ ...base, command: 'ADD', conf: conf({ mtu: 'big' }) }), 7, /mtu: "big" is not valid/],
      ['unsupported field', invoke({ ...base, command: 'ADD', conf: conf({ ipam: { type: 'host-local' } }) }), 2, /ipam/],
      ['missing CNI_NETNS', invoke({ ...base, command: 'ADD', conf: conf(), netns: undefined }), 4, /CNI_NETNS/],
      ['bad CNI_CONTAINERID', invoke({ ...base, command: 'ADD', conf: conf(), containerId: '-bad id' }), 4, /CNI_CONTAINERID/],
      ['unknown command', invoke({ ...base, command: 'FROB', conf: conf() }), 4, /CNI_COMMAND/],
      ['agent not ready', invoke({ ...base, command: 'ADD', conf: conf({ subnetFile: '/nonexistent/subnet.env' }) }), 11, /agent is not ready/],
      ['STATUS without subnet file', invoke({ ...base, command: 'STATUS', conf: conf({ subnetFile: '/nonexistent/subnet.env' }) }), 50, /not ready/],
      ['CHECK of an unknown container', invoke({ ...base, command: 'CHECK', containerId: 'ctr-unknown', conf: conf({ prevResult: { cniVersion: '1.1.0' } }) }), 3, /unknown/],
    ];
    for (const [label, promise, code, msg] of cases) {
      const out = await promise;
      expect({ label, exit: out.code, code: out.json?.code }).toEqual({ label, exit: 1, code });
      expect(String(out.json?.msg)).toMatch(msg);
    }
    // nothing was left behind by the failed ADDs
    expect(execIn(p, ['ip', 'link', 'show', 'eth0']).code).not.toBe(0);
    expect((await invoke({ ...base, command: 'STATUS', conf: conf() })).code).toBe(0);
  });

  it('VERSION lists the supported versions; GC releases what is not a valid attachment', async () => {
    const version = await invoke({ plugin, node, command: 'VERSION', conf: { cniVersion: '1.0.0' } });
    expect(version.json).toEqual({ cniVersion: '1.0.0', supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
    const keep = pod('gk');
    const drop = pod('gd');
    expect((await add(keep, 'ctr-keep')).code).toBe(0);
    expect((await add(drop, 'ctr-drop')).code).toBe(0);
    const valid = [{ containerID: 'ctr-keep', ifname: 'eth0' }, { containerID: 'ctr-a', ifname: 'eth0' }, { containerID: 'ctr-b', ifname: 'eth0' }];
    const gc = await invoke({ plugin, node, command: 'GC', conf: conf({ 'cni.dev/valid-attachments': valid }) });
    expect(gc).toMatchObject({ code: 0, stdout: '' });
    const owners = readdirSync(path.join(net.dataDir, 'ipam')).filter((f) => /^\d/.test(f));
    expect(owners.length).toBe(3);
    expect(execIn(node, ['ip', 'link', 'show', hostVethName('ctr-drop', 'eth0')]).code).not.toBe(0);
    expect(execIn(node, ['ip', 'link', 'show', hostVethName('ctr-keep', 'eth0')]).code).toBe(0);
    rmSync(path.join(net.dataDir, 'ipam'), { recursive: true, force: true });
  });
});
