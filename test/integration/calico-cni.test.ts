import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openCalicoStore } from '../../lib/dataplane/calico/datastore';
import { workloadVethName } from '../../lib/dataplane/calico/workload-endpoint';
import { EtcdStore } from '../../lib/dataplane/datastore';
import { linuxCalicoKernels } from '../../lib/dataplane/cni/calico-kernels';
import { runCalicoCni } from '../../lib/dataplane/cni/calico-main';
import { CALICO_ETCD_PREFIX } from '../../lib/dataplane/ipam/calico-store';
import { EtcdServer, startEtcd } from '../support/etcd';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../support/netns';

const maybe = canCreateNetns() ? describe : describe.skip;

/** The Calico-mode plugin on the real kernel (namespaces of our own) and a real etcd. */
maybe('calico-mode CNI plugin (real kernel, real etcd)', () => {
  let etcd: EtcdServer;
  let admin: EtcdStore;
  let node: string;
  const pods: string[] = [];
  let dir: string;
  const prefix = `/cni-${process.pid}${CALICO_ETCD_PREFIX}`;

  beforeAll(async () => {
    etcd = await startEtcd();
    admin = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    await admin.put(`${prefix}ippools/default`, JSON.stringify({ cidr: '10.244.0.0/16', blockSize: 26 }));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-calico-cni-'));
    node = createNetns('node');
    // Proxy ARP answers for 169.254.1.1 only when the node has a route to it: give it an uplink with a default route.
    for (const cmd of [['ip', 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink-peer'], ['ip', 'link', 'set', 'uplink-peer', 'up'], ['ip', 'link', 'set', 'uplink', 'up'], ['ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'uplink'], ['ip', 'route', 'add', 'default', 'via', '192.0.2.1']]) {
      expect(execIn(node, cmd).stderr).toBe('');
    }
    pods.push(createNetns('pa'), createNetns('pb'));
  });
  afterAll(async () => {
    for (const ns of [node, ...pods]) if (ns) destroyNetns(ns);
    await admin?.close();
    await etcd?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const conf = (extra: Record<string, unknown> = {}) => JSON.stringify({
    cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'cnikit-calico', nodename: 'node-1', mtu: 1400,
    datastore_type: 'etcdv3', etcd_endpoints: etcd.endpoint, etcd_prefix: prefix,
    ipam: { type: 'cnikit-calico-ipam', lock_file: path.join(dir, 'ipam.lock') }, policy: { type: 'k8s' }, log_level: 'info',
    ...extra,
  });
  const env = (command: string, id: string, netns: string | undefined, pod: string) => ({
    CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni',
    ...(netns ? { CNI_NETNS: `/var/run/netns/${netns}` } : {}),
    CNI_ARGS: `K8S_POD_NAMESPACE=shop;K8S_POD_NAME=${pod};K8S_POD_INFRA_CONTAINER_ID=${id}`,
  });
  const run = (e: NodeJS.ProcessEnv, stdin = conf()) => runCalicoCni(e, stdin, linuxCalicoKernels(node));

  test('ADD builds the Calico-style endpoint; pods on the node reach each other; DEL undoes it and is idempotent', async () => {
    const [a, b] = await Promise.all([run(env('ADD', 'ca', pods[0], 'web-1')), run(env('ADD', 'cb', pods[1], 'web-2'))]);
    expect(a.exitCode).toBe(0);
    expect(b.exitCode).toBe(0);
    const result = JSON.parse(a.stdout) as { ips: { address: string }[]; interfaces: { name: string; mac: string }[] };
    const ipA = result.ips[0].address.replace('/32', '');
    const ipB = (JSON.parse(b.stdout) as { ips: { address: string }[] }).ips[0].address.replace('/32', '');
    expect(result.ips[0].address).toMatch(/^10\.244\.\d+\.\d+\/32$/);
    const veth = workloadVethName('shop', 'web-1');
    expect(veth).toMatch(/^cali[0-9a-f]{11}$/);
    expect(result.interfaces[0]).toEqual({ name: veth, mac: 'ee:ee:ee:ee:ee:ee' });

    // Host side: the veth, proxy ARP, the /32 route.
    expect(execIn(node, ['cat', `/proc/sys/net/ipv4/conf/${veth}/proxy_arp`]).stdout.trim()).toBe('1');
    expect(execIn(node, ['cat', `/proc/sys/net/ipv4/neigh/${veth}/proxy_delay`]).stdout.trim()).toBe('0');
    expect(execIn(node, ['ip', 'route', 'show', `${ipA}/32`]).stdout).toContain(`dev ${veth} scope link`);
    expect(execIn(node, ['ip', '-br', 'link', 'show', veth]).stdout).toContain('ee:ee:ee:ee:ee:ee');
    // Pod side: /32, link route to 169.254.1.1, default via it, MTU.
    expect(execIn(pods[0], ['ip', '-4', '-br', 'addr', 'show', 'eth0']).stdout).toContain(`${ipA}/32`);
    const podRoutes = execIn(pods[0], ['ip', 'route']).stdout;
    expect(podRoutes).toContain('default via 169.254.1.1 dev eth0');
    expect(podRoutes).toContain('169.254.1.1 dev eth0');
    expect(execIn(pods[0], ['ip', 'link', 'show', 'eth0']).stdout).toContain('mtu 1400');
    // Traffic: pod → pod through the node, resolved by proxy ARP.
    expect(execIn(pods[0], ['ping', '-c1', '-W2', ipB]).code).toBe(0);
    expect(execIn(pods[0], ['ip', 'neigh', 'show', '169.254.1.1']).stdout).toContain('ee:ee:ee:ee:ee:ee');

    // The WorkloadEndpoint record and the handle.
    const wep = await admin.get(`${prefix}workloadendpoints/shop/node--1-k8s-web--1-eth0`);
    expect(JSON.parse(wep?.value ?? '{}').spec).toMatchObject({ node: 'node-1', pod: 'web-1', containerID: 'ca', interfaceName: veth, ipNetworks: [`${ipA}/32`] });
    expect(await admin.get(`${prefix}ipamhandles/k8s-pod-network.ca`)).toBeDefined();

    // CHECK passes now.
    expect((await run(env('CHECK', 'ca', pods[0], 'web-1'), conf({ prevResult: result }))).exitCode).toBe(0);

    // DEL: veth, route, record and handle go; twice is fine; without a netns too.
    expect((await run(env('DEL', 'ca', pods[0], 'web-1'))).exitCode).toBe(0);
    expect(execIn(node, ['ip', 'link', 'show', veth]).code).not.toBe(0);
    expect(execIn(node, ['ip', 'route', 'show', `${ipA}/32`]).stdout).toBe('');
    expect(await admin.get(`${prefix}workloadendpoints/shop/node--1-k8s-web--1-eth0`)).toBeUndefined();
    expect(await admin.get(`${prefix}ipamhandles/k8s-pod-network.ca`)).toBeUndefined();
    expect((await run(env('DEL', 'ca', undefined, 'web-1'))).exitCode).toBe(0);
    // CHECK of a container that is gone: unknown container (3).
    const check = await run(env('CHECK', 'ca', pods[0], 'web-1'), conf({ prevResult: result }));
    expect(JSON.parse(check.stdout).code).toBe(3);
    expect((await run(env('DEL', 'cb', pods[1], 'web-2'))).exitCode).toBe(0);
  });

  test('a late DEL of an earlier sandbox of the same pod leaves the new sandbox\'s veth and address alone', async () => {
    // kubelet: sandbox "old" set up, then replaced by "new" (same pod, same veth name), then old's teardown runs.
    const old = await run(env('ADD', 'old', pods[0], 'web-r'));
    expect(old.exitCode).toBe(0);
    const fresh = await run(env('ADD', 'new', pods[1], 'web-r'));
    expect(fresh.exitCode).toBe(0);
    const ip = (JSON.parse(fresh.stdout) as { ips: { address: string }[] }).ips[0].address.replace('/32', '');
    const veth = workloadVethName('shop', 'web-r');
    expect(execIn(node, ['ip', '-d', 'link', 'show', veth]).stdout).toContain('alias new');
    expect((await run(env('DEL', 'old', pods[0], 'web-r'))).exitCode).toBe(0);
    expect(execIn(node, ['ip', 'link', 'show', veth]).code).toBe(0);
    expect(execIn(node, ['ip', 'route', 'show', `${ip}/32`]).stdout).toContain(`dev ${veth}`);
    expect(execIn(pods[1], ['ip', '-4', '-br', 'addr', 'show', 'eth0']).stdout).toContain(`${ip}/32`);
    expect(await admin.get(`${prefix}ipamhandles/k8s-pod-network.old`)).toBeUndefined();
    expect(await admin.get(`${prefix}ipamhandles/k8s-pod-network.new`)).toBeDefined();
    expect((await run(env('DEL', 'new', pods[1], 'web-r'))).exitCode).toBe(0);
    expect(execIn(node, ['ip', 'link', 'show', veth]).code).not.toBe(0);
  });

  test('a failed ADD (interface already in the pod) releases its address', async () => {
    execIn(pods[0], ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    try {
      const out = await run(env('ADD', 'cx', pods[0], 'web-x'));
      expect(out.exitCode).toBe(1);
      expect(JSON.parse(out.stdout).msg).toContain('already exists');
      expect(await admin.get(`${prefix}ipamhandles/k8s-pod-network.cx`)).toBeUndefined();
      expect(execIn(node, ['ip', 'link', 'show', workloadVethName('shop', 'web-x')]).code).not.toBe(0);
    } finally {
      execIn(pods[0], ['ip', 'link', 'del', 'eth0']);
    }
  });

  test('spec error codes', async () => {
    const code = async (e: NodeJS.ProcessEnv, stdin: string) => JSON.parse((await run(e, stdin)).stdout).code as number;
    const add = env('ADD', 'c1', pods[0], 'p');
    expect(await code(add, conf({ cniVersion: '9.9.9' }))).toBe(1);
    expect(await code(add, conf({ ipam: { type: 'host-local' } }))).toBe(2);
    expect(await code({ ...add, CNI_NETNS: '' }, conf())).toBe(4);
    expect(await code(add, '{not json')).toBe(6);
    expect(await code(add, conf({ datastore_type: 'consul' }))).toBe(7);
    const noNode = JSON.parse(conf()) as Record<string, unknown>;
    delete noNode.nodename;
    noNode.nodename_file = path.join(dir, 'missing-nodename');
    const out = await run(add, JSON.stringify(noNode));
    expect(JSON.parse(out.stdout)).toMatchObject({ code: 11 });
    expect(JSON.parse(out.stdout).msg).toContain('missing-nodename is missing or empty');
    expect((await run({ CNI_COMMAND: 'STATUS', CNI_PATH: '' }, conf({ cniVersion: '1.1.0' }))).exitCode).toBe(0);
  });

  test('the IPAM plugin alone: /32 results, DEL releases by handle', async () => {
    const ipamConf = conf({ type: 'cnikit-calico-ipam' });
    const out = await run(env('ADD', 'ci', pods[1], 'x'), ipamConf);
    expect(out.exitCode).toBe(0);
    const ips = (JSON.parse(out.stdout) as { ips: { address: string; interface?: number }[] }).ips;
    expect(ips).toHaveLength(1);
    expect(ips[0].interface).toBeUndefined();
    expect(ips[0].address).toMatch(/\/32$/);
    expect((await run(env('DEL', 'ci', undefined, 'x'), ipamConf)).exitCode).toBe(0);
    expect(await admin.get(`${prefix}ipamhandles/k8s-pod-network.ci`)).toBeUndefined();
  });

  test('openCalicoStore keeps Calico keys under the etcd prefix', async () => {
    const store = await openCalicoStore({ type: 'etcdv3', endpoints: [etcd.endpoint], prefix });
    expect((await store.get('ippools/default'))?.value).toContain('10.244.0.0/16');
    await store.close();
  });
});
