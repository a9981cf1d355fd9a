import { CALICO_NODE_ANNOTATIONS, KubeNodeRegistry } from '../../../lib/dataplane/calico/node-registry';
import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { FakeKubeApi, startFakeKubeApi } from '../../support/fake-kube-api';

describe('Kubernetes node registry (API server double)', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  beforeAll(async () => {
    api = await startFakeKubeApi();
    client = new KubeClient({ server: api.url });
    api.upsert('nodes', { metadata: { name: 'node-a' } });
    api.upsert('nodes', { metadata: { name: 'node-b', annotations: { [CALICO_NODE_ANNOTATIONS.ipv4Address]: '10.0.0.3/24' } } });
  });
  afterAll(async () => {
    client?.close();
    await api?.close();
  });

  test('registers through nodes/status annotations, lists peers, watches changes; a second identical register writes nothing', async () => {
    const registry = new KubeNodeRegistry(client, new KubeCrdStore({ client, retryDelayMs: 50 }));
    await registry.register({ name: 'node-a', spec: { bgp: { ipv4Address: '10.0.0.2/24' }, ipv4VXLANTunnelAddr: '10.244.0.0', vxlanTunnelMACAddr: '66:00:00:00:00:01' } });
    const patch = api.requests.find((r) => r.method === 'PATCH');
    expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(2);
    expect(patch?.path).toBe('/api/v1/nodes/node-a/status');
    expect(api.get('nodes', 'node-a')?.metadata?.annotations).toEqual({
      'projectcalico.org/IPv4Address': '10.0.0.2/24', 'projectcalico.org/IPv4VXLANTunnelAddr': '10.244.0.0', 'projectcalico.org/VXLANTunnelMACAddr': '66:00:00:00:00:01',
    });
    expect((api.get('nodes', 'node-a') as { status?: { conditions?: unknown[] } }).status?.conditions).toContainEqual(
      expect.objectContaining({ type: 'NetworkUnavailable', status: 'False', reason: 'CalicoIsUp' }));
    const patches = api.requests.filter((r) => r.method === 'PATCH').length;
    await registry.register({ name: 'node-a', spec: { bgp: { ipv4Address: '10.0.0.2/24' }, ipv4VXLANTunnelAddr: '10.244.0.0', vxlanTunnelMACAddr: '66:00:00:00:00:01' } });
    expect(api.requests.filter((r) => r.method === 'PATCH').length).toBe(patches);
    expect((await registry.list()).find((n) => n.name === 'node-b')).toEqual({ name: 'node-b', spec: { bgp: { ipv4Address: '10.0.0.3/24' } } });

    let changes = 0;
    const watch = registry.watch(() => changes++);
    await new Promise((r) => setTimeout(r, 200));
    const before = changes;
    api.upsert('nodes', { metadata: { name: 'node-c' } });
    for (let i = 0; i < 50 && changes === before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(changes).toBeGreaterThan(before);
    await watch.close();
    await expect(registry.register({ name: 'nope', spec: {} })).rejects.toThrow('node "nope" does not exist');
  });

  test('IPv6 VXLAN: the IPv6 VTEP goes to and comes from Calico\'s annotations; dropped from the spec, they are removed', async () => {
    const registry = new KubeNodeRegistry(client, new KubeCrdStore({ client, retryDelayMs: 50 }));
    api.upsert('nodes', { metadata: { name: 'node-6' } });
    const spec = {
      bgp: { ipv4Address: '10.0.0.6/24', ipv6Address: 'fd00:99::6/64' }, ipv4VXLANTunnelAddr: '10.244.0.128', vxlanTunnelMACAddr: '66:00:00:00:00:06',
      ipv6VXLANTunnelAddr: 'fd00:10:244::80', vxlanTunnelMACAddrV6: '66:00:00:00:06:06',
    };
    await registry.register({ name: 'node-6', spec });
    expect(api.get('nodes', 'node-6')?.metadata?.annotations).toMatchObject({
      'projectcalico.org/IPv6Address': 'fd00:99::6/64', 'projectcalico.org/IPv6VXLANTunnelAddr': 'fd00:10:244::80', 'projectcalico.org/VXLANTunnelMACAddrV6': '66:00:00:00:06:06',
    });
    let listed;
    for (let i = 0; i < 100; i++) {
      listed = (await registry.list()).find((n) => n.name === 'node-6');
      if (listed?.spec.ipv6VXLANTunnelAddr) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(listed).toEqual({ name: 'node-6', spec });
    await registry.register({ name: 'node-6', spec: { bgp: spec.bgp, ipv4VXLANTunnelAddr: spec.ipv4VXLANTunnelAddr, vxlanTunnelMACAddr: spec.vxlanTunnelMACAddr } });
    const annotations = api.get('nodes', 'node-6')?.metadata?.annotations ?? {};
    expect(Object.keys(annotations).filter((k) => k.includes('V6'))).toEqual([]);
  });
});
