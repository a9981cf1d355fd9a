import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { KUBE_NODES_PREFIX, KUBE_NODES_VIEW, nodeFromDocument } from '../../../lib/dataplane/datastore/kube/node-view';
import { KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { WatchEvent } from '../../../lib/dataplane/datastore/types';
import { WatchCache, storeFeed } from '../../../lib/dataplane/datastore/watch-cache';
import { FakeObject, startFakeKubeApi } from '../../support/fake-kube-api';
import { waitFor } from './helpers';

const node = (heartbeat: string, networkUnavailable: 'True' | 'False', annotations: Record<string, string> = {}): FakeObject => ({
  metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' }, annotations },
  spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'], providerID: 'lab://n1' },
  status: {
    conditions: [
      { type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: heartbeat },
      { type: 'NetworkUnavailable', status: networkUnavailable, reason: 'NoRouteCreated' },
    ],
    addresses: [{ type: 'InternalIP', address: '192.168.1.10' }],
    nodeInfo: { kubeletVersion: 'v1.28.15' },
  },
});

test('the node view keeps what a flannel-style agent reads; a kubelet heartbeat is not announced, an annotation is', async () => {
  const api = await startFakeKubeApi();
  api.upsert('nodes', node('2026-12-07T08:00:00Z', 'True'));
  const client = new KubeClient({ server: api.url });
  const store = new KubeCrdStore({ client, kinds: {}, views: [KUBE_NODES_VIEW], retryDelayMs: 20 });
  const cache = new WatchCache(storeFeed(store, 20), [KUBE_NODES_PREFIX]);
  const events: WatchEvent[] = [];
  cache.watch(KUBE_NODES_PREFIX, (event) => events.push(event));
  try {
    await cache.start();
    expect(nodeFromDocument(cache.get('kubenodes/n1')!.value)).toEqual({
      metadata: { name: 'n1', labels: { 'kubernetes.io/hostname': 'n1' }, annotations: {} },
      spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'] },
      status: { conditions: [{ type: 'NetworkUnavailable', status: 'True', reason: 'NoRouteCreated' }] },
    });

    api.upsert('nodes', node('2026-12-07T08:05:00Z', 'True'));
    api.upsert('nodes', node('2026-12-07T08:10:00Z', 'True', { 'flannel.alpha.coreos.com/public-ip': '192.168.1.10' }));
    await waitFor(() => nodeFromDocument(cache.get('kubenodes/n1')!.value).metadata.annotations?.['flannel.alpha.coreos.com/public-ip'], 'the annotated node in the cache');
    // Two writes, one announcement: the heartbeat-only one changed nothing the view keeps.
    expect(events.map((e) => e.type)).toEqual(['reset', 'put']);
    await expect(store.put('kubenodes/n1', '{}')).rejects.toThrow(/read-only view of nodes/);
  } finally {
    await cache.stop();
    client.close();
    await api.close();
  }
});
