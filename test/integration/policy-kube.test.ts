import { KubeClient } from '../../lib/dataplane/datastore/kube/client';
import { KubeCrdStore } from '../../lib/dataplane/datastore/kube/store';
import { WatchCache, cachedStore, storeFeed } from '../../lib/dataplane/datastore/watch-cache';
import { PolicyDatastoreSync, POLICY_PREFIXES } from '../../lib/dataplane/policy/datastore-sync';
import { SyncResult } from '../../lib/dataplane/policy/engine';
import { PolicyLab } from '../../lib/lab/policy-lab';
import { FakeKubeApi, FakeObject, startFakeKubeApi } from '../support/fake-kube-api';
import { canCreateNetns } from '../support/netns';

const maybe = canCreateNetns() ? describe : describe.skip;
const TCP80 = { protocol: 'TCP' as const, port: 80 };

/**
 * Kubernetes mode at its boundary: an HTTP server speaking the list/watch shapes (the shared test
 * double) drives the real engine on the real kernel, through the agent's data path —
 * `PolicyDatastoreSync` over a watch cache of `KubeCrdStore`'s policy views (pods → workload
 * endpoints, namespaces → profiles, NetworkPolicies → `knp.default.*`). Calico's CRDs are absent
 * (404): a Flannel-style cluster, policy from `networking.k8s.io` only.
 */
maybe('policy from the Kubernetes API (list/watch double, real kernel)', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  let store: KubeCrdStore;
  let cache: WatchCache;
  let lab: PolicyLab;
  let sync: PolicyDatastoreSync;
  const results: (SyncResult | Error)[] = [];
  const pod = (ns: string, name: string, labels: Record<string, string>, extra: Partial<FakeObject> = {}): FakeObject => ({
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: 'n1', serviceAccountName: 'default', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }] }] },
    status: { phase: 'Running', podIPs: [{ ip: lab.pod(`${ns}/${name}`).ip }] },
    ...extra,
  });
  const webPolicy: FakeObject = { metadata: { name: 'web', namespace: 'x' }, spec: {
    podSelector: { matchLabels: { app: 'web' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'trusted' } }, podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 'http' }] }],
  } };
  const allowed = async () => (await lab.probe('y/client', [{ to: 'x/web', ...TCP80 }], 300))[0];
  const until = async (want: boolean) => {
    const deadline = Date.now() + 10_000;
    while (await allowed() !== want) if (Date.now() > deadline) throw new Error(`y/client → x/web still ${want ? 'denied' : 'allowed'}`);
  };

  beforeAll(async () => {
    api = await startFakeKubeApi();
    for (const [group, plural, kind, namespaced] of [['', 'pods', 'Pod', true], ['', 'namespaces', 'Namespace', false], ['networking.k8s.io', 'networkpolicies', 'NetworkPolicy', true]] as const) {
      api.defineResource({ group, version: 'v1', plural, kind, namespaced });
    }
    client = new KubeClient({ server: api.url });
    lab = await PolicyLab.create({
      namespaces: [{ name: 'x' }, { name: 'y' }],
      pods: [{ namespace: 'x', name: 'web', ports: [{ port: 80, protocol: 'TCP', name: 'http' }] }, { namespace: 'y', name: 'client' }],
    }, { stack: 'calico' });
    api.upsert('namespaces', { metadata: { name: 'x' } });
    api.upsert('namespaces', { metadata: { name: 'y', labels: { team: 'trusted' } } });
    api.upsert('pods', pod('x', 'web', { app: 'web' }), 'x');
    api.upsert('pods', pod('y', 'client', {}), 'y');
    api.upsert('pods', { metadata: { name: 'node-exporter', namespace: 'y', labels: { role: 'client' } }, spec: { nodeName: 'n1', hostNetwork: true }, status: { podIPs: [{ ip: '10.99.0.1' }] } }, 'y');
    api.upsert('networkpolicies', webPolicy, 'x');
    store = new KubeCrdStore({ client, retryDelayMs: 50 });
    cache = new WatchCache(storeFeed(store, 50), POLICY_PREFIXES);
    await cache.start();
    sync = new PolicyDatastoreSync({ store: cachedStore(store, cache), nodeName: 'n1', mode: 'interface', netns: lab.nodeNetns, table: 'cnikit-policy-kube', debounceMs: 10, onSync: (r) => results.push(r) });
    await sync.start();
  }, 60_000);
  afterAll(async () => {
    await sync?.stop(true);
    await cache?.stop();
    await store?.close();
    await lab?.destroy();
    client?.close();
    await api?.close();
  });

  it('enforces the NetworkPolicy for this node\'s pods; host-network pods are not endpoints', async () => {
    expect(await allowed()).toBe(false);
    expect(sync.world().endpoints.map((e) => `${e.namespace}/${e.name}`).sort()).toEqual(['x/web', 'y/client']);
    expect(sync.world().localEndpoints).toEqual(expect.arrayContaining(['x/web', 'y/client']));
  });

  it('follows a pod label change, a namespace label change and a policy deletion through watches', async () => {
    api.upsert('pods', pod('y', 'client', { role: 'client' }), 'y');
    await until(true);
    api.upsert('namespaces', { metadata: { name: 'y', labels: {} } });
    await until(false);
    api.remove('networkpolicies', 'web', 'x');
    await until(true);
    expect(results.filter((r) => r instanceof Error)).toEqual([]);
  });

  it('enforces a NetworkPolicy created after start', async () => {
    api.upsert('networkpolicies', { metadata: { name: 'deny-all' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } }, 'x');
    await until(false);
    expect(sync.world().policies.map((p) => `${p.kind} ${p.namespace}/${p.name}`)).toEqual(['KubernetesNetworkPolicy x/deny-all']);
    api.remove('networkpolicies', 'deny-all', 'x');
    await until(true);
    expect(results.filter((r) => r instanceof Error)).toEqual([]);
  });
});
