import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { LeaseEvent } from '../../../lib/dataplane/flannel/lease';
import { OutageLog } from '../../../lib/dataplane/datastore/outage';
import { KubeLeaseManager, KubeLeaseManagerOptions } from '../../../lib/dataplane/flannel/lease-kube';
import { parseNetConfig } from '../../../lib/dataplane/flannel/net-config';
import { waitFor } from '../datastore/helpers';
import { FakeKubeApi, FakeObject, startFakeKubeApi } from '../../support/fake-kube-api';

const P = 'flannel.alpha.coreos.com';
const netConfig = parseNetConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');

function node(name: string, podCIDRs: string[] | undefined, annotations: Record<string, string> = {}): FakeObject {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name }, annotations },
    spec: podCIDRs ? { podCIDR: podCIDRs[0], podCIDRs } : {},
    status: {
      conditions: [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' },
        { type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated', message: 'Node created without a route' },
      ],
      addresses: [{ type: 'InternalIP', address: '192.168.1.10' }],
    },
  };
}

const annotationsOf = (api: FakeKubeApi, name: string) => (api.get('nodes', name)!.metadata!.annotations ?? {}) as Record<string, string>;
const attrs = (ip: string, mac = '0a:58:0a:f4:01:01') => ({ publicIp: ip, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: mac } });

describe('Kubernetes-mode subnet leases against an API server speaking the real shapes', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  const managers: KubeLeaseManager[] = [];

  const manager = (nodeName: string, options: Partial<KubeLeaseManagerOptions> = {}): KubeLeaseManager => {
    const m = new KubeLeaseManager({ client, nodeName, netConfig, nodePollIntervalMs: 20, nodeWaitTimeoutMs: 2000, retryDelayMs: 50, ...options });
    managers.push(m);
    return m;
  };

  beforeEach(async () => {
    api = await startFakeKubeApi();
    client = new KubeClient({ server: api.url });
  });

  afterEach(async () => {
    await Promise.all(managers.splice(0).map((m) => m.close()));
    client.close();
    await api.close();
  });

  test('the lease is the node\'s podCIDR; annotations are patched through nodes/status, once', async () => {
    api.upsert('nodes', node('n1', ['10.244.1.0/24']));
    const lease = await manager('n1').acquireLease(attrs('192.168.1.10'));
    expect(lease.key).toBe('n1');
    expect(lease.subnet!.toString()).toBe('10.244.1.0/24');
    expect(lease.expiration).toBeUndefined();

    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches).toHaveLength(1);
    expect(patches[0].path).toBe('/api/v1/nodes/n1/status');
    expect(patches[0].contentType).toBe('application/strategic-merge-patch+json');
    expect(api.get('nodes', 'n1')!.metadata!.annotations).toEqual({
      [`${P}/kube-subnet-manager`]: 'true',
      [`${P}/backend-type`]: 'vxlan',
      [`${P}/backend-data`]: '{"VNI":1,"VtepMAC":"0a:58:0a:f4:01:01"}',
      [`${P}/public-ip`]: '192.168.1.10',
    });

    // A restart with the same attributes changes nothing: no second patch.
    await manager('n1').acquireLease(attrs('192.168.1.10'));
    expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
  });

  test('the previous lease carries the stored backend data (a stable VTEP MAC across restarts)', async () => {
    api.upsert('nodes', node('n1', ['10.244.1.0/24'], {
      [`${P}/kube-subnet-manager`]: 'true', [`${P}/backend-type`]: 'vxlan',
      [`${P}/backend-data`]: '{"VNI":1,"VtepMAC":"0a:58:0a:f4:01:99"}', [`${P}/public-ip`]: '192.168.1.10',
    }));
    const previous = await manager('n1').previousLease();
    expect(previous!.attrs.backendData).toEqual({ VNI: 1, VtepMAC: '0a:58:0a:f4:01:99' });
  });

  test('public-ip-overwrite is advertised instead of the detected address; node-public-ip is exposed', async () => {
    api.upsert('nodes', node('n1', ['10.244.1.0/24'], { [`${P}/public-ip-overwrite`]: '203.0.113.7', [`${P}/node-public-ip`]: '192.168.1.77' }));
    const m = manager('n1');
    expect(await m.nodePublicIps()).toEqual({ publicIp: '192.168.1.77' });
    const lease = await m.acquireLease(attrs('192.168.1.10'));
    expect(lease.attrs.publicIp).toBe('203.0.113.7');
    expect(annotationsOf(api, 'n1')[`${P}/public-ip`]).toBe('203.0.113.7');
  });

  test('a custom annotation prefix is used for every key', async () => {
    api.upsert('nodes', node('n1', ['10.244.1.0/24']));
    await manager('n1', { annotationPrefix: 'cnikit.example.com' }).acquireLease(attrs('192.168.1.10'));
    expect(Object.keys(api.get('nodes', 'n1')!.metadata!.annotations as object).every((k) => k.startsWith('cnikit.example.com/'))).toBe(true);
  });

  test('completeLease sets NetworkUnavailable=False and keeps the other conditions', async () => {
    api.upsert('nodes', node('n1', ['10.244.1.0/24']));
    const m = manager('n1');
    await m.completeLease(await m.acquireLease(attrs('192.168.1.10')));
    const conditions = (api.get('nodes', 'n1')!.status as { conditions: { type: string; status: string; reason: string }[] }).conditions;
    expect(conditions).toHaveLength(2);
    expect(conditions.find((c) => c.type === 'Ready')!.status).toBe('True');
    expect(conditions.find((c) => c.type === 'NetworkUnavailable')).toMatchObject({ status: 'False', reason: 'CnikitIsUp' });
  });

  test('"pod cidr not assigned" when the node has no podCIDR; a podCIDR outside Network is refused', async () => {
    api.upsert('nodes', node('n1', undefined));
    await expect(manager('n1').acquireLease(attrs('192.168.1.10'))).rejects.toThrow('node "n1" pod cidr not assigned');
    api.upsert('nodes', node('n2', ['10.99.1.0/24']));
    await expect(manager('n2').acquireLease(attrs('192.168.1.11')))
      .rejects.toThrow('subnet "10.244.0.0/16" specified in the flannel net config doesn\'t contain "10.99.1.0/24" PodCIDR of the "n2" node');
    await expect(manager('ghost', { nodeWaitTimeoutMs: 100 }).acquireLease(attrs('192.168.1.12'))).rejects.toThrow('node "ghost" not found');
  });

  test('dual-stack: first IPv4 and first IPv6 podCIDR, v6 annotations', async () => {
    const dual = parseNetConfig('{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56"}');
    api.upsert('nodes', node('n1', ['10.244.1.0/24', 'fd00:10:244:1::/64']));
    const lease = await manager('n1', { netConfig: dual }).acquireLease({ ...attrs('192.168.1.10'), publicIpv6: 'fd00::10', backendV6Data: { VNI: 1, VtepMAC: '0a:58:0a:f4:01:02' } });
    expect(lease.ipv6Subnet!.toString()).toBe('fd00:10:244:1::/64');
    expect(api.get('nodes', 'n1')!.metadata!.annotations).toMatchObject({ [`${P}/public-ipv6`]: 'fd00::10', [`${P}/backend-v6-data`]: '{"VNI":1,"VtepMAC":"0a:58:0a:f4:01:02"}' });
    api.upsert('nodes', node('n3', ['10.244.3.0/24', 'fd00::/64', '10.244.4.0/24']));
    await expect(manager('n3', { netConfig: dual }).acquireLease(attrs('192.168.1.13'))).rejects.toThrow('pod cidrs should be IPv4/IPv6 only or dualstack');
  });

  test('peers: added, changed, deleted; nodes without kube-subnet-manager=true are ignored', async () => {
    api.upsert('nodes', node('n1', ['10.244.1.0/24']));
    api.upsert('nodes', node('plain', ['10.244.9.0/24'])); // no flannel annotations
    const m = manager('n1');
    await m.acquireLease(attrs('192.168.1.10'));
    const events: LeaseEvent[] = [];
    const watch = m.watchLeases((batch) => events.push(...batch));
    await waitFor(() => events.length >= 1, 'the initial snapshot');
    expect(events.map((e) => `${e.type} ${e.lease.key}`)).toEqual(['added n1']);

    // Another agent starts on n2.
    api.upsert('nodes', node('n2', ['10.244.2.0/24']));
    await manager('n2').acquireLease(attrs('192.168.1.20', '0a:58:0a:f4:02:02'));
    const added = await waitFor(() => events.find((e) => e.type === 'added' && e.lease.key === 'n2'), 'n2 to be added');
    expect(added.lease.subnet!.toString()).toBe('10.244.2.0/24');
    expect(added.lease.attrs).toEqual({ publicIp: '192.168.1.20', backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: '0a:58:0a:f4:02:02' }, backendV6Data: undefined, publicIpv6: undefined });

    // A heartbeat-like status change is not a lease change; a new VTEP MAC is.
    const before = events.length;
    const n2 = api.get('nodes', 'n2')!;
    api.upsert('nodes', { ...n2, status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] } });
    await manager('n2').acquireLease(attrs('192.168.1.20', '0a:58:0a:f4:02:03'));
    const changed = await waitFor(() => events.slice(before).find((e) => e.lease.key === 'n2'), 'the n2 change');
    expect(changed.type).toBe('added');
    expect(changed.lease.attrs.backendData).toEqual({ VNI: 1, VtepMAC: '0a:58:0a:f4:02:03' });
    expect(events.slice(before)).toHaveLength(1);

    api.remove('nodes', 'n2');
    await waitFor(() => events.find((e) => e.type === 'removed' && e.lease.key === 'n2'), 'n2 to be removed');
    api.remove('nodes', 'plain');
    expect(events.some((e) => e.lease.key === 'plain')).toBe(false);
    await watch.stop();
  });

  test('a peer whose podCIDR is outside the Network is refused once; a later corrupt version keeps its last good lease', async () => {
    const flannel = (ip: string, extra: Record<string, string> = {}) => ({
      [`${P}/kube-subnet-manager`]: 'true', [`${P}/backend-type`]: 'vxlan', [`${P}/public-ip`]: ip,
      [`${P}/backend-data`]: '{"VNI":1,"VtepMAC":"0a:58:0a:f4:03:03"}', ...extra,
    });
    api.upsert('nodes', node('n1', ['10.244.1.0/24']));
    api.upsert('nodes', node('outside', ['192.168.5.0/24'], flannel('192.168.1.30')));
    api.upsert('nodes', node('n3', ['10.244.3.0/24'], flannel('192.168.1.40')));
    const m = manager('n1');
    await m.acquireLease(attrs('192.168.1.10'));
    const events: LeaseEvent[] = [];
    const refused: string[] = [];
    const watch = m.watchLeases((batch) => events.push(...batch), { onRefused: (reason) => refused.push(reason) });
    await waitFor(() => events.length >= 2, 'the initial snapshot');
    expect(events.map((e) => `${e.type} ${e.lease.key}`).sort()).toEqual(['added n1', 'added n3']);
    expect(refused).toEqual(['node "outside": subnet "192.168.5.0/24" is not valid; expected a /24 inside Network 10.244.0.0/16']);

    // n3's backend data becomes garbage: refused once, n3 keeps its last good lease (no removal).
    api.upsert('nodes', node('n3', ['10.244.3.0/24'], flannel('192.168.1.40', { [`${P}/backend-data`]: '{oops' })));
    await waitFor(() => refused.length === 2, 'the corrupt annotation to be refused');
    expect(refused[1]).toBe('node "n3": metadata.annotations["flannel.alpha.coreos.com/backend-data"] "{oops" is not valid; expected JSON');
    expect(events.some((e) => e.type === 'removed')).toBe(false);
    await watch.stop();
  });

  test('the node watch resumes after a dropped stream and relists after 410 Gone without losing changes', async () => {
    api.upsert('nodes', node('n1', ['10.244.1.0/24']));
    const m = manager('n1');
    await m.acquireLease(attrs('192.168.1.10'));
    const events: LeaseEvent[] = [];
    m.watchLeases((batch) => events.push(...batch));
    await waitFor(() => events.length >= 1 && api.openWatches() === 1, 'the watch to be open');

    api.dropWatches();
    api.upsert('nodes', node('n2', ['10.244.2.0/24'], { [`${P}/kube-subnet-manager`]: 'true', [`${P}/public-ip`]: '192.168.1.20', [`${P}/backend-type`]: 'host-gw' }));
    await waitFor(() => events.find((e) => e.lease.key === 'n2'), 'n2 after the reconnect');

    // History lost while disconnected: the informer relists and reports only the difference.
    api.dropWatches();
    api.compact();
    api.remove('nodes', 'n2');
    api.compact();
    api.upsert('nodes', node('n3', ['10.244.3.0/24'], { [`${P}/kube-subnet-manager`]: 'true', [`${P}/public-ip`]: '192.168.1.30', [`${P}/backend-type`]: 'host-gw' }));
    api.compact();
    await waitFor(() => events.find((e) => e.type === 'removed' && e.lease.key === 'n2') && events.find((e) => e.lease.key === 'n3'), 'the relisted difference');
    expect(events.filter((e) => e.lease.key === 'n1')).toHaveLength(1);
    const lists = api.requests.filter((r) => r.method === 'GET' && r.path === '/api/v1/nodes' && r.query.watch === undefined);
    expect(lists).toHaveLength(2); // the first list and the relist after 410
  });

  test('the API server away: one lost line however many retries, one regained line when the watch is back', async () => {
    const lines: string[] = [];
    const outage = new OutageLog({ warn: (msg) => lines.push(`warn ${msg}`), info: (msg) => lines.push(`info ${msg}`) });
    api.upsert('nodes', node('n1', ['10.244.1.0/24']));
    const m = manager('n1', { outage });
    await m.acquireLease(attrs('192.168.1.10'));
    const events: LeaseEvent[] = [];
    const errors: Error[] = [];
    m.watchLeases((batch) => events.push(...batch), { onError: (e) => errors.push(e) });
    await waitFor(() => events.length >= 1 && api.openWatches() === 1, 'the watch to be open');

    api.failNext(6);
    api.dropWatches();
    await waitFor(() => errors.length >= 6, 'six failed reconnects');
    api.upsert('nodes', node('n2', ['10.244.2.0/24'], { [`${P}/kube-subnet-manager`]: 'true', [`${P}/public-ip`]: '192.168.1.20', [`${P}/backend-type`]: 'host-gw' }));
    await waitFor(() => events.find((e) => e.lease.key === 'n2'), 'n2 after the API server is back');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^warn datastore lost: /);
    expect(lines[1]).toMatch(/^info datastore regained after \d/);
  });

  test('keepLease reports the lease revoked when this node is deleted', async () => {
    api.upsert('nodes', node('n1', ['10.244.1.0/24']));
    const m = manager('n1');
    const lease = await m.acquireLease(attrs('192.168.1.10'));
    let revoked = false;
    m.keepLease(lease, { onRevoked: () => (revoked = true) });
    api.remove('nodes', 'n1');
    await waitFor(() => revoked, 'the revocation');
  });
});
