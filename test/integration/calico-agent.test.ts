import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CALICO_AGENT_OWNERSHIP, CalicoAgent } from '../../lib/dataplane/calico/agent';
import { linuxModuleProbe } from '../../lib/dataplane/calico/ipip';
import { KubeNodeRegistry, StoreNodeRegistry } from '../../lib/dataplane/calico/node-registry';
import { vtepMac } from '../../lib/dataplane/calico/routes';
import { EtcdStore } from '../../lib/dataplane/datastore';
import { LinuxKernel } from '../../lib/dataplane/kernel';
import { CALICO_ETCD_PREFIX, prefixedStore } from '../../lib/dataplane/ipam/calico-store';
import { emptyBlock } from '../../lib/dataplane/ipam/block-model';
import { Cidr } from '../../lib/model/cidr';
import { KubeClient } from '../../lib/dataplane/datastore/kube/client';
import { CALICO_KINDS, KubeCrdStore } from '../../lib/dataplane/datastore/kube/store';
import { EtcdServer, startEtcd } from '../support/etcd';
import { startFakeKubeApi } from '../support/fake-kube-api';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../support/netns';

const maybe = canCreateNetns() ? describe : describe.skip;
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The agent in-process against a namespace of our own and a real etcd. */
maybe('Calico-style agent (real kernel, real etcd)', () => {
  let etcd: EtcdServer;
  let client: EtcdStore;
  let node: string;
  let dir: string;

  beforeAll(async () => {
    etcd = await startEtcd();
    client = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-calico-agent-'));
    node = createNetns('agent');
    for (const cmd of [['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'veth-up'], ['ip', 'addr', 'add', '10.50.0.2/24', 'dev', 'eth0'],
      ['ip', 'link', 'set', 'eth0', 'up'], ['ip', 'link', 'set', 'veth-up', 'up']]) expect(execIn(node, cmd).stderr).toBe('');
  });
  afterAll(async () => {
    if (node) destroyNetns(node);
    await client?.close();
    await etcd?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const agentFor = (prefix: string, extra: Partial<ConstructorParameters<typeof CalicoAgent>[0]> = {}) => {
    const store = prefixedStore(client, prefix + CALICO_ETCD_PREFIX);
    return {
      store,
      agent: new CalicoAgent({
        node: 'node-a', store, registry: new StoreNodeRegistry(store), log: quiet,
        kernel: new LinuxKernel({ netns: node, ownership: CALICO_AGENT_OWNERSHIP }),
        stateDir: path.join(dir, prefix), health: { port: 0 }, resyncSeconds: 60,
        ...extra,
      }),
    };
  };

  test('start: default pool, tunnel address, registration, vxlan.calico, NAT table, health; stop keeps everything', async () => {
    const { store, agent } = agentFor('/a', { defaultPool: { cidr: '10.244.0.0/16', vxlanMode: 'Always', natOutgoing: true }, metrics: { port: 0, host: '127.0.0.1' } });
    const peer = { bgp: { ipv4Address: '10.50.0.3/24' }, ipv4VXLANTunnelAddr: '10.244.99.0', vxlanTunnelMACAddr: vtepMac('node-b') };
    await store.put('nodes/node-b', JSON.stringify(peer));
    await store.put('ipamblocks/10-244-99-0-26', JSON.stringify(emptyBlock(Cidr.parse('10.244.99.0/26', 'cidr'), 'node-b', false)));
    await agent.start();
    try {
      expect(agent.nodeAddress).toBe('10.50.0.2/24');
      const registered = JSON.parse((await store.get('nodes/node-a'))!.value);
      expect(registered).toEqual({ bgp: { ipv4Address: '10.50.0.2/24' }, ipv4VXLANTunnelAddr: agent.tunnelAddress, vxlanTunnelMACAddr: vtepMac('node-a') });
      expect(fs.readFileSync(path.join(dir, '/a', 'nodename'), 'utf8')).toBe('node-a');
      expect(fs.readFileSync(path.join(dir, '/a', 'mtu'), 'utf8').trim()).toBe('1450');

      const link = execIn(node, ['ip', '-d', 'link', 'show', 'vxlan.calico']).stdout;
      expect(link).toContain('vxlan id 4096');
      expect(link).toContain('dstport 4789');
      expect(link).toContain(vtepMac('node-a'));
      const routes = execIn(node, ['ip', 'route', 'show', 'proto', '80']).stdout;
      expect(routes).toContain('10.244.99.0/26 via 10.244.99.0 dev vxlan.calico onlink');
      expect(routes).toMatch(/blackhole 10\.244\.\d+\.\d+\/26/);
      expect(execIn(node, ['ip', 'neigh', 'show', 'dev', 'vxlan.calico']).stdout).toContain(vtepMac('node-b'));
      expect(execIn(node, ['bridge', 'fdb', 'show', 'dev', 'vxlan.calico']).stdout).toContain(`${vtepMac('node-b')} dst 10.50.0.3`);
      expect(execIn(node, ['nft', 'list', 'table', 'ip', 'cnikit-calico']).stdout).toContain('masquerade');

      const get = async (p: string) => {
        const r = await fetch(`http://127.0.0.1:${agent.healthPort}${p}`);
        return { status: r.status, body: await r.text() };
      };
      expect(await get('/readiness')).toEqual({ status: 200, body: 'ok\n' });
      expect((await get('/liveness')).status).toBe(200);
      // Metrics are served where FelixConfiguration (or the metrics option) says, not on the health port.
      expect((await get('/metrics')).status).toBe(404);
      expect(await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text()).toMatch(/cnikit_calico_routes 2/);

      // A peer that goes away loses its route on the next pass; a drifted route is repaired.
      execIn(node, ['ip', 'route', 'del', '10.244.99.0/26', 'proto', '80']);
      await agent.reconcileNow();
      expect(execIn(node, ['ip', 'route', 'show', 'proto', '80']).stdout).toContain('10.244.99.0/26 via 10.244.99.0');
    } finally {
      await agent.stop();
    }
    // Stopped: routes, device and NAT rules stay.
    expect(execIn(node, ['ip', 'route', 'show', 'proto', '80']).stdout).toContain('10.244.99.0/26');
    expect(execIn(node, ['ip', 'link', 'show', 'vxlan.calico']).code).toBe(0);

    // Restarted: the same tunnel address (its IPAM handle) and nothing to change.
    const again = agentFor('/a');
    await again.agent.start();
    try {
      expect(again.agent.tunnelAddress).toBe(agent.tunnelAddress);
      expect((await again.agent.metrics.changes.get()).values).toEqual([]);

      // The pool stops using VXLAN: device, tunnel address and registration follow; and back.
      const tunnel = again.agent.tunnelAddress;
      await store.put('ippools/default-ipv4-ippool', JSON.stringify({ cidr: '10.244.0.0/16', vxlanMode: 'Never', natOutgoing: true }));
      await again.agent.reconcileNow();
      expect(execIn(node, ['ip', 'link', 'show', 'vxlan.calico']).code).not.toBe(0);
      expect(await store.get('ipamhandles/vxlan-tunnel-addr-node-a')).toBeUndefined();
      expect(JSON.parse((await store.get('nodes/node-a'))!.value)).toEqual({ bgp: { ipv4Address: '10.50.0.2/24' } });
      await store.put('ippools/default-ipv4-ippool', JSON.stringify({ cidr: '10.244.0.0/16', vxlanMode: 'CrossSubnet', natOutgoing: true }));
      await again.agent.reconcileNow();
      expect(execIn(node, ['ip', '-d', 'link', 'show', 'vxlan.calico']).stdout).toContain('vxlan id 4096');
      expect(again.agent.tunnelAddress).toBeDefined();
      expect(again.agent.tunnelAddress).not.toBe(tunnel); // a freed address goes to the end of its block's free list

      // FelixConfiguration is followed while running: the VXLAN device takes the new VNI and port;
      // a bad value is refused and the one in force stays.
      const vxlan = () => execIn(node, ['ip', '-d', 'link', 'show', 'vxlan.calico']).stdout;
      const until = async (what: string, check: () => boolean) => {
        for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
        if (!check()) throw new Error(`timed out waiting for ${what}: ${vxlan()}`);
      };
      await store.put('felixconfigurations/default', JSON.stringify({ vxlanVNI: 4097, vxlanPort: 4790 }));
      await until('vxlan.calico to follow FelixConfiguration', () => /vxlan id 4097 .*dstport 4790/s.test(vxlan()));
      await store.put('felixconfigurations/default', JSON.stringify({ vxlanVNI: 4097, vxlanPort: 70000 }));
      await again.agent.reconcileNow();
      expect(again.agent.settings.vxlanPort).toBe(4790);
      expect(vxlan()).toContain('dstport 4790');
      await store.delete('felixconfigurations/default');
      await until('Felix defaults to return', () => /vxlan id 4096 .*dstport 4789/s.test(vxlan()));

      // NAT outgoing per family: an IPv6 pool with natOutgoing gets an ip6 table of its own.
      await store.put('ippools/v6', JSON.stringify({ cidr: 'fd00:10:244::/48', blockSize: 122, natOutgoing: true }));
      await again.agent.reconcileNow();
      expect(execIn(node, ['nft', 'list', 'table', 'ip6', 'cnikit-calico']).stdout).toMatch(/ip6 saddr fd00:10:244::\/48 .*masquerade/);
      await store.delete('ippools/v6');
      await again.agent.reconcileNow();
      expect(execIn(node, ['nft', 'list', 'table', 'ip6', 'cnikit-calico']).code).not.toBe(0);
    } finally {
      await again.agent.stop();
    }
  });

  test('dual-stack VXLAN: vxlan-v6.calico over the node\'s IPv6 address, IPv6 blocks via remote IPv6 VTEPs; it follows the IPv6 pool', async () => {
    const ns = createNetns('agent6');
    const { store, agent } = agentFor('/d', { autodetect6: 'first-found', kernel: new LinuxKernel({ netns: ns, ownership: CALICO_AGENT_OWNERSHIP }) });
    try {
      for (const cmd of [['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'veth-up'], ['ip', 'addr', 'add', '10.52.0.2/24', 'dev', 'eth0'],
        ['ip', 'addr', 'add', 'fd00:52::2/64', 'dev', 'eth0', 'nodad'], ['ip', 'link', 'set', 'eth0', 'up'], ['ip', 'link', 'set', 'veth-up', 'up']]) expect(execIn(ns, cmd).stderr).toBe('');
      await store.put('ippools/v4', JSON.stringify({ cidr: '10.247.0.0/16', vxlanMode: 'Always', natOutgoing: true }));
      await store.put('ippools/v6', JSON.stringify({ cidr: 'fd00:10:247::/48', blockSize: 122, vxlanMode: 'CrossSubnet' }));
      // node-b: another IPv6 subnet (CrossSubnet encapsulates), its IPv6 VTEP registered as Calico's Node spec has it.
      await store.put('nodes/node-b', JSON.stringify({
        bgp: { ipv4Address: '10.53.0.3/24', ipv6Address: 'fd00:53::3/64' }, ipv4VXLANTunnelAddr: '10.247.99.0', vxlanTunnelMACAddr: vtepMac('node-b'),
        ipv6VXLANTunnelAddr: 'fd00:10:247:99::', vxlanTunnelMACAddrV6: vtepMac('node-b', 6),
      }));
      await store.put('ipamblocks/fd00-10-247-99---122', JSON.stringify(emptyBlock(Cidr.parse('fd00:10:247:99::/122', 'cidr'), 'node-b', false)));
      await store.put('ipamblocks/10-247-99-0-26', JSON.stringify(emptyBlock(Cidr.parse('10.247.99.0/26', 'cidr'), 'node-b', false)));
      await agent.start();
      try {
        const tunnel6 = agent.tunnelAddress6;
        expect(tunnel6).toMatch(/^fd00:10:247:/);
        expect(JSON.parse((await store.get('nodes/node-a'))!.value)).toEqual({
          bgp: { ipv4Address: '10.52.0.2/24', ipv6Address: 'fd00:52::2/64' }, ipv4VXLANTunnelAddr: agent.tunnelAddress, vxlanTunnelMACAddr: vtepMac('node-a'),
          ipv6VXLANTunnelAddr: tunnel6, vxlanTunnelMACAddrV6: vtepMac('node-a', 6),
        });
        // Calico's handle and attribute type for the IPv6 VXLAN tunnel address.
        expect(await store.get('ipamhandles/vxlan-v6-tunnel-addr-node-a')).toBeDefined();
        // The pod MTU is the smaller of the two devices' (Felix's determinePodMTU).
        expect(fs.readFileSync(path.join(dir, '/d', 'mtu'), 'utf8').trim()).toBe('1430');

        const link = execIn(ns, ['ip', '-d', 'link', 'show', 'vxlan-v6.calico']).stdout;
        expect(link).toMatch(/mtu 1430 /);
        expect(link).toContain(vtepMac('node-a', 6));
        expect(link).toMatch(/vxlan id 4096 local fd00:52::2 dev eth0 .*dstport 4789/s);
        expect(execIn(ns, ['ip', '-6', 'addr', 'show', 'dev', 'vxlan-v6.calico']).stdout).toContain(`${tunnel6}/128`);
        const routes = execIn(ns, ['ip', '-6', 'route', 'show', 'proto', '80']).stdout;
        expect(routes).toContain('fd00:10:247:99::/122 via fd00:10:247:99:: dev vxlan-v6.calico metric 1024 onlink');
        expect(routes).toMatch(/blackhole fd00:10:247:[0-9a-f:]+\/122/);
        expect(execIn(ns, ['ip', '-6', 'neigh', 'show', 'dev', 'vxlan-v6.calico']).stdout).toContain(`fd00:10:247:99:: lladdr ${vtepMac('node-b', 6)} PERMANENT`);
        expect(execIn(ns, ['bridge', 'fdb', 'show', 'dev', 'vxlan-v6.calico']).stdout).toContain(`${vtepMac('node-b', 6)} dst fd00:53::3`);
        // IPv4 is untouched by it.
        expect(execIn(ns, ['ip', 'route', 'show', 'proto', '80']).stdout).toContain('10.247.99.0/26 via 10.247.99.0 dev vxlan.calico onlink');

        // Restarted, the agent finds everything right: the same IPv6 tunnel address, nothing to change.
        await agent.stop();
        const again = agentFor('/d', { autodetect6: 'first-found', kernel: new LinuxKernel({ netns: ns, ownership: CALICO_AGENT_OWNERSHIP }) }).agent;
        await again.start();
        try {
          expect(again.tunnelAddress6).toBe(tunnel6);
          expect((await again.metrics.changes.get()).values).toEqual([]);
        } finally {
          await again.stop();
        }
        await agent.start();

        // A peer moving into this IPv6 subnet is routed directly (CrossSubnet).
        await store.put('nodes/node-b', JSON.stringify({
          bgp: { ipv4Address: '10.53.0.3/24', ipv6Address: 'fd00:52::3/64' }, ipv4VXLANTunnelAddr: '10.247.99.0', vxlanTunnelMACAddr: vtepMac('node-b'),
          ipv6VXLANTunnelAddr: 'fd00:10:247:99::', vxlanTunnelMACAddrV6: vtepMac('node-b', 6),
        }));
        await agent.reconcileNow();
        expect(execIn(ns, ['ip', '-6', 'route', 'show', 'proto', '80']).stdout).toContain('fd00:10:247:99::/122 via fd00:52::3 dev eth0');
        expect(execIn(ns, ['bridge', 'fdb', 'show', 'dev', 'vxlan-v6.calico']).stdout).not.toContain(vtepMac('node-b', 6));

        // The IPv6 pool stops using VXLAN: device, IPv6 tunnel address and registration follow; vxlan.calico stays.
        await store.put('ippools/v6', JSON.stringify({ cidr: 'fd00:10:247::/48', blockSize: 122, vxlanMode: 'Never' }));
        await agent.reconcileNow();
        expect(execIn(ns, ['ip', 'link', 'show', 'vxlan-v6.calico']).code).not.toBe(0);
        expect(execIn(ns, ['ip', 'link', 'show', 'vxlan.calico']).code).toBe(0);
        expect(agent.tunnelAddress6).toBeUndefined();
        expect(await store.get('ipamhandles/vxlan-v6-tunnel-addr-node-a')).toBeUndefined();
        expect(JSON.parse((await store.get('nodes/node-a'))!.value)).not.toHaveProperty('ipv6VXLANTunnelAddr');
      } finally {
        await agent.stop();
      }
    } finally {
      destroyNetns(ns);
    }
  });

  test('Kubernetes mode: pools and blocks from the CRDs, peers and registration through Node annotations', async () => {
    const api = await startFakeKubeApi();
    const kube = new KubeClient({ server: api.url });
    const store = new KubeCrdStore({ client: kube, retryDelayMs: 50 });
    const ns = createNetns('kagent');
    try {
      for (const cmd of [['ip', 'link', 'add', 'ens5', 'type', 'veth', 'peer', 'name', 'veth-k'], ['ip', 'addr', 'add', '10.60.0.2/24', 'dev', 'ens5'],
        ['ip', 'link', 'set', 'ens5', 'up'], ['ip', 'link', 'set', 'veth-k', 'up']]) expect(execIn(ns, cmd).stderr).toBe('');
      for (const [plural, kind] of Object.entries(CALICO_KINDS)) api.defineResource({ group: 'crd.projectcalico.org', version: 'v1', plural, kind });
      api.upsert('nodes', { metadata: { name: 'node-k' } });
      api.upsert('nodes', { metadata: { name: 'node-p', annotations: {
        'projectcalico.org/IPv4Address': '10.61.0.7/24', 'projectcalico.org/IPv4VXLANTunnelAddr': '10.246.9.0', 'projectcalico.org/VXLANTunnelMACAddr': vtepMac('node-p'),
      } } });
      api.upsert('ippools', { metadata: { name: 'default-ipv4-ippool' }, spec: { cidr: '10.246.0.0/16', vxlanMode: 'CrossSubnet', natOutgoing: true } });
      api.upsert('ipamblocks', { metadata: { name: '10-246-9-0-26' }, spec: JSON.parse(JSON.stringify(emptyBlock(Cidr.parse('10.246.9.0/26', 'cidr'), 'node-p', false))) });
      const agent = new CalicoAgent({
        node: 'node-k', store, registry: new KubeNodeRegistry(kube, store), log: quiet, stateDir: path.join(dir, 'kube'),
        kernel: new LinuxKernel({ netns: ns, ownership: CALICO_AGENT_OWNERSHIP }), resyncSeconds: 60,
      });
      await agent.start();
      try {
        // node-p is in another subnet: encapsulated towards its VTEP.
        expect(execIn(ns, ['ip', 'route', 'show', 'proto', '80']).stdout).toContain('10.246.9.0/26 via 10.246.9.0 dev vxlan.calico onlink');
        const me = api.get('nodes', 'node-k') as { metadata: { annotations: Record<string, string> }; status?: { conditions?: { type: string; status: string }[] } };
        expect(me.metadata.annotations['projectcalico.org/IPv4Address']).toBe('10.60.0.2/24');
        expect(me.metadata.annotations['projectcalico.org/IPv4VXLANTunnelAddr']).toBe(agent.tunnelAddress);
        expect(me.status?.conditions).toContainEqual(expect.objectContaining({ type: 'NetworkUnavailable', status: 'False' }));
        // The tunnel address came from a block claimed through the CRDs.
        const affinities = api.requests.filter((r) => r.method === 'POST' && r.path.includes('/blockaffinities'));
        expect(affinities.length).toBeGreaterThanOrEqual(1);
        // A peer moving into this subnet is routed directly after the watch fires.
        api.upsert('nodes', { metadata: { name: 'node-p', annotations: {
          'projectcalico.org/IPv4Address': '10.60.0.7/24', 'projectcalico.org/IPv4VXLANTunnelAddr': '10.246.9.0', 'projectcalico.org/VXLANTunnelMACAddr': vtepMac('node-p'),
        } } });
        let routes = '';
        for (let i = 0; i < 100 && !routes.includes('via 10.60.0.7 dev ens5'); i++) {
          await new Promise((r) => setTimeout(r, 50));
          routes = execIn(ns, ['ip', 'route', 'show', 'proto', '80']).stdout;
        }
        expect(routes).toContain('10.246.9.0/26 via 10.60.0.7 dev ens5');
      } finally {
        await agent.stop();
      }
    } finally {
      destroyNetns(ns);
      await store.close();
      kube.close();
      await api.close();
    }
  });

  test('an IPIP pool on a kernel without the ipip module: start-up refuses with one line', async () => {
    const { store, agent } = agentFor('/ipip', { ipipProbe: { loaded: linuxModuleProbe.loaded, load: async () => false } });
    await store.put('ippools/legacy', JSON.stringify({ cidr: '10.245.0.0/16', ipipMode: 'CrossSubnet' }));
    // The real check of /sys/module; modprobe is not run here (it could add tunl0 to the host's namespace).
    const error = await agent.start().catch((e: Error) => e);
    await agent.stop();
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('ippools/legacy.ipipMode: "CrossSubnet" is not usable on this node; expected "Never" because the kernel has no ipip module (modprobe ipip failed): use vxlanMode CrossSubnet instead');
    expect(linuxModuleProbe.loaded('ipip')).toBe(false);
  });
});
