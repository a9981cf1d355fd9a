import { FelixConfigFollower } from '../../../lib/dataplane/calico/felix-config-store';
import { KubeClient } from '../../../lib/dataplane/datastore/kube/client';
import { CALICO_KINDS, KubeCrdStore } from '../../../lib/dataplane/datastore/kube/store';
import { WatchCache, cachedStore, storeFeed } from '../../../lib/dataplane/datastore/watch-cache';
import { Logger } from '../../../lib/dataplane/flannel/agent-log';
import { policyAgentCache } from '../../../lib/dataplane/policy/agent-cache';
import { PolicyDatastoreSync, POLICY_PREFIXES } from '../../../lib/dataplane/policy/datastore-sync';
import { SyncResult } from '../../../lib/dataplane/policy/engine';
import { parseTypha } from '../../../lib/dataplane/typha/config';
import { TYPHA_PREFIXES } from '../../../lib/dataplane/typha/prefixes';
import { TyphaServer } from '../../../lib/dataplane/typha/server';
import { FakeKubeApi, FakeObject, startFakeKubeApi } from '../../support/fake-kube-api';
import { waitFor } from '../../dataplane/datastore/helpers';

const quiet = () => undefined;
const log: Logger = { debug: quiet, info: quiet, warn: quiet, error: quiet };

const pod = (ns: string, name: string, labels: Record<string, string>, ip: string): FakeObject => ({
  metadata: { name, namespace: ns, labels },
  spec: { nodeName: 'n1', containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
  status: { phase: 'Running', podIPs: [{ ip }] },
});

/**
 * Production's data path for the policy agent: Typha holds the API server watches (one per
 * prefix) and serves them over TCP; the agent finds Typha through the Service's Endpoints
 * (FELIX_TYPHAK8SSERVICENAME) and opens no watch of its own — not for policy, not for
 * FelixConfiguration. Credentials tell the two clients' requests apart in the API double's log.
 */
describe('policy agent through Typha (API server double, real TCP on 127.0.0.1)', () => {
  let api: FakeKubeApi;
  let typhaClient: KubeClient;
  let agentClient: KubeClient;
  let server: TyphaServer;
  let typhaCache: WatchCache;

  beforeAll(async () => {
    api = await startFakeKubeApi();
    api.defineResource({ group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true });
    api.defineResource({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' });
    api.defineResource({ group: '', version: 'v1', plural: 'endpoints', kind: 'Endpoints', namespaced: true });
    api.defineResource({ group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true });
    for (const [plural, kind] of Object.entries(CALICO_KINDS)) api.defineResource({ group: 'crd.projectcalico.org', version: 'v1', plural, kind });
    for (const [plural, kind] of [['globalnetworkpolicies', 'GlobalNetworkPolicy'], ['globalnetworksets', 'GlobalNetworkSet'], ['networksets', 'NetworkSet']]) {
      api.defineResource({ group: 'crd.projectcalico.org', version: 'v1', plural, kind, namespaced: plural === 'networksets' });
    }
    api.upsert('namespaces', { metadata: { name: 'x' } });
    api.upsert('namespaces', { metadata: { name: 'y', labels: { team: 'trusted' } } });
    api.upsert('pods', pod('x', 'web', { app: 'web' }, '10.244.1.5'), 'x');
    api.upsert('pods', pod('y', 'client', { role: 'client' }, '10.244.1.6'), 'y');
    api.upsert('felixconfigurations', { metadata: { name: 'default' }, spec: { nftablesRefreshInterval: '30s' } });

    typhaClient = new KubeClient({ server: api.url, token: 'typha' });
    typhaCache = new WatchCache(storeFeed(new KubeCrdStore({ client: typhaClient, retryDelayMs: 50 }), 50), TYPHA_PREFIXES);
    server = new TyphaServer({ cache: typhaCache, port: 0, host: '127.0.0.1', log, pingIntervalMs: 200 });
    await server.start();
    await typhaCache.synced;
    api.upsert('endpoints', {
      metadata: { name: 'calico-typha' },
      subsets: [{ addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'calico-typha', port: server.port as number, protocol: 'TCP' }] }],
    }, 'calico-system');
    agentClient = new KubeClient({ server: api.url, token: 'agent' });
  });
  afterAll(async () => {
    await server?.stop();
    await typhaCache?.stop();
    typhaClient?.close();
    agentClient?.close();
    await api?.close();
  });

  test('Typha serves the policy agent\'s prefixes, and the agent holds zero watches against the API server', async () => {
    expect(POLICY_PREFIXES.every((p) => TYPHA_PREFIXES.includes(p))).toBe(true);
    const typha = parseTypha(undefined, 'calico-typha', 'calico-system', 'kubernetes');
    expect(typha).toEqual({ service: 'calico-typha', namespace: 'calico-system' });
    const store = new KubeCrdStore({ client: agentClient });
    const cache = policyAgentCache({ store, node: 'n1', typha, client: agentClient, felixConfiguration: true });
    await cache.start();
    const view = cachedStore(store, cache);
    const felix = new FelixConfigFollower({ store: view, node: 'n1' });
    expect((await felix.start()).settings.nftablesRefreshIntervalSeconds).toBe(30);
    const scripts: string[] = [];
    const results: (SyncResult | Error)[] = [];
    const sync = new PolicyDatastoreSync({
      store: view, nodeName: 'n1', mode: 'interface', debounceMs: 10, resyncSeconds: 0,
      runner: { apply: async (s) => void scripts.push(s), listTable: async () => undefined }, onSync: (r) => results.push(r),
    });
    await sync.start();
    expect(sync.world().endpoints.map((e) => `${e.namespace}/${e.name}`).sort()).toEqual(['x/web', 'y/client']);

    // Created after start: reaches the agent through Typha.
    api.upsert('networkpolicies', { metadata: { name: 'web' }, spec: {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'trusted' } }, podSelector: { matchLabels: { role: 'client' } } }], ports: [{ port: 'http' }] }],
    } }, 'x');
    await waitFor(() => sync.world().policies.some((p) => p.name === 'web') && scripts.some((s) => s.includes('pi-knp.x.web')), 'the policy applied');
    api.upsert('pods', pod('y', 'client', { role: 'client', v: '2' }, '10.244.1.6'), 'y');
    await waitFor(() => sync.world().endpoints.some((e) => e.labels?.v === '2'), 'the pod label change');
    api.upsert('felixconfigurations', { metadata: { name: 'default' }, spec: { nftablesRefreshInterval: '45s' } });
    await waitFor(() => felix.current.nftablesRefreshIntervalSeconds === 45, 'the FelixConfiguration change');
    expect(results.filter((r) => r instanceof Error)).toEqual([]);

    const byAgent = api.requests.filter((r) => r.authorization === 'Bearer agent');
    expect(byAgent.filter((r) => r.query.watch !== undefined)).toEqual([]);
    // Its only request: where Typha is.
    expect([...new Set(byAgent.map((r) => `${r.method} ${r.path}`))]).toEqual(['GET /api/v1/namespaces/calico-system/endpoints/calico-typha']);
    // Typha: one watch per prefix it holds (absent resources none), shared by every agent.
    const typhaWatches = api.requests.filter((r) => r.authorization === 'Bearer typha' && r.query.watch !== undefined);
    expect(typhaWatches.length).toBeLessThanOrEqual(TYPHA_PREFIXES.length);
    expect(typhaWatches.map((r) => r.path)).toEqual(expect.arrayContaining(['/api/v1/pods', '/apis/networking.k8s.io/v1/networkpolicies', '/apis/crd.projectcalico.org/v1/felixconfigurations']));

    await felix.stop();
    await sync.stop();
    await cache.stop();
  });
});
