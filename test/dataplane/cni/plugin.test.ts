import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CniError, CniResult, CnikitPlugin, PluginKernels, hostVethName, parseNetConf } from '../../../lib/dataplane/cni';
import { HostLocalStore } from '../../../lib/dataplane/ipam/host-local';
import { MemoryNetwork, RTPROT } from '../../../lib/dataplane/kernel';
import { Cidr } from '../../../lib/model/cidr';

/** The plugin's logic on the kernel twin: no root, no namespaces. */
describe('CnikitPlugin on the kernel twin', () => {
  let dir: string;
  let net: MemoryNetwork;
  let kernels: PluginKernels;
  const invocation = (command: 'ADD' | 'DEL' | 'CHECK', id: string, netns?: string) => ({ command, containerId: id, netns, ifname: 'eth0', args: {}, path: [] });
  const conf = (extra: Record<string, unknown> = {}) =>
    parseNetConf(JSON.stringify({ cniVersion: '1.1.0', name: 'n', type: 'cnikit-flannel', subnetFile: path.join(dir, 'subnet.env'), dataDir: dir, ...extra }));

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cnikit-plugin-'));
    writeFileSync(path.join(dir, 'subnet.env'), [
      'FLANNEL_NETWORK=10.244.0.0/16', 'FLANNEL_SUBNET=10.244.7.1/24', 'FLANNEL_IPV6_NETWORK=fd00:10:244::/56', 'FLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64',
      'FLANNEL_MTU=1450', 'FLANNEL_IPMASQ=true', '',
    ].join('\n'));
    net = new MemoryNetwork();
    kernels = {
      host: (ownership) => net.kernel(ownership),
      container: (netns, ifname) => net.kernel({ links: [ifname, 'lo'], routeProtocol: RTPROT.boot }, netns),
    };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ADD builds bridge, veth and a dual-stack pod with routes via the gateways', async () => {
    net.namespace('pod1');
    const result = await new CnikitPlugin(kernels).add(invocation('ADD', 'c1', 'pod1'), conf());
    expect(result.ips).toEqual([
      { address: '10.244.7.2/24', gateway: '10.244.7.1', interface: 2 },
      { address: 'fd00:10:244:7::2/64', gateway: 'fd00:10:244:7::1', interface: 2 },
    ]);
    expect(result.routes).toEqual([
      { dst: '0.0.0.0/0', gw: '10.244.7.1' }, { dst: '10.244.0.0/16', gw: '10.244.7.1' },
      { dst: '::/0', gw: 'fd00:10:244:7::1' }, { dst: 'fd00:10:244::/56', gw: 'fd00:10:244:7::1' },
    ]);
    const host = net.root;
    expect(host.links.get('cni0')).toMatchObject({ kind: 'bridge', up: true, mtu: 1450 });
    expect(host.links.get(hostVethName('c1', 'eth0'))).toMatchObject({ master: 'cni0', hairpin: true, up: true });
    expect([...host.addresses.values()].map((a) => a.cidr)).toEqual(['10.244.7.1/24', 'fd00:10:244:7::1/64']);
    expect(host.sysctls.get('net.ipv4.ip_forward')).toBe('1');
    const pod = net.namespace('pod1');
    expect(pod.links.get('eth0')).toMatchObject({ mtu: 1450, up: true, mac: result.interfaces?.[2].mac });
    expect([...pod.routes.values()].map((r) => `${r.dst} via ${r.via}`)).toEqual([
      '0.0.0.0/0 via 10.244.7.1', '10.244.0.0/16 via 10.244.7.1', '::/0 via fd00:10:244:7::1', 'fd00:10:244::/56 via fd00:10:244:7::1',
    ]);
  });

  it('removes a stale bridge address of the same family and leaves the rest', async () => {
    net.namespace('pod1');
    const host = net.kernel({ everything: true });
    await host.apply([
      { op: 'link.add', link: { kind: 'bridge', name: 'cni0', up: true } },
      { op: 'addr.replace', address: { dev: 'cni0', cidr: '10.244.99.1/24' } },
    ]);
    await new CnikitPlugin(kernels).add(invocation('ADD', 'c1', 'pod1'), conf());
    expect((await host.addresses('cni0')).map((a) => a.cidr)).toEqual(['10.244.7.1/24', 'fd00:10:244:7::1/64']);
  });

  it('rolls back the address and the veth when the pod side fails, so nothing leaks', async () => {
    const plugin = new CnikitPlugin(kernels);
    await expect(plugin.add(invocation('ADD', 'c1', 'missing-ns'), conf())).rejects.toThrow(/Cannot open network namespace/);
    expect(net.root.links.has(hostVethName('c1', 'eth0'))).toBe(false);
    expect(await new HostLocalStore(path.join(dir, 'ipam')).reservations()).toEqual([]);
    // The ADD had settled everything it started before it answered: no reservation lands afterwards.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await new HostLocalStore(path.join(dir, 'ipam')).reservations()).toEqual([]);
  });

  it('completes a half-done ADD on retry: the reservation is reused, the veth pair replaced', async () => {
    const pod = net.namespace('pod1');
    const store = new HostLocalStore(path.join(dir, 'ipam'));
    // what an ADD killed after reserving and creating the veth leaves behind
    const [v4] = await store.allocate('c1', 'eth0', [{ subnet: Cidr.parse('10.244.7.0/24', 'test'), gateway: '10.244.7.1' }]);
    await net.kernel({ everything: true }).apply([
      { op: 'link.add', link: { kind: 'bridge', name: 'cni0', up: true } },
      { op: 'link.add', link: { kind: 'veth', name: hostVethName('c1', 'eth0'), master: 'cni0', peer: { name: 'eth0', netns: 'pod1' } } },
    ]);
    const result = await new CnikitPlugin(kernels).add(invocation('ADD', 'c1', 'pod1'), conf());
    expect(result.ips?.[0].address).toBe(v4.address);
    expect(pod.links.get('eth0')).toMatchObject({ up: true, mac: result.interfaces?.[2].mac });
    expect([...pod.addresses.values()].map((a) => a.cidr)).toContain(v4.address);
    expect((await store.reservations()).map((r) => `${r.ip} ${r.containerId}`).sort()).toEqual(['10.244.7.2 c1', 'fd00:10:244:7::2 c1']);
  });

  it('serialises ADD, DEL, ADD, DEL, ADD racing for one container: it ends with its one reservation and veth', async () => {
    const pod = net.namespace('pod1');
    const plugin = new CnikitPlugin(kernels);
    const storm = await Promise.allSettled((['ADD', 'DEL', 'ADD', 'DEL', 'ADD'] as const).map((command) =>
      command === 'ADD' ? plugin.add(invocation('ADD', 'c1', 'pod1'), conf()) : plugin.del(invocation('DEL', 'c1'), conf())));
    expect(storm.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    const last = (storm[4] as PromiseFulfilledResult<CniResult>).value;
    const reserved = await new HostLocalStore(path.join(dir, 'ipam')).reservations();
    expect(reserved.map((r) => `${r.ip}/${r.ip.includes(':') ? 64 : 24}`).sort()).toEqual(last.ips?.map((ip) => ip.address).sort());
    expect([...net.root.links.keys()].filter((name) => name.startsWith('cnik'))).toEqual([hostVethName('c1', 'eth0')]);
    expect(pod.links.get('eth0')?.mac).toBe(last.interfaces?.[2].mac);
  });

  it('CHECK passes, then fails once the pod interface is gone; DEL is idempotent', async () => {
    net.namespace('pod1');
    const plugin = new CnikitPlugin(kernels);
    const result = await plugin.add(invocation('ADD', 'c1', 'pod1'), conf());
    await plugin.check(invocation('CHECK', 'c1', 'pod1'), conf({ prevResult: result }));
    net.namespace('pod1').removeLink('eth0');
    await expect(plugin.check(invocation('CHECK', 'c1', 'pod1'), conf({ prevResult: result }))).rejects.toThrow(/host veth .* is missing; interface eth0 is missing/);
    await plugin.del(invocation('DEL', 'c1'), conf());
    await plugin.del(invocation('DEL', 'c1'), conf());
    const unknown = plugin.check(invocation('CHECK', 'c1', 'pod1'), conf({ prevResult: result }));
    await expect(unknown).rejects.toBeInstanceOf(CniError);
    await expect(unknown).rejects.toMatchObject({ code: 3 });
  });

  it('STATUS is not-available (50) without a subnet file; ADD is try-again-later (11)', async () => {
    rmSync(path.join(dir, 'subnet.env'));
    const plugin = new CnikitPlugin(kernels);
    await expect(plugin.status(conf())).rejects.toMatchObject({ code: 50 });
    await expect(plugin.add(invocation('ADD', 'c1', 'pod1'), conf())).rejects.toMatchObject({ code: 11, message: expect.stringMatching(/agent is not ready/) });
  });
});
