import { openCalicoStore } from '../../lib/dataplane/calico/datastore';
import { KubeClient } from '../../lib/dataplane/datastore/kube/client';
import { KubeCrdStore } from '../../lib/dataplane/datastore/kube/store';
import { KeyValueStore } from '../../lib/dataplane/datastore/types';
import { cachedStore, storeFeed, WatchCache } from '../../lib/dataplane/datastore/watch-cache';
import { InvalidPolicyReport, PolicyDatastoreSync, POLICY_PREFIXES } from '../../lib/dataplane/policy/datastore-sync';
import { SyncResult } from '../../lib/dataplane/policy/engine';
import { PolicyLab, PolicyLabSpec } from '../../lib/lab/policy-lab';
import { EtcdServer, startEtcd } from '../support/etcd';
import { FakeKubeApi, startFakeKubeApi } from '../support/fake-kube-api';
import { canCreateNetns } from '../support/netns';

const maybe = canCreateNetns() ? describe : describe.skip;
const LAB: PolicyLabSpec = {
  namespaces: [{ name: 'x' }, { name: 'y' }],
  pods: [
    { namespace: 'x', name: 'web', labels: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP' as const, name: 'http' }, { port: 81, protocol: 'TCP' as const }] },
    { namespace: 'y', name: 'client', labels: { role: 'client' } },
  ],
};

/** What the agent reports, awaited instead of polled: each call waits for the next matching one. */
class Reports<T> {
  private readonly waiters: { match: (r: T) => boolean; resolve: (r: T) => void }[] = [];
  public push(r: T): void {
    for (const w of this.waiters.splice(0)) {
      if (w.match(r)) w.resolve(r);
      else this.waiters.push(w);
    }
  }

  public next(match: (r: T) => boolean): Promise<T> {
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}
const applied = (r: SyncResult | Error): r is SyncResult => !(r instanceof Error);

/**
 * Issue 14, rows 1 and 3: the policy agent's datastore path (PolicyDatastoreSync on real etcd)
 * enforcing in a real kernel namespace (nftables). An invalid update of an enforced policy leaves
 * the last good version in force; a policy in a tier other than default is enforced; one naming a
 * tier that does not exist fails closed.
 */
maybe('policy fails closed on bad versions and enforces tiers (real etcd, real nftables)', () => {
  let etcd: EtcdServer;
  let store: KeyValueStore;
  let lab: PolicyLab;
  let sync: PolicyDatastoreSync;
  const syncs = new Reports<SyncResult | Error>();
  const invalid = new Reports<InvalidPolicyReport>();
  const reports: InvalidPolicyReport[] = [];
  const allowed = async (port = 80) => (await lab.probe('y/client', [{ to: 'x/web', protocol: 'TCP', port }], 300))[0];
  const wep = (ns: string, pod: string, labels: Record<string, string>) => {
    const p = lab.pod(`${ns}/${pod}`);
    return JSON.stringify({
      metadata: { name: `n1-k8s-${pod}-eth0`, namespace: ns, labels: { ...labels, 'projectcalico.org/namespace': ns, 'projectcalico.org/orchestrator': 'k8s' } },
      spec: { orchestrator: 'k8s', node: 'n1', pod, endpoint: 'eth0', interfaceName: p.interfaceName, ipNetworks: [`${p.ip}/32`] },
    });
  };
  /** Writes and waits until the agent has applied it; `refused`: after reporting it (the caller checks the report). */
  const put = async (key: string, value: unknown, refused = false) => {
    const report = refused ? invalid.next((r) => r.key === key && !r.resolved) : undefined;
    const done = syncs.next(applied);
    await store.put(key, typeof value === 'string' ? value : JSON.stringify(value));
    await report;
    await done;
  };
  const remove = async (key: string) => {
    const done = syncs.next(applied);
    await store.delete(key);
    await done;
  };
  const denyClient = (ports?: unknown[], selector = "role == 'client'") => ({
    metadata: { name: 'web-guard', namespace: 'x' },
    spec: {
      selector: "app == 'web'",
      ingress: [
        { action: 'Deny', protocol: 'TCP', source: { selector, namespaceSelector: 'all()' }, ...(ports ? { destination: { ports } } : {}) },
        { action: 'Allow' },
      ],
    },
  });

  beforeAll(async () => {
    etcd = await startEtcd();
    store = await openCalicoStore({ type: 'etcdv3', endpoints: [etcd.endpoint], prefix: `/f${process.pid}/calico/resources/v3/projectcalico.org/` });
    lab = await PolicyLab.create(LAB, { stack: 'calico' });
    await store.put('workloadendpoints/x/n1-k8s-web-eth0', wep('x', 'web', { app: 'web' }));
    await store.put('workloadendpoints/y/n1-k8s-client-eth0', wep('y', 'client', { role: 'client' }));
    sync = new PolicyDatastoreSync({
      store, nodeName: 'n1', mode: 'interface', netns: lab.nodeNetns, table: 'cnikit-policy-fault', debounceMs: 10, resyncSeconds: 0,
      onSync: (r) => syncs.push(r),
      onInvalid: (r) => { reports.push(r); invalid.push(r); },
    });
    await sync.start();
  }, 60_000);
  afterAll(async () => {
    await sync?.stop(true);
    await lab?.destroy();
    await store?.close();
    await etcd?.stop();
  });

  it('row 1: an enforced Deny updated to port 70000, a bad selector, then not JSON, stays enforced (last good version)', async () => {
    expect(await allowed()).toBe(true);
    await put('networkpolicies/x/web-guard', denyClient());
    expect(await allowed()).toBe(false);

    await put('networkpolicies/x/web-guard', denyClient([70000]), true);
    expect(await allowed()).toBe(false);
    await put('networkpolicies/x/web-guard', denyClient(undefined, "role == 'client"), true);
    expect(await allowed()).toBe(false);
    await put('networkpolicies/x/web-guard', '{"metadata": {', true);
    expect(await allowed()).toBe(false);
    expect(reports.map((r) => [r.kind, r.namespace, r.name, r.fallback, r.message])).toEqual([
      ['NetworkPolicy', 'x', 'web-guard', 'last-good',
        'networkpolicies/x/web-guard: NetworkPolicy x/web-guard.spec.ingress[0].destination.ports[0]: 70000 is not valid; expected a port number from 1 to 65535 (the last good version stays in force)'],
      ['NetworkPolicy', 'x', 'web-guard', 'last-good', 
        'networkpolicies/x/web-guard: NetworkPolicy x/web-guard.ingress[0].source.selector: "role == \'client" is not a valid selector; expected a closing \' at position 8 (the last good version stays in force)'],
      ['NetworkPolicy', 'x', 'web-guard', 'last-good',
        'networkpolicies/x/web-guard: value "{\\"metadata\\": {" is not valid; expected a JSON object (the last good version stays in force)'],
    ]);
    expect(await sync.registry.getSingleMetricAsString('cnikit_policy_invalid'))
      .toContain('cnikit_policy_invalid{kind="NetworkPolicy",namespace="x",name="web-guard",fallback="last-good"} 1');

    // a good version replaces it (and clears the report); deletion still removes it
    const cleared = invalid.next((r) => r.resolved === true);
    await put('networkpolicies/x/web-guard', denyClient([81]));
    await cleared;
    expect(await allowed(80)).toBe(true);
    expect(await allowed(81)).toBe(false);
    expect(await sync.registry.getSingleMetricAsString('cnikit_policy_invalid')).not.toContain('web-guard');
    await remove('networkpolicies/x/web-guard');
    expect(await allowed(81)).toBe(true);
  });

  it('row 1: a policy never valid isolates what it selects (reported once per version, not per pass)', async () => {
    const before = reports.length;
    await put('networkpolicies/x/never-good', { metadata: { name: 'never-good', namespace: 'x' }, spec: { selector: "app == 'web'", ingress: [{ action: 'Maybe' }] } }, true);
    expect(await allowed()).toBe(false);
    // another change: the bad version is not reported again
    await put('networkpolicies/x/other', { metadata: { name: 'other', namespace: 'x' }, spec: { selector: "app == 'none'" } });
    expect(reports.slice(before).map((r) => [r.name, r.fallback, r.message])).toEqual([['never-good', 'isolation',
      'networkpolicies/x/never-good: NetworkPolicy x/never-good.ingress[0].action: "Maybe" is not valid; expected one of Allow, Deny, Pass, Log (no good version: its endpoints are isolated)']]);
    await remove('networkpolicies/x/never-good');
    await remove('networkpolicies/x/other');
    expect(await allowed()).toBe(true);
  });

  it('row 3: a Deny in tier security beats an Allow of the default tier; a tier that does not exist fails closed', async () => {
    await put('networkpolicies/x/allow-all', { metadata: { name: 'allow-all', namespace: 'x' }, spec: { selector: 'all()', ingress: [{ action: 'Allow' }] } });
    await put('tiers/security', { metadata: { name: 'security' }, spec: { order: 100 } });
    await put('globalnetworkpolicies/security.no-clients', {
      metadata: { name: 'security.no-clients' },
      spec: { tier: 'security', selector: "app == 'web'", ingress: [{ action: 'Deny', source: { selector: "role == 'client'" } }, { action: 'Pass' }] },
    });
    expect(await allowed()).toBe(false);
    expect(sync.world().policies.find((p) => p.name === 'security.no-clients')).toMatchObject({ tier: 'security' });
    await remove('globalnetworkpolicies/security.no-clients');
    expect(await allowed()).toBe(true);

    // tier "audit" does not exist: its policy's endpoints are isolated (a Pass-everything policy would
    // otherwise change nothing), until the tier is created
    await put('globalnetworkpolicies/audit.watch', { metadata: { name: 'audit.watch' }, spec: { tier: 'audit', selector: "app == 'web'", ingress: [{ action: 'Pass' }] } }, true);
    expect(await allowed()).toBe(false);
    expect(reports[reports.length - 1]).toMatchObject({ fallback: 'isolation',
      message: 'globalnetworkpolicies/audit.watch: GlobalNetworkPolicy audit.watch.spec.tier: "audit" is not valid; expected an existing Tier (its endpoints are isolated until it exists)' });
    const cleared = invalid.next((r) => r.key === 'globalnetworkpolicies/audit.watch' && r.resolved === true);
    await put('tiers/audit', { metadata: { name: 'audit' }, spec: { order: 50 } });
    await cleared;
    expect(await allowed()).toBe(true);
    for (const key of ['globalnetworkpolicies/audit.watch', 'tiers/audit', 'tiers/security', 'networkpolicies/x/allow-all']) await remove(key);
  });
});

/**
 * Issue 14, row 2, in Kubernetes mode (the agent's path: KubeCrdStore's views through a watch
 * cache, against the list/watch double of the API server) on the real kernel: an ipBlock with host
 * bits, which the API server accepts, is read as Go's net.ParseCIDR reads it and the policy is
 * enforced; its pods keep their isolation.
 */
maybe('a NetworkPolicy ipBlock with host bits (Kubernetes API double, real nftables)', () => {
  let api: FakeKubeApi;
  let client: KubeClient;
  let store: KubeCrdStore;
  let cache: WatchCache;
  let lab: PolicyLab;
  let sync: PolicyDatastoreSync;
  const syncs = new Reports<SyncResult | Error>();
  const problems: string[] = [];

  beforeAll(async () => {
    api = await startFakeKubeApi();
    for (const [group, plural, kind, namespaced] of [['', 'pods', 'Pod', true], ['', 'namespaces', 'Namespace', false], ['networking.k8s.io', 'networkpolicies', 'NetworkPolicy', true]] as const) {
      api.defineResource({ group, version: 'v1', plural, kind, namespaced });
    }
    client = new KubeClient({ server: api.url });
    lab = await PolicyLab.create(LAB, { stack: 'calico' });
    for (const ns of ['x', 'y']) api.upsert('namespaces', { metadata: { name: ns } });
    for (const p of LAB.pods) {
      api.upsert('pods', {
        metadata: { name: p.name, namespace: p.namespace, labels: { ...p.labels } },
        spec: { nodeName: 'n1', containers: [{ name: 'c' }] },
        status: { phase: 'Running', podIPs: [{ ip: lab.pod(`${p.namespace}/${p.name}`).ip }] },
      }, p.namespace);
    }
    store = new KubeCrdStore({ client, retryDelayMs: 50 });
    cache = new WatchCache(storeFeed(store, 50), POLICY_PREFIXES);
    await cache.start();
    sync = new PolicyDatastoreSync({
      store: cachedStore(store, cache), nodeName: 'n1', mode: 'interface', netns: lab.nodeNetns, table: 'cnikit-policy-fault-kube', debounceMs: 10, resyncSeconds: 0,
      onSync: (r) => syncs.push(r), onInvalid: (r) => problems.push(r.message),
    });
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

  it('row 2: ipBlock 10.66.0.2/4 is 0.0.0.0/4 and the policy is enforced (its pods stay isolated)', async () => {
    const probe = async (port: number) => (await lab.probe('y/client', [{ to: 'x/web', protocol: 'TCP', port }], 300))[0];
    expect([await probe(80), await probe(81)]).toEqual([true, true]);
    // The sync whose nft script carries the policy's block: one already under way when the policy
    // was written may report after the watch cache has it, without having applied it.
    const done = syncs.next((r) => applied(r) && r.script.includes('0.0.0.0/4'));
    api.upsert('networkpolicies', {
      metadata: { name: 'from-block', namespace: 'x' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.66.0.2/4' } }], ports: [{ port: 81 }] }] },
    }, 'x');
    await done;
    expect(sync.world().policies).toEqual([expect.objectContaining({
      kind: 'KubernetesNetworkPolicy', name: 'from-block', ingress: [{ action: 'Allow', protocol: 'TCP', source: { nets: ['0.0.0.0/4'] }, destination: { ports: [81] } }],
    })]);
    // the client (10.66.0.3, inside 0.0.0.0/4) reaches the port the policy opens, and nothing else
    expect([await probe(80), await probe(81)]).toEqual([false, true]);
    expect(problems).toEqual([]);
  });
});
