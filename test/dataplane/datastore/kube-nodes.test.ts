import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { markNetworkAvailable, patchNodeAnnotations } from '../../../lib/dataplane/datastore/kube/nodes';
import { nodesApi } from '../../../lib/dataplane/datastore/kube/resource';
import { startFakeKubeApi } from '../../support/fake-kube-api';

test('node writes go through nodes/status and only when something differs', async () => {
  const api = await startFakeKubeApi();
  const client = new KubeClient({ server: api.url });
  const nodes = nodesApi(client);
  try {
    api.upsert('nodes', { metadata: { name: 'n1', annotations: { keep: 'me', drop: 'x' } }, spec: { podCIDRs: ['10.244.1.0/24'] } });
    const patched = await patchNodeAnnotations(nodes, (await nodes.get('n1'))!, { add: 'y', drop: null, keep: 'me' });
    expect(patched!.metadata.annotations).toEqual({ keep: 'me', add: 'y' });
    expect(await patchNodeAnnotations(nodes, patched!, { add: 'y', drop: null })).toBeUndefined();

    expect(await markNetworkAvailable(nodes, (await nodes.get('n1'))!, 'CalicoIsUp', 'Calico is running on this node')).toBe(true);
    const node = (await nodes.get('n1'))!;
    expect(node.status!.conditions).toEqual([expect.objectContaining({ type: 'NetworkUnavailable', status: 'False', reason: 'CalicoIsUp' })]);
    expect(node.spec!.podCIDRs).toEqual(['10.244.1.0/24']);
    expect(await markNetworkAvailable(nodes, node, 'CalicoIsUp', 'again')).toBe(false);

    const patches = api.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.path)).toEqual(['/api/v1/nodes/n1/status', '/api/v1/nodes/n1/status']);
  } finally {
    client.close();
    await api.close();
  }
});
