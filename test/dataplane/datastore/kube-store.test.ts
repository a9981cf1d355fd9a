import { UnsupportedOperationError } from '../../../lib/dataplane/datastore/errors';
import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { WatchEvent } from '../../../lib/dataplane/datastore/types';
import { FakeKubeApi, startFakeKubeApi } from '../../support/fake-kube-api';
import { describeKeyValueStoreContract } from './contract';
import { waitFor } from './helpers';

const CALICO = [
  { group: 'crd.projectcalico.org', version: 'v1', plural: 'ipamblocks', kind: 'IPAMBlock' },
  { group: 'crd.projectcalico.org', version: 'v1', plural: 'blockaffinities', kind: 'BlockAffinity' },
];

async function start(): Promise<{ api: FakeKubeApi; client: KubeClient; store: KubeCrdStore }> {
  const api = await startFakeKubeApi();
  CALICO.forEach((r) => api.defineResource(r));
  const client = new KubeClient({ server: api.url });
  return { api, client, store: new KubeCrdStore({ client, retryDelayMs: 50 }) };
}

describeKeyValueStoreContract('Kubernetes custom resources (API server double)', async () => {
  const { api, client, store } = await start();
  return {
    store,
    teardown: async () => {
      await store.close();
      client.close();
      await api.close();
    },
  };
});

describe('KubeCrdStore specifics', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  let store: KubeCrdStore;
  beforeEach(async () => ({ api, client, store } = await start()));
  afterEach(async () => {
    await store.close();
    client.close();
    await api.close();
  });

  test('values are the spec of crd.projectcalico.org/v1 objects; CAS uses metadata.resourceVersion', async () => {
    const kv = await store.create('ipamblocks/10-0-0-0-26', JSON.stringify({ cidr: '10.0.0.0/26', affinity: 'host:n1' }));
    expect(api.get('ipamblocks', '10-0-0-0-26')).toMatchObject({
      apiVersion: 'crd.projectcalico.org/v1', kind: 'IPAMBlock',
      metadata: { name: '10-0-0-0-26', resourceVersion: kv.revision }, spec: { cidr: '10.0.0.0/26', affinity: 'host:n1' },
    });
    await store.update(kv.key, JSON.stringify({ cidr: '10.0.0.0/26', affinity: 'host:n2' }), kv.revision);
    const put = api.requests.find((r) => r.method === 'PUT')!;
    expect(put.path).toBe('/apis/crd.projectcalico.org/v1/ipamblocks/10-0-0-0-26');
    expect(put.body).toMatchObject({ metadata: { resourceVersion: kv.revision } });
  });

  test('a TTL is refused with a clear error; bad keys and values are named', async () => {
    await expect(store.put('ipamblocks/a', '{}', { ttlSeconds: 5 })).rejects.toBeInstanceOf(UnsupportedOperationError);
    await expect(store.get('pods/a')).rejects.toThrow(/does not start with a known resource/);
    await expect(store.get('ipamblocks/10.0.0.0/26')).rejects.toThrow(/DNS-subdomain name/);
    await expect(store.create('ipamblocks/a', '[1]')).rejects.toThrow(/must be a JSON object/);
  });

  test('a watch whose resourceVersion is too old (410 Gone) relists and reports a reset', async () => {
    await store.put('ipamblocks/a', '{"n":1}');
    const old = await store.list('ipamblocks/');
    await store.put('ipamblocks/b', '{"n":2}');
    api.compact();
    const events: WatchEvent[] = [];
    const watch = store.watch('ipamblocks/', (e) => events.push(e), { fromRevision: old.revision });
    const reset = await waitFor(() => events.find((e) => e.type === 'reset'), 'a reset');
    expect(reset.type === 'reset' && reset.items.map((kv) => kv.key)).toEqual(['ipamblocks/a', 'ipamblocks/b']);
    await store.put('ipamblocks/c', '{"n":3}');
    await waitFor(() => events.find((e) => e.type === 'put' && e.kv.key === 'ipamblocks/c'), 'the put after the reset');
    await watch.close();
  });

  test('a dropped watch stream resumes from the last resourceVersion without losing events', async () => {
    const list = await store.list('ipamblocks/');
    const keys: string[] = [];
    const watch = store.watch('ipamblocks/', (e) => e.type === 'put' && keys.push(e.kv.key), { fromRevision: list.revision });
    await store.put('ipamblocks/a', '{}');
    await waitFor(() => keys.length === 1, 'the first event');
    api.dropWatches();
    await store.put('ipamblocks/b', '{}');
    await waitFor(() => keys.length === 2, 'the event written while disconnected');
    expect(keys).toEqual(['ipamblocks/a', 'ipamblocks/b']);
    await watch.close();
  });
});
