import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { Informer } from '../../../lib/dataplane/datastore/kube/informer';
import { calicoResourceApi } from '../../../lib/dataplane/datastore/kube/resource';
import { CustomResource } from '../../../lib/dataplane/datastore/kube/types';
import { startFakeKubeApi } from '../../support/fake-kube-api';

test('an informer over a namespaced kind keeps same-named objects of different namespaces apart', async () => {
  const api = await startFakeKubeApi();
  api.defineResource({ group: 'crd.projectcalico.org', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true });
  api.upsert('networkpolicies', { metadata: { name: 'allow-web' }, spec: { order: 1 } }, 'shop');
  api.upsert('networkpolicies', { metadata: { name: 'allow-web' }, spec: { order: 2 } }, 'blog');
  const client = new KubeClient({ server: api.url });
  const deleted: string[] = [];
  const informer = new Informer<CustomResource>({
    api: calicoResourceApi(client, 'networkpolicies'),
    onEvents: (events) => events.filter((e) => e.type === 'deleted').forEach((e) => deleted.push(`${e.object.metadata.namespace}/${e.object.metadata.name}`)),
    retryDelayMs: 50,
  });
  try {
    await informer.start();
    expect(informer.list()).toHaveLength(2);
    expect(informer.get('allow-web', 'shop')?.spec).toEqual({ order: 1 });
    expect(informer.get('allow-web', 'blog')?.spec).toEqual({ order: 2 });

    api.remove('networkpolicies', 'allow-web', 'shop');
    for (let i = 0; i < 100 && deleted.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(deleted).toEqual(['shop/allow-web']);
    expect(informer.get('allow-web', 'blog')?.spec).toEqual({ order: 2 });
  } finally {
    informer.stop();
    client.close();
    await api.close();
  }
});
