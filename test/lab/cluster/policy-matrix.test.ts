import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { environment } from '../../../apps/environments';
import { synthEnvironments } from '../../../apps/synth';
import { PolicyIndex } from '../../../lib/dataplane/policy/selection';
import { NETCHECK_IMAGE } from '../../../lib/lab/cluster/images';
import { answeredBy, intentResult, listenerScript, matrixManifest, probeCommand, readinessScript } from '../../../lib/lab/cluster/policy-matrix';
import { intentProbe, parsePolicyMatrix, PolicyIntent, readPolicyManifests, unmetIntent } from '../../../lib/lab/policy-harness';
import { expectedVerdict } from '../../../lib/lab/policy-lab';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const prod = environment('prod');
const matrixFile = prod.stack.kind === 'calico' ? prod.stack.policyMatrix : undefined;
const matrix = () => parsePolicyMatrix(fs.readFileSync(path.join(REPO_ROOT, matrixFile!), 'utf8'), matrixFile);

interface Pod { metadata: { name: string; namespace: string; labels?: Record<string, string> }; spec: { nodeName: string; serviceAccountName?: string; automountServiceAccountToken: boolean; containers: { image: string; command: string[]; ports: { containerPort: number; protocol: string; name?: string }[]; readinessProbe: { exec: { command: string[] } } }[] } }

describe('the cluster lab checks an environment\'s policy matrix on real pods', () => {
  test('prod declares its intent: a matrix file the network lab reads, every expectation one the cluster lab can probe', () => {
    expect(matrixFile).toBe('test/lab/policy-shop-matrix.yaml');
    const m = matrix();
    expect(m.expect?.length).toBeGreaterThan(0);
    for (const e of m.expect ?? []) expect(['TCP', 'UDP', 'ICMP']).toContain(e.protocol);
  });

  test('the manifest: namespaces with their labels, the service accounts pods run as, one pod per matrix pod as the matrix says', () => {
    const { setup, pods } = matrixManifest(matrix(), ['n1', 'n2', 'n3', 'n4'], true) as { setup: { kind: string; metadata: { name: string; namespace?: string; labels?: object } }[]; pods: Pod[] };
    expect(setup.filter((o) => o.kind === 'Namespace').map((o) => o.metadata)).toEqual([
      { name: 'kube-system' }, { name: 'ingress-nginx' }, { name: 'shop', labels: { team: 'web' } }, { name: 'other' },
    ]);
    expect(setup.filter((o) => o.kind === 'ServiceAccount').map((o) => o.metadata)).toEqual([{ name: 'api', namespace: 'shop' }]);
    expect(pods.map((p) => `${p.metadata.namespace}/${p.metadata.name}@${p.spec.nodeName}`)).toEqual([
      'kube-system/matrix-coredns@n1', 'ingress-nginx/matrix-controller@n2', 'shop/matrix-frontend@n3', 'shop/matrix-api@n4',
      'shop/matrix-impostor@n1', 'shop/matrix-postgres@n2', 'other/matrix-client@n3',
    ]);
    const coredns = pods[0];
    expect(coredns.metadata.labels).toEqual({ 'k8s-app': 'kube-dns' });
    expect(coredns.spec.containers[0].ports).toEqual([{ containerPort: 53, protocol: 'UDP' }, { containerPort: 53, protocol: 'TCP' }]);
    expect(coredns.spec.containers[0].image).toBe(NETCHECK_IMAGE);
    // Exactly the matrix's labels (nothing the policies could select on), the named port PolicyPort.named('http') resolves to.
    const frontend = pods.find((p) => p.metadata.name === 'matrix-frontend')!;
    expect(frontend.metadata.labels).toEqual({ app: 'frontend' });
    expect(frontend.spec.containers[0].ports).toEqual([{ containerPort: 80, protocol: 'TCP', name: 'http' }]);
    expect(pods.find((p) => p.metadata.name === 'matrix-api')!.spec.serviceAccountName).toBe('api');
    expect(pods.find((p) => p.metadata.name === 'matrix-impostor')!.spec.serviceAccountName).toBeUndefined();
    expect(pods.every((p) => p.spec.automountServiceAccountToken === false)).toBe(true);
  });

  test('listeners answer with the pod\'s name on every declared TCP and UDP port (UDP once per family); Ready means they answer', () => {
    const ports = [{ port: 53, protocol: 'UDP' as const }, { port: 53, protocol: 'TCP' as const }, { port: 8080, protocol: 'TCP' as const }];
    expect(listenerScript(ports, true).split('\n')).toEqual([
      'nc -ll -p 53 -e /bin/hostname &',
      'nc -ll -p 8080 -e /bin/hostname &',
      'while :; do hostname | /bin/nc.openbsd -4 -u -l -W 1 -p 53 || sleep 1; done &',
      'while :; do hostname | /bin/nc.openbsd -6 -u -l -W 1 -p 53 || sleep 1; done &',
      'wait',
    ]);
    expect(readinessScript(ports, false)).toBe('[ -n "$(nc -w 1 127.0.0.1 53 </dev/null)" ] && [ -n "$(nc -w 1 127.0.0.1 8080 </dev/null)" ] && [ -n "$(echo ready | /bin/nc.openbsd -u -W 1 -w 1 127.0.0.1 53)" ]');
    expect(listenerScript([], true)).toBe('while :; do sleep 3600; done');
    const e = (protocol: PolicyIntent['protocol']): PolicyIntent => ({ from: 'a/p', to: 'a/q', protocol, port: protocol === 'ICMP' ? undefined : 53, allowed: true });
    expect(probeCommand(e('TCP'), 'fd00::5')).toBe('nc -w 2 fd00::5 53 </dev/null');
    expect(probeCommand(e('UDP'), '10.128.0.5')).toBe('echo probe | /bin/nc.openbsd -u -W 1 -w 2 10.128.0.5 53');
    expect(probeCommand(e('ICMP'), '10.128.0.5')).toBe('ping -c 1 -W 2 10.128.0.5 >/dev/null && echo echo-reply');
    expect(probeCommand(e('SCTP'), '10.128.0.5')).toBeUndefined();
    expect(answeredBy('matrix-api', 'matrix-api', 'TCP')).toBe(true);
    expect(answeredBy('nc: timed out', 'matrix-api', 'TCP')).toBe(false);
    expect(answeredBy('matrix-impostor', 'matrix-api', 'UDP')).toBe(false);
  });

  test('a line per intent: ok when every family and the policies give the intended verdict; otherwise what differs and where to look', () => {
    const e: PolicyIntent = { from: 'shop/impostor', to: 'shop/postgres', protocol: 'TCP', port: 5432, allowed: false };
    const context = { from: 'matrix-impostor (n1)', to: 'matrix-postgres (n2)', rounds: 2, whereToLook: 'policy agents: egress on node n1 (…), ingress on node n2 (…)' };
    const denied = intentResult(e, [{ ip: '10.128.0.9', allowed: false, answer: 'nc: timed out' }, { ip: 'fd00:10:128::9', allowed: false, answer: 'nc: timed out' }], [false, false], context);
    expect(denied).toEqual({
      name: 'policy shop/impostor → shop/postgres TCP/5432 denied', ok: true,
      detail: 'matrix-impostor (n1) → matrix-postgres (n2): 10.128.0.9 denied ("nc: timed out"), fd00:10:128::9 denied ("nc: timed out"); the policies (reference evaluator) say denied',
    });
    expect(intentResult(e, [{ ip: '10.128.0.9', allowed: false, answer: '' }], [false], { ...context, rounds: 5 }).detail).toMatch(/say denied; held in rounds 4–5$/);
    const leaks = intentResult(e, [{ ip: '10.128.0.9', allowed: false, answer: '' }, { ip: 'fd00:10:128::9', allowed: true, answer: 'matrix-postgres' }], [false, false], { ...context, rounds: 3 });
    expect(leaks.ok).toBe(false);
    expect(leaks.detail).toBe('matrix-impostor (n1) → matrix-postgres (n2): 10.128.0.9 denied (no answer), fd00:10:128::9 allowed ("matrix-postgres"); the policies (reference evaluator) say denied; round 3, the last; '
      + 'intended denied, policy says denied, kernel allowed; policy agents: egress on node n1 (…), ingress on node n2 (…)');
    expect(unmetIntent(e, true, false)).toBe('shop/impostor → shop/postgres TCP/5432: intended denied, policy says allowed, kernel denied');
  });
});

describe('prod\'s matrix agrees with prod\'s synthesized policies (reference evaluator, no kernel)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnikit-policy-matrix-'));
    synthEnvironments([prod], dir);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('every expectation, over IPv4 and IPv6 addresses as the cluster lab probes them', () => {
    const m = matrix();
    const objects = readPolicyManifests([path.join(dir, 'prod')]);
    const addresses = (i: number) => [`10.128.0.${i + 10}`, `fd00:10:128::${(i + 10).toString(16)}`];
    const index = new PolicyIndex({
      namespaces: m.namespaces, policies: objects.policies, networkSets: objects.networkSets, serviceAccounts: m.serviceAccounts,
      endpoints: m.pods.map((p, i) => ({ namespace: p.namespace, name: p.name, labels: p.labels ?? {}, serviceAccount: p.serviceAccount, addresses: addresses(i),
        ports: (p.ports ?? []).filter((x) => x.name).map((x) => ({ name: x.name!, port: x.port, protocol: x.protocol })) })),
    });
    const at = (k: string) => m.pods.findIndex((p) => `${p.namespace}/${p.name}` === k);
    for (const e of m.expect ?? []) {
      for (const family of [0, 1]) {
        const verdict = expectedVerdict(index, addresses(at(e.from))[family], { ip: addresses(at(e.to))[family], ports: m.pods[at(e.to)].ports }, intentProbe(e));
        expect({ intent: e, family, verdict }).toEqual({ intent: e, family, verdict: e.allowed });
      }
    }
  });
});
