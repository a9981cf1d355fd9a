import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { run } from '../../lib/lab/exec';
import { openCalicoStore } from '../../lib/dataplane/calico/datastore';
import { KeyValueStore } from '../../lib/dataplane/datastore/types';
import { PolicyDatastoreSync } from '../../lib/dataplane/policy/datastore-sync';
import { SyncResult } from '../../lib/dataplane/policy/engine';
import { PolicyLab } from '../../lib/lab/policy-lab';
import { EtcdServer, startEtcd } from '../support/etcd';
import { canCreateNetns } from '../support/netns';

const maybe = canCreateNetns() ? describe : describe.skip;
const TCP80 = { protocol: 'TCP' as const, port: 80 };

/**
 * The policy agent's datastore half on real etcd and the real kernel: workload endpoints,
 * profiles and policies written the way Calico's components write them are enforced on the node,
 * and a change in etcd reaches the kernel through the watch.
 */
maybe('policy from the Calico datastore (real etcd, real kernel)', () => {
  let etcd: EtcdServer;
  let store: KeyValueStore;
  let lab: PolicyLab;
  let sync: PolicyDatastoreSync;
  const results: (SyncResult | Error)[] = [];
  const appliedAt: bigint[] = [];
  const wep = (ns: string, pod: string, labels: Record<string, string>) => {
    const p = lab.pod(`${ns}/${pod}`);
    return JSON.stringify({
      metadata: { name: `n1-k8s-${pod}-eth0`, namespace: ns, labels: { ...labels, 'projectcalico.org/namespace': ns, 'projectcalico.org/orchestrator': 'k8s' } },
      spec: { orchestrator: 'k8s', node: 'n1', pod, endpoint: 'eth0', interfaceName: p.interfaceName, ipNetworks: [`${p.ip}/32`], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    });
  };
  const allowed = async (from: string) => (await lab.probe(from, [{ to: 'x/web', ...TCP80 }], 300))[0];
  const until = async (from: string, want: boolean, since: bigint): Promise<number> => {
    for (;;) {
      const start = Number(process.hrtime.bigint() - since) / 1e6;
      if (await allowed(from) === want) return start;
      if (start > 10_000) throw new Error(`${from} → x/web still ${want ? 'denied' : 'allowed'} after 10 s`);
    }
  };

  beforeAll(async () => {
    etcd = await startEtcd();
    store = await openCalicoStore({ type: 'etcdv3', endpoints: [etcd.endpoint], prefix: `/t${process.pid}/calico/resources/v3/projectcalico.org/` });
    lab = await PolicyLab.create({
      namespaces: [{ name: 'x' }, { name: 'y' }],
      pods: [{ namespace: 'x', name: 'web', ports: [{ port: 80, protocol: 'TCP', name: 'http' }] }, { namespace: 'y', name: 'client' }],
    }, { stack: 'calico' });
    await store.put('workloadendpoints/x/n1-k8s-web-eth0', wep('x', 'web', { app: 'web' }));
    await store.put('workloadendpoints/y/n1-k8s-client-eth0', wep('y', 'client', {}));
    await store.put('profiles/kns.y', JSON.stringify({ metadata: { name: 'kns.y' }, spec: { labelsToApply: { 'pcns.team': 'trusted', 'pcns.kubernetes.io/metadata.name': 'y' } } }));
    await store.put('networkpolicies/x/web', JSON.stringify({
      metadata: { name: 'web', namespace: 'x' },
      spec: { selector: "app == 'web'", ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "role == 'client'", namespaceSelector: "team == 'trusted'" }, destination: { ports: ['http'] } }] },
    }));
    // never valid: reported, and its endpoints (none here) isolated rather than left open
    await store.put('globalnetworkpolicies/broken', JSON.stringify({ metadata: { name: 'broken' }, spec: { selector: "app == 'none'", ingress: [{ action: 'Maybe' }] } }));
    // a separate table beside the lab's own (which has no policy and accepts)
    sync = new PolicyDatastoreSync({ store, nodeName: 'n1', mode: 'interface', netns: lab.nodeNetns, table: 'cnikit-policy-ds', debounceMs: 10, onSync: (r) => { results.push(r); appliedAt.push(process.hrtime.bigint()); } });
    await sync.start();
  }, 60_000);
  afterAll(async () => {
    await sync?.stop(true);
    await lab?.destroy();
    await store?.close();
    await etcd?.stop();
  });

  it('enforces what the datastore says and reports the policy it cannot read', async () => {
    expect(await allowed('y/client')).toBe(false);
    expect(results.filter((r) => r instanceof Error).map((r) => (r as Error).message)).toEqual([
      expect.stringContaining('globalnetworkpolicies/broken: GlobalNetworkPolicy broken.ingress[0].action: "Maybe" is not valid'),
    ]);
  });

  it('follows a pod label change in etcd to the kernel', async () => {
    const t0 = process.hrtime.bigint();
    await store.put('workloadendpoints/y/n1-k8s-client-eth0', wep('y', 'client', { role: 'client' }));
    const ms = await until('y/client', true, t0);
    const applied = Number(appliedAt[appliedAt.length - 1] - t0) / 1e6;
    console.log(`etcd write → nft transaction applied ${applied.toFixed(1)} ms after the write; first allowed probe started at ${ms.toFixed(1)} ms (300 ms probe timeout)`);
    const last = results[results.length - 1] as SyncResult;
    expect(last.script.trim()).toMatch(/^add element inet cnikit-policy-ds s4-\w+ \{ 10\.66\.0\.3 \}$/);
  });

  it('the policy-agent executable does the same in the node namespace, and leaves its table on SIGTERM', async () => {
    const app = path.join(__dirname, '..', '..', 'apps', 'policy-agent.ts');
    // etcd listens on the harness's loopback: the agent runs here and enforces in the node namespace (--netns)
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', app, '--netns', lab.nodeNetns,
      '--etcd-endpoints', etcd.endpoint, '--etcd-prefix', `/t${process.pid}/calico/resources/v3/projectcalico.org/`,
      '--node-name', 'n1', '--table', 'cnikit-policy-app', '--backend', 'auto'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const deadline = Date.now() + 20_000;
    while (!out.includes('"msg":"ready"') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    expect(out).toContain('"backend":"nft"');
    const list = async () => (await run(['ip', 'netns', 'exec', lab.nodeNetns, 'nft', 'list', 'table', 'inet', 'cnikit-policy-app'])).stdout;
    expect(await list()).toMatch(/chain tw\.x\.web \{/);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    expect(await list()).toMatch(/chain tw\.x\.web \{/);
    await run(['ip', 'netns', 'exec', lab.nodeNetns, 'nft', 'delete', 'table', 'inet', 'cnikit-policy-app']);
  }, 30_000);

  it('follows a namespace label change (profile) and a policy deletion', async () => {
    await store.put('profiles/kns.y', JSON.stringify({ metadata: { name: 'kns.y' }, spec: { labelsToApply: {} } }));
    await until('y/client', false, process.hrtime.bigint());
    await store.delete('networkpolicies/x/web');
    await until('y/client', true, process.hrtime.bigint());
    expect(sync.world().policies).toEqual([{ kind: 'GlobalNetworkPolicy', name: 'broken', selector: "app == 'none'", types: ['Ingress'], ingress: [], egress: [] }]);
  });
});
