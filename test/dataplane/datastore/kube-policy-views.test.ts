import { workloadVethName } from '../../../lib/dataplane/calico/workload-endpoint';
import { UnsupportedOperationError } from '../../../lib/dataplane/datastore/errors';
import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { parseWorkloadEndpointName } from '../../../lib/dataplane/datastore/kube/policy-views';
import { ABSENT_REVISION, KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { WatchEvent } from '../../../lib/dataplane/datastore/types';
import { WatchCache, cachedStore, storeFeed } from '../../../lib/dataplane/datastore/watch-cache';
import { PolicyDatastoreSync, POLICY_PREFIXES } from '../../../lib/dataplane/policy/datastore-sync';
import { SyncResult } from '../../../lib/dataplane/policy/engine';
import { fromKubernetesNetworkPolicy, K8sNetworkPolicy } from '../../../lib/dataplane/policy/kubernetes';
import { FakeKubeApi, FakeObject, startFakeKubeApi } from '../../support/fake-kube-api';
import { waitFor } from './helpers';

const CALICO_POLICY_KINDS = [['networkpolicies', 'NetworkPolicy', true], ['networksets', 'NetworkSet', true],
  ['globalnetworkpolicies', 'GlobalNetworkPolicy', false], ['globalnetworksets', 'GlobalNetworkSet', false]] as const;

function defineKubeKinds(api: FakeKubeApi): void {
  api.defineResource({ group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true });
  api.defineResource({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' });
  api.defineResource({ group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true });
}

/** The fake serves one resource per plural: Calico's policy CRDs live on their own double when both `networkpolicies` are needed. */
function defineCalicoKinds(api: FakeKubeApi, only?: readonly string[]): void {
  for (const [plural, kind, namespaced] of CALICO_POLICY_KINDS) {
    if (!only || only.includes(plural)) api.defineResource({ group: 'crd.projectcalico.org', version: 'v1', plural, kind, namespaced });
  }
}

const pod = (ns: string, name: string, o: { labels?: Record<string, string>; node?: string; ips?: string[]; sa?: string; hostNetwork?: boolean; phase?: string } = {}): FakeObject => ({
  metadata: { name, namespace: ns, labels: o.labels ?? {}, annotations: { 'cni.projectcalico.org/containerID': `c-${name}` } },
  spec: {
    ...(o.node === '' ? {} : { nodeName: o.node ?? 'n1' }), ...(o.sa ? { serviceAccountName: o.sa } : {}), ...(o.hostNetwork ? { hostNetwork: true } : {}),
    containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80, protocol: 'TCP' }, { containerPort: 9090 }, { name: 'dns', containerPort: 53, protocol: 'UDP' }] }],
  },
  status: { phase: o.phase ?? 'Running', ...(o.ips ? { podIPs: o.ips.map((ip) => ({ ip })) } : {}) },
});

const webPolicy: FakeObject = {
  metadata: { name: 'web', namespace: 'x' },
  spec: {
    podSelector: { matchLabels: { app: 'web' } },
    ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'trusted' } }, podSelector: { matchLabels: { role: 'client' } } }, { ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
      ports: [{ port: 'http' }, { port: 8000, endPort: 8080 }, { protocol: 'UDP', port: 53 }] }],
    egress: [{ to: [{ podSelector: {} }] }],
  },
};

const values = async (store: KubeCrdStore, prefix: string) => Object.fromEntries((await store.list(prefix)).items.map((kv) => [kv.key, JSON.parse(kv.value) as unknown]));

describe('KubeCrdStore policy views: Calico\'s Kubernetes-datastore conversion', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  let store: KubeCrdStore;
  beforeEach(async () => {
    api = await startFakeKubeApi();
    defineKubeKinds(api);
    client = new KubeClient({ server: api.url });
    store = new KubeCrdStore({ client, retryDelayMs: 50, absentRetryMs: 100 });
  });
  afterEach(async () => {
    await store.close();
    client.close();
    await api.close();
  });

  test('pods are WorkloadEndpoint documents as the etcd-mode CNI plugin writes them, plus Calico\'s conversion', async () => {
    api.upsert('pods', pod('x', 'web-1', { labels: { app: 'web' }, ips: ['10.244.1.5', 'fd00:10:244::5'], sa: 'web-sa' }), 'x');
    api.upsert('pods', pod('y', 'client', { ips: ['10.244.2.7'], node: 'node-b' }), 'y');
    // Not endpoints: host network, no address yet, not scheduled, finished.
    api.upsert('pods', pod('y', 'exporter', { hostNetwork: true, ips: ['10.0.0.1'] }), 'y');
    api.upsert('pods', pod('y', 'pending', {}), 'y');
    api.upsert('pods', pod('y', 'unscheduled', { node: '', ips: ['10.244.2.9'] }), 'y');
    api.upsert('pods', pod('y', 'done', { ips: ['10.244.2.8'], phase: 'Succeeded' }), 'y');
    api.upsert('pods', pod('y', 'crashed', { ips: ['10.244.2.10'], phase: 'Failed' }), 'y');

    const weps = await values(store, 'workloadendpoints/');
    expect(Object.keys(weps)).toEqual(['workloadendpoints/x/n1-k8s-web--1-eth0', 'workloadendpoints/y/node--b-k8s-client-eth0']);
    expect(weps['workloadendpoints/x/n1-k8s-web--1-eth0']).toEqual({
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: {
        name: 'n1-k8s-web--1-eth0', namespace: 'x',
        labels: { app: 'web', 'projectcalico.org/namespace': 'x', 'projectcalico.org/orchestrator': 'k8s', 'projectcalico.org/serviceaccount': 'web-sa' },
      },
      spec: {
        orchestrator: 'k8s', node: 'n1', workload: '', pod: 'web-1', endpoint: 'eth0', containerID: 'c-web-1',
        interfaceName: workloadVethName('x', 'web-1'), mac: '',
        ipNetworks: ['10.244.1.5/32', 'fd00:10:244::5/128'],
        profiles: ['kns.x', 'ksa.x.web-sa'],
        ports: [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'dns', protocol: 'UDP', port: 53 }],
        serviceAccountName: 'web-sa',
      },
    });
    // No serviceAccountName: the admission default.
    expect(weps['workloadendpoints/y/node--b-k8s-client-eth0']).toMatchObject({ metadata: { labels: { 'projectcalico.org/serviceaccount': 'default' } }, spec: { profiles: ['kns.y', 'ksa.y.default'] } });

    // Narrower prefixes and single keys.
    expect((await store.list('workloadendpoints/y/')).items.map((kv) => kv.key)).toEqual(['workloadendpoints/y/node--b-k8s-client-eth0']);
    const got = await store.get('workloadendpoints/x/n1-k8s-web--1-eth0');
    expect(got && JSON.parse(got.value)).toEqual(weps['workloadendpoints/x/n1-k8s-web--1-eth0']);
    expect(got?.revision).toBe(api.get('pods', 'web-1', 'x')?.metadata?.resourceVersion);
    await expect(store.get('workloadendpoints/x/n2-k8s-web--1-eth0')).resolves.toBeUndefined(); // another node's name for it
    await expect(store.get('workloadendpoints/y/n1-k8s-exporter-eth0')).resolves.toBeUndefined();
    await expect(store.get('workloadendpoints/x/web-1')).rejects.toThrow(/does not name an object of workloadendpoints\//);
    expect(parseWorkloadEndpointName('my--node-k8s-web--1-eth0')).toEqual({ node: 'my-node', pod: 'web-1' });
  });

  test('namespaces and service accounts are the kns. / ksa. profiles with their labels to apply; profiles/ as a whole is refused', async () => {
    api.upsert('namespaces', { metadata: { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x', team: 'a' } } });
    api.upsert('serviceaccounts', { metadata: { name: 'web-sa', labels: { tier: 'front' } } }, 'x');
    expect(await values(store, 'profiles/kns.')).toEqual({
      'profiles/kns.x': {
        apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: 'kns.x' },
        spec: {
          ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }],
          labelsToApply: { 'pcns.projectcalico.org/name': 'x', 'pcns.kubernetes.io/metadata.name': 'x', 'pcns.team': 'a' },
        },
      },
    });
    expect(await values(store, 'profiles/ksa.')).toEqual({
      'profiles/ksa.x.web-sa': {
        apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: 'ksa.x.web-sa' },
        spec: { labelsToApply: { 'pcsa.projectcalico.org/name': 'web-sa', 'pcsa.tier': 'front' } },
      },
    });
    expect((await store.get('profiles/ksa.x.web-sa'))?.key).toBe('profiles/ksa.x.web-sa');
    expect((await store.get('profiles/kns.x'))?.key).toBe('profiles/kns.x');
    await expect(store.list('profiles/')).rejects.toThrow('"profiles/" spans profiles/kns., profiles/ksa., which are separate resources');
    expect(() => store.watch('profiles/', () => undefined)).toThrow(/spans/);
  });

  test('a Kubernetes NetworkPolicy is the Calico NetworkPolicy knp.default.<name>, converted as fromKubernetesNetworkPolicy does', async () => {
    api.upsert('networkpolicies', webPolicy, 'x');
    api.upsert('networkpolicies', { metadata: { name: 'bad' }, spec: { podSelector: {}, policyTypes: ['Sideways'] } }, 'x');
    const docs = await values(store, 'kubernetesnetworkpolicies/');
    expect(Object.keys(docs)).toEqual(['kubernetesnetworkpolicies/x/knp.default.bad', 'kubernetesnetworkpolicies/x/knp.default.web']);
    const converted = fromKubernetesNetworkPolicy(webPolicy as unknown as K8sNetworkPolicy);
    expect(docs['kubernetesnetworkpolicies/x/knp.default.web']).toEqual({
      apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'knp.default.web', namespace: 'x' },
      spec: JSON.parse(JSON.stringify({ order: 1000, selector: converted.selector, types: ['Ingress', 'Egress'], ingress: converted.ingress, egress: converted.egress })),
    });
    expect(docs['kubernetesnetworkpolicies/x/knp.default.bad']).toEqual({
      apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'knp.default.bad', namespace: 'x' },
      conversionError: 'NetworkPolicy x/bad.spec.policyTypes[0]: "Sideways" is not valid; expected Ingress or Egress',
      // what the agent isolates instead: the pods it selects, in the directions it could be declaring
      isolation: { order: 1000, selector: 'all()', types: ['Ingress'] },
    });

    // Read back by the policy agent: the same policy the engine got from the Kubernetes object; the bad one is
    // reported, and isolates its pods (it allows nothing) instead of being skipped.
    const errors: Error[] = [];
    const sync = new PolicyDatastoreSync({ store, nodeName: 'n1', mode: 'interface', runner: { apply: async () => undefined, listTable: async () => undefined }, resyncSeconds: 0, onSync: (r) => r instanceof Error && errors.push(r) });
    await sync.start(); // straight on the store: list + watch per prefix (Calico's CRDs are absent here: empty)
    const policies = sync.world().policies;
    await sync.stop();
    expect(policies).toHaveLength(2);
    expect(policies[0]).toEqual({ kind: 'KubernetesNetworkPolicy', name: 'bad', namespace: 'x', order: 1000, selector: 'all()', types: ['Ingress'], ingress: [], egress: [] });
    expect(policies[1]).toMatchObject({ kind: 'KubernetesNetworkPolicy', name: 'web', namespace: 'x', order: 1000, types: converted.types, ingress: converted.ingress, egress: converted.egress });
    expect(errors.map((e) => e.message)).toEqual([
      'kubernetesnetworkpolicies/x/knp.default.bad: NetworkPolicy x/bad.spec.policyTypes[0]: "Sideways" is not valid; expected Ingress or Egress (no good version: its endpoints are isolated)',
    ]);
  });

  test('Calico\'s policy kinds are whole documents (labels included); views are read-only', async () => {
    defineCalicoKinds(api, ['networksets', 'globalnetworkpolicies', 'globalnetworksets']);
    api.upsert('networksets', { metadata: { name: 'partners', labels: { role: 'partner' } }, spec: { nets: ['192.0.2.0/24'] } }, 'x');
    api.upsert('globalnetworksets', { metadata: { name: 'internet', labels: { scope: 'world' } }, spec: { nets: ['0.0.0.0/0'] } });
    api.upsert('globalnetworkpolicies', { metadata: { name: 'deny-egress' }, spec: { order: 10, selector: 'all()', types: ['Egress'] } });
    expect(await values(store, 'networksets/')).toEqual({
      'networksets/x/partners': { apiVersion: 'crd.projectcalico.org/v1', kind: 'NetworkSet', metadata: { name: 'partners', namespace: 'x', labels: { role: 'partner' } }, spec: { nets: ['192.0.2.0/24'] } },
    });
    expect(await values(store, 'globalnetworksets/')).toEqual({
      'globalnetworksets/internet': { apiVersion: 'crd.projectcalico.org/v1', kind: 'GlobalNetworkSet', metadata: { name: 'internet', labels: { scope: 'world' } }, spec: { nets: ['0.0.0.0/0'] } },
    });
    expect(JSON.parse((await store.get('globalnetworkpolicies/deny-egress'))?.value ?? 'null')).toEqual({
      apiVersion: 'crd.projectcalico.org/v1', kind: 'GlobalNetworkPolicy', metadata: { name: 'deny-egress' }, spec: { order: 10, selector: 'all()', types: ['Egress'] },
    });
    expect((await store.get('networksets/x/partners'))?.key).toBe('networksets/x/partners');
    await expect(store.put('globalnetworkpolicies/p', '{}')).rejects.toBeInstanceOf(UnsupportedOperationError);
    await expect(store.create('networksets/x/p', '{}')).rejects.toThrow('datastore kubernetes: writing networksets/ is not supported; it is a read-only view of networksets.crd.projectcalico.org');
    await expect(store.delete('workloadendpoints/x/n1-k8s-a-eth0')).rejects.toThrow(/read-only view of pods/);
    expect(api.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  test('absent Calico CRDs (a Flannel-style cluster) read as empty, and a CRD installed later is picked up', async () => {
    const list = await store.list('networkpolicies/');
    expect(list).toEqual({ items: [], revision: ABSENT_REVISION });
    await expect(store.get('networkpolicies/x/a')).resolves.toBeUndefined();
    const events: WatchEvent[] = [];
    const watch = store.watch('networkpolicies/', (e) => events.push(e), { fromRevision: list.revision });
    defineCalicoKinds(api, ['networkpolicies']);
    api.upsert('networkpolicies', { metadata: { name: 'a' }, spec: { selector: 'all()' } }, 'x');
    const reset = await waitFor(() => events.find((e) => e.type === 'reset' && e.items.length === 1), 'the reset once the CRD exists');
    expect(reset.type === 'reset' && reset.items.map((kv) => kv.key)).toEqual(['networkpolicies/x/a']);
    api.upsert('networkpolicies', { metadata: { name: 'b' }, spec: { selector: 'all()' } }, 'x');
    await waitFor(() => events.find((e) => e.type === 'put' && e.kv.key === 'networkpolicies/x/b'), 'a put after it');
    await watch.close();
  });

  test('a watch turns pod changes into WorkloadEndpoint puts and deletes (a finished pod is a delete)', async () => {
    const list = await store.list('workloadendpoints/');
    const events: WatchEvent[] = [];
    const watch = store.watch('workloadendpoints/', (e) => events.push(e), { fromRevision: list.revision });
    api.upsert('pods', pod('x', 'web', { ips: ['10.244.1.5'] }), 'x');
    api.upsert('pods', pod('x', 'web', { ips: ['10.244.1.5'], labels: { app: 'web' } }), 'x');
    api.upsert('pods', pod('x', 'web', { ips: ['10.244.1.5'], phase: 'Succeeded' }), 'x');
    api.upsert('pods', pod('x', 'job', { ips: ['10.244.1.6'] }), 'x');
    api.remove('pods', 'job', 'x');
    await waitFor(() => events.length >= 5, 'five events');
    expect(events.map((e) => (e.type === 'put' ? `put ${e.kv.key} ${JSON.stringify((JSON.parse(e.kv.value) as { metadata: { labels: object } }).metadata.labels)}` : `${e.type} ${e.type === 'delete' ? e.key : ''}`))).toEqual([
      'put workloadendpoints/x/n1-k8s-web-eth0 {"projectcalico.org/namespace":"x","projectcalico.org/orchestrator":"k8s","projectcalico.org/serviceaccount":"default"}',
      'put workloadendpoints/x/n1-k8s-web-eth0 {"app":"web","projectcalico.org/namespace":"x","projectcalico.org/orchestrator":"k8s","projectcalico.org/serviceaccount":"default"}',
      'delete workloadendpoints/x/n1-k8s-web-eth0',
      'put workloadendpoints/x/n1-k8s-job-eth0 {"projectcalico.org/namespace":"x","projectcalico.org/orchestrator":"k8s","projectcalico.org/serviceaccount":"default"}',
      'delete workloadendpoints/x/n1-k8s-job-eth0',
    ]);
    await watch.close();
  });

  test('PolicyDatastoreSync over a watch cache of the views: a NetworkPolicy created after start is enforced, one watch per prefix', async () => {
    api.upsert('namespaces', { metadata: { name: 'x' } });
    api.upsert('namespaces', { metadata: { name: 'y', labels: { team: 'trusted' } } });
    api.upsert('pods', pod('x', 'web', { labels: { app: 'web' }, ips: ['10.244.1.5'] }), 'x');
    api.upsert('pods', pod('y', 'client', { labels: { role: 'client' }, ips: ['10.244.2.7'] }), 'y');
    const scripts: string[] = [];
    const results: (SyncResult | Error)[] = [];
    const cache = new WatchCache(storeFeed(store, 50), POLICY_PREFIXES);
    await cache.start();
    const sync = new PolicyDatastoreSync({
      store: cachedStore(store, cache), nodeName: 'n1', mode: 'interface', debounceMs: 10, resyncSeconds: 0,
      runner: { apply: async (s) => void scripts.push(s), listTable: async () => undefined }, onSync: (r) => results.push(r),
    });
    await sync.start();
    expect(sync.world().endpoints.map((e) => `${e.namespace}/${e.name}`).sort()).toEqual(['x/web', 'y/client']);
    expect(sync.world().policies).toEqual([]);

    api.upsert('networkpolicies', webPolicy, 'x');
    await waitFor(() => sync.world().policies.length === 1 && scripts.length > 1, 'the new policy applied');
    expect(sync.world().policies[0]).toMatchObject({ kind: 'KubernetesNetworkPolicy', name: 'web', namespace: 'x' });
    expect(scripts[scripts.length - 1]).toContain('pi-knp.x.web');
    expect(sync.world().namespaces).toContainEqual({ name: 'y', labels: { 'projectcalico.org/name': 'y', team: 'trusted' } });

    api.remove('networkpolicies', 'web', 'x');
    await waitFor(() => sync.world().policies.length === 0, 'the policy gone');
    // Calico's CRDs are absent here: empty, not an error; one list + one watch per prefix (absent ones: the list only).
    expect(results.filter((r) => r instanceof Error)).toEqual([]);
    const watches = api.requests.filter((r) => r.query.watch === '1').map((r) => r.path).sort();
    expect(watches).toEqual(['/api/v1/namespaces', '/api/v1/pods', '/api/v1/serviceaccounts', '/apis/networking.k8s.io/v1/networkpolicies']);
    await sync.stop();
    await cache.stop();
  });
});
