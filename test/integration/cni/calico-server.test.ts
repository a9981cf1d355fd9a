import { ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, Server } from 'node:net';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { EtcdStore } from '../../../lib/dataplane/datastore';
import { renderCniShim } from '../../../lib/dataplane/cni/shim';
import { CALICO_ETCD_PREFIX } from '../../../lib/dataplane/ipam/calico-store';
import { EtcdServer, startEtcd } from '../../support/etcd';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../../support/netns';
import { bundleApp, invoke, tempNetwork } from './harness';

const describeRoot = canCreateNetns() ? describe : describe.skip;
const PORT = 7331;

/**
 * Calico mode through the shim and the resident server (which keeps its etcd client), on a real kernel
 * and a real etcd: the server runs in the "node" namespace (its own loopback), the shim is what the
 * runtime executes.
 */
describeRoot('Calico-mode CNI through the shim and resident server (real kernel, real etcd)', () => {
  const net = tempNetwork('');
  const names: string[] = [];
  const prefix = `/cni-srv-${process.pid}${CALICO_ETCD_PREFIX}`;
  let etcd: EtcdServer;
  let node: string;
  let server: ChildProcess | undefined;
  let forward: ChildProcess | undefined;
  let etcdSocket: Server | undefined;
  let serverOnly: string;
  let shim: string;
  const tokenFile = path.join(net.dir, 'token');
  const conf = (type = 'cnikit-calico') => ({
    cniVersion: '1.0.0', name: 'k8s-pod-network', type, nodename: 'node-1', mtu: 1400,
    // etcd as the node sees it: its loopback, forwarded to the harness's etcd (see beforeAll)
    datastore_type: 'etcdv3', etcd_endpoints: 'http://127.0.0.1:2379', etcd_prefix: prefix,
    ipam: { type: 'cnikit-calico-ipam', lock_file: path.join(net.dir, 'ipam.lock') },
  });
  const args = (pod: string) => ({ CNI_ARGS: `K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=x` });
  const pod = (role: string) => {
    const n = createNetns(role);
    names.push(n);
    return n;
  };
  const writeShim = (file: string, plugin: string) => {
    writeFileSync(file, renderCniShim({ port: PORT, tokenFile, node: process.execPath, plugin }));
    chmodSync(file, 0o755);
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    const admin = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    await admin.put(`${prefix}ippools/default`, JSON.stringify({ cidr: '10.246.0.0/16', blockSize: 26 }));
    await admin.close();
    node = pod('cnode');
    // Proxy ARP answers for 169.254.1.1 only when the node has a route to it: an uplink with a default route.
    for (const cmd of [['ip', 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink-peer'], ['ip', 'link', 'set', 'uplink-peer', 'up'], ['ip', 'link', 'set', 'uplink', 'up'], ['ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'uplink'], ['ip', 'route', 'add', 'default', 'via', '192.0.2.1'], ['ip', 'link', 'set', 'lo', 'up']]) {
      expect(execIn(node, cmd).stderr).toBe('');
    }
    // The node reaches etcd on its own 127.0.0.1:2379: the lab's port forward into a unix socket (the
    // filesystem is shared), which this process pipes to etcd on the harness's loopback.
    const socket = path.join(net.dir, 'etcd.sock');
    etcdSocket = createServer((inbound) => {
      const outbound = connect(etcd.clientPort, '127.0.0.1');
      inbound.pipe(outbound).pipe(inbound);
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => etcdSocket?.listen(socket, resolve));
    const forwardJs = path.join(net.dir, 'forward.js');
    buildSync({ entryPoints: [path.join(__dirname, '../../../lib/lab/programs/forward.ts')], bundle: true, platform: 'node', outfile: forwardJs, logLevel: 'error' });
    forward = spawn('ip', ['netns', 'exec', node, process.execPath, forwardJs, '2379', socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => forward?.stdout?.once('data', () => resolve()));
    // The Calico-mode plugin as installed: its bundle in bin/, etcd3's .proto files in ../proto.
    mkdirSync(path.join(net.dir, 'bin'));
    const plugin = bundleApp('cni-calico', path.join(net.dir, 'bin', 'cni-calico.js'));
    cpSync(path.join(path.dirname(require.resolve('etcd3/package.json')), 'proto'), path.join(net.dir, 'proto'), { recursive: true });
    const serverJs = bundleApp('cni-server', path.join(net.dir, 'bin', 'cni-server.js'));
    shim = path.join(net.dir, 'cnikit-calico');
    writeShim(shim, plugin);
    // a shim whose fallback cannot run: every success through it came from the server
    serverOnly = path.join(net.dir, 'server-only-shim');
    writeShim(serverOnly, '/nonexistent');
    server = spawn('ip', ['netns', 'exec', node, process.execPath, serverJs, `--port=${PORT}`, `--token-file=${tokenFile}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.once('data', () => resolve());
      server?.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
  });
  afterAll(async () => {
    server?.kill();
    forward?.kill();
    etcdSocket?.close();
    for (const n of names) destroyNetns(n);
    await etcd?.stop();
    net.dispose();
  });

  it('serves concurrent ADDs (distinct addresses, pods reach each other), the IPAM plugin, STATUS and DEL', async () => {
    const pods = Array.from({ length: 8 }, (_, i) => pod(`c${i}`));
    const adds = await Promise.all(pods.map((p, i) => invoke({
      plugin: serverOnly, node, command: 'ADD', conf: conf(), containerId: `cs-${i}`, netns: p, ifname: 'eth0', env: args(`web-${i}`),
    })));
    expect(adds.map((a) => [a.code, a.code === 0 ? "" : a.stdout])).toEqual(pods.map(() => [0, ""]));
    const addresses = adds.map((a) => (a.json as { ips: { address: string }[] }).ips[0].address);
    expect(new Set(addresses).size).toBe(pods.length);
    for (const address of addresses) expect(address).toMatch(/^10\.246\.\d+\.\d+\/32$/);
    expect(execIn(pods[0], ['ping', '-c1', '-W2', addresses[1].split('/')[0]]).code).toBe(0);

    const ipam = await invoke({ plugin: serverOnly, node, command: 'ADD', conf: conf('cnikit-calico-ipam'), containerId: 'cs-ipam', ifname: 'eth0', netns: pods[0], env: args('ipam') });
    expect(ipam.code).toBe(0);
    expect((ipam.json as { ips: { address: string }[] }).ips[0].address).toMatch(/^10\.246\./);
    expect((await invoke({ plugin: serverOnly, node, command: 'DEL', conf: conf('cnikit-calico-ipam'), containerId: 'cs-ipam', ifname: 'eth0', env: args('ipam') })).code).toBe(0);

    expect(await invoke({ plugin: serverOnly, node, command: 'STATUS', conf: { ...conf(), cniVersion: '1.1.0' } })).toMatchObject({ code: 0 });
    const dels = await Promise.all(pods.map((p, i) => invoke({
      plugin: serverOnly, node, command: 'DEL', conf: conf(), containerId: `cs-${i}`, netns: p, ifname: 'eth0', env: args(`web-${i}`),
    })));
    expect(dels.map((d) => d.code)).toEqual(pods.map(() => 0));
    expect(execIn(node, ['ip', '-br', 'link', 'show', 'type', 'veth']).stdout).not.toMatch(/^cali/m);
  });

  it('passes CNI errors through from Calico mode', async () => {
    const out = await invoke({ plugin: serverOnly, node, command: 'ADD', conf: { ...conf(), ipam: { type: 'host-local' } }, containerId: 'cs-e', netns: pod('ce'), ifname: 'eth0', env: args('e') });
    expect(out.code).toBe(1);
    expect(out.json).toMatchObject({ code: 2 });
  });

  it('falls back to the installed Calico-mode plugin when the server is down', async () => {
    server?.kill();
    await new Promise((resolve) => server?.once('exit', resolve));
    const p = pod('cf');
    const out = await invoke({ plugin: shim, node, command: 'ADD', conf: conf(), containerId: 'cs-f', netns: p, ifname: 'eth0', env: args('f') });
    expect({ code: out.code, stdout: out.stdout.slice(0, 200) }).toMatchObject({ code: 0 });
    expect((await invoke({ plugin: shim, node, command: 'DEL', conf: conf(), containerId: 'cs-f', netns: p, ifname: 'eth0', env: args('f') })).code).toBe(0);
  });
});
