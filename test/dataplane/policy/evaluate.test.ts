import { evaluate } from '../../../lib/dataplane/policy/evaluate';
import { fromKubernetesNetworkPolicy } from '../../../lib/dataplane/policy/kubernetes';
import { Packet, PolicyWorld } from '../../../lib/dataplane/policy/types';
import { ipOf, MATRIX, SCENARIOS } from './scenarios';

function world(s: (typeof SCENARIOS)[number]): PolicyWorld {
  return {
    namespaces: MATRIX.namespaces,
    endpoints: MATRIX.pods.map((p) => ({
      namespace: p.namespace, name: p.name, labels: p.labels, addresses: [ipOf(`${p.namespace}/${p.name}`)], serviceAccount: p.serviceAccount,
      ports: (p.ports ?? []).filter((x) => x.name).map((x) => ({ name: x.name as string, port: x.port, protocol: x.protocol })),
    })),
    policies: s.policies,
    networkSets: s.networkSets,
    tiers: s.tiers,
    serviceAccounts: MATRIX.serviceAccounts,
  };
}

describe('reference evaluator on the feature matrix', () => {
  for (const s of SCENARIOS) {
    it(s.name, () => {
      const w = world(s);
      for (const [from, to, protocol, port, allowed] of s.expect) {
        const packet: Packet = { source: ipOf(from), destination: ipOf(to), protocol, destinationPort: port, ...(protocol === 'ICMP' ? { icmpType: 8, icmpCode: 0 } : {}) };
        const verdict = evaluate(w, packet);
        expect({ from, to, protocol, port, allowed: verdict.allowed, why: [verdict.egress?.reason, verdict.ingress?.reason] })
          .toEqual({ from, to, protocol, port, allowed, why: expect.anything() });
      }
    });
  }
});

describe('evaluator details', () => {
  const base: PolicyWorld = {
    namespaces: [{ name: 'n' }],
    endpoints: [
      { namespace: 'n', name: 'a', labels: { app: 'a' }, addresses: ['10.0.0.1', 'fd00::1'] },
      { namespace: 'n', name: 'b', labels: { app: 'b' }, addresses: ['10.0.0.2', 'fd00::2'] },
    ],
    policies: [],
  };
  const tcp = (source: string, destination: string, destinationPort = 80): Packet => ({ source, destination, protocol: 'TCP', destinationPort });

  it('says why: open, rule, end of tier', () => {
    const w = { ...base, policies: [fromKubernetesNetworkPolicy({ metadata: { name: 'p', namespace: 'n' }, spec: { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'b' } } }] }] } })] };
    expect(evaluate(w, tcp('10.0.0.2', '10.0.0.1')).ingress?.reason).toBe('n/knp.default.p ingress rule 0 Allow');
    expect(evaluate(w, tcp('10.0.0.1', '10.0.0.2')).ingress?.reason).toBe('no policy');
    expect(evaluate(w, tcp('10.0.0.9', '10.0.0.1'))).toMatchObject({ allowed: false, ingress: { reason: 'end of tier' } });
    expect(evaluate(w, tcp('10.0.0.9', '10.0.0.1')).egress).toBeUndefined();
  });

  it('applies selectors to IPv6 addresses too, and ipBlock of one family never matches the other', () => {
    const w = { ...base, policies: [fromKubernetesNetworkPolicy({ metadata: { name: 'p', namespace: 'n' }, spec: { podSelector: { matchLabels: { app: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] } })] };
    expect(evaluate(w, tcp('10.0.0.2', '10.0.0.1')).allowed).toBe(true);
    expect(evaluate(w, tcp('fd00::2', 'fd00::1')).allowed).toBe(false);
  });
});
