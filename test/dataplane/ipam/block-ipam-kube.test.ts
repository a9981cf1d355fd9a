import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { CALICO_KINDS, KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { BlockIpam } from '../../../lib/dataplane/ipam/block-ipam';
import { FakeKubeApi, startFakeKubeApi } from '../../support/fake-kube-api';

/** Kubernetes mode: the same IPAM through crd.projectcalico.org/v1 objects (PUT with resourceVersion = CAS). */
describe('block IPAM through the Calico CRDs (API server double)', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  let store: KubeCrdStore;

  beforeAll(async () => {
    api = await startFakeKubeApi();
    for (const [plural, kind] of Object.entries(CALICO_KINDS)) api.defineResource({ group: 'crd.projectcalico.org', version: 'v1', plural, kind });
    client = new KubeClient({ server: api.url });
    store = new KubeCrdStore({ client });
    api.upsert('ippools', { metadata: { name: 'default-ipv4-ippool' }, spec: { cidr: '10.80.0.0/16', blockSize: 26 } });
  });
  afterAll(async () => {
    await store?.close();
    client?.close();
    await api?.close();
  });

  test('30 concurrent assignments over 2 nodes: distinct, recorded as IPAMBlock/BlockAffinity/IPAMHandle objects', async () => {
    const ipams = [new BlockIpam(store), new BlockIpam(store)];
    const got = await Promise.all(Array.from({ length: 30 }, (_, i) => ipams[i % 2].autoAssign({
      node: `node-${i % 2}`, handleId: `k8s-pod-network.c${i}`, family: 4, attributes: { node: `node-${i % 2}` },
    })));
    expect(new Set(got.flat()).size).toBe(30);
    const blocks = (await ipams[0].blocks());
    expect(blocks).toHaveLength(2);
    const block = blocks[0];
    const stored = api.get('ipamblocks', block.cidr.replace(/[./]/g, '-')) as { spec: { affinity: string; allocations: unknown[] } };
    expect(stored.spec.affinity).toBe(block.affinity);
    expect(stored.spec.allocations).toHaveLength(64);
    const affinity = api.get('blockaffinities', `${block.affinity!.slice(5)}-${block.cidr.replace(/[./]/g, '-')}`) as { spec: { state: string } };
    expect(affinity.spec.state).toBe('confirmed');
    expect(api.get('ipamhandles', 'k8s-pod-network.c7')).toMatchObject({ spec: { handleID: 'k8s-pod-network.c7' } });
    expect(await ipams[1].releaseByHandle('k8s-pod-network.c7')).toEqual(got[7]);
    expect(api.get('ipamhandles', 'k8s-pod-network.c7')).toBeUndefined();
  });

  test('an IPAMBlock object the CRD schema refuses (allocations "x") is neither allocated from nor rewritten', async () => {
    const ipam = new BlockIpam(store);
    const [first] = await ipam.autoAssign({ node: 'node-k', handleId: 'k8s-pod-network.k1', family: 4, attributes: { node: 'node-k' } });
    const [affinity] = await ipam.affinities('node-k');
    const name = affinity.spec.cidr.replace(/[./]/g, '-');
    const object = api.get('ipamblocks', name) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
    api.upsert('ipamblocks', { metadata: { name }, spec: { ...object.spec, allocations: 'x' } });
    const corrupt = JSON.stringify(api.get('ipamblocks', name));
    const [second] = await ipam.autoAssign({ node: 'node-k', handleId: 'k8s-pod-network.k2', family: 4, attributes: { node: 'node-k' } });
    expect(second).not.toBe(first);
    expect(second.startsWith('10.80.')).toBe(true);
    expect((await ipam.affinities('node-k')).length).toBe(2);
    expect(JSON.stringify(api.get('ipamblocks', name))).toBe(corrupt);
  });
});
