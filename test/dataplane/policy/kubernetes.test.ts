import { fromKubernetesNetworkPolicy, labelSelectorToCalico } from '../../../lib/dataplane/policy/kubernetes';
import { loadPolicyObjects } from '../../../lib/dataplane/policy/load';
import { PolicyType } from '../../../lib/dataplane/policy/types';

const meta = { name: 'p', namespace: 'ns' };

describe('Kubernetes NetworkPolicy → Calico shape', () => {
  it('converts matchLabels and matchExpressions to one selector', () => {
    expect(labelSelectorToCalico({ matchLabels: { app: 'web' }, matchExpressions: [
      { key: 'tier', operator: 'In', values: ['a', 'b'] }, { key: 'env', operator: 'NotIn', values: ['dev'] },
      { key: 'x', operator: 'Exists' }, { key: 'y', operator: 'DoesNotExist' },
    ] }, 'sel').toString()).toBe("app == 'web' && tier in {'a', 'b'} && env not in {'dev'} && has(x) && !has(y)");
    expect(labelSelectorToCalico({}, 'sel').toString()).toBe('all()');
  });

  it('defaults policyTypes: Ingress, plus Egress when egress rules exist; order 1000', () => {
    expect(fromKubernetesNetworkPolicy({ metadata: meta, spec: { podSelector: {} } })).toMatchObject({ types: [PolicyType.INGRESS], order: 1000, ingress: [] });
    expect(fromKubernetesNetworkPolicy({ metadata: meta, spec: { podSelector: {}, egress: [{}] } }).types).toEqual([PolicyType.INGRESS, PolicyType.EGRESS]);
    expect(fromKubernetesNetworkPolicy({ metadata: meta, spec: { podSelector: {}, policyTypes: ['Egress'], ingress: [{}] } }).ingress).toEqual([]);
  });

  it('makes one Allow rule per (peer, protocol): ipBlock.except as notNets, ports grouped, endPort as a range', () => {
    const p = fromKubernetesNetworkPolicy({ metadata: meta, spec: { podSelector: {}, ingress: [{
      from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }, { namespaceSelector: { matchLabels: { a: 'b' } }, podSelector: { matchLabels: { c: 'd' } } }],
      ports: [{ port: 80 }, { port: 'http' }, { protocol: 'UDP', port: 53, endPort: 54 }, { protocol: 'SCTP' }],
    }] } });
    expect(p.ingress).toEqual([
      { action: 'Allow', protocol: 'TCP', source: { nets: ['10.0.0.0/8'], notNets: ['10.1.0.0/16'] }, destination: { ports: [80, 'http'] } },
      { action: 'Allow', protocol: 'TCP', source: { selector: "c == 'd'", namespaceSelector: "a == 'b'" }, destination: { ports: [80, 'http'] } },
      { action: 'Allow', protocol: 'UDP', source: { nets: ['10.0.0.0/8'], notNets: ['10.1.0.0/16'] }, destination: { ports: ['53:54'] } },
      { action: 'Allow', protocol: 'UDP', source: { selector: "c == 'd'", namespaceSelector: "a == 'b'" }, destination: { ports: ['53:54'] } },
      { action: 'Allow', protocol: 'SCTP', source: { nets: ['10.0.0.0/8'], notNets: ['10.1.0.0/16'] } },
      { action: 'Allow', protocol: 'SCTP', source: { selector: "c == 'd'", namespaceSelector: "a == 'b'" } },
    ]);
  });

  it('reads ipBlock CIDRs as the API server does: host bits cleared (10.66.0.2/4 is 0.0.0.0/4), not refused', () => {
    const p = fromKubernetesNetworkPolicy({ metadata: { name: 'p', namespace: 'ns' }, spec: {
      podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.66.0.2/4', except: ['10.66.0.3/16'] } }] }], egress: [{ to: [{ ipBlock: { cidr: 'fd00::1:2/64' } }] }],
    } });
    expect(p.ingress).toEqual([{ action: 'Allow', source: { nets: ['0.0.0.0/4'], notNets: ['10.66.0.0/16'] } }]);
    expect(p.egress).toEqual([{ action: 'Allow', destination: { nets: ['fd00::/64'] } }]);
  });

  it('puts egress peers and ports on the destination; empty rule = allow all', () => {
    const p = fromKubernetesNetworkPolicy({ metadata: meta, spec: { podSelector: {}, egress: [{ to: [{ podSelector: {} }], ports: [{ port: 53, protocol: 'UDP' }] }, {}] } });
    expect(p.egress).toEqual([{ action: 'Allow', protocol: 'UDP', destination: { selector: 'all()', ports: [53] } }, { action: 'Allow' }]);
  });

  it.each([
    [{ podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }, 'NetworkPolicy ns/p.spec.ingress[0].ports[0].protocol: "ICMP" is not valid; expected TCP, UDP or SCTP'],
    [{ podSelector: {}, ingress: [{ ports: [{ port: 90, endPort: 80 }] }] }, 'NetworkPolicy ns/p.spec.ingress[0].ports[0].endPort: 80 is not valid; expected a port number from 90 to 65535'],
    [{ podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 80 }] }] }, 'NetworkPolicy ns/p.spec.ingress[0].ports[0].endPort: 80 is not valid; expected unset when port is a name'],
    [{ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }] }, 'NetworkPolicy ns/p.spec.ingress[0].from[0].ipBlock.except[0]: "10.1.0.0/24" is not valid; expected a CIDR strictly inside 10.0.0.0/16'],
    [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'Has' }] } }, 'NetworkPolicy ns/p.spec.podSelector.matchExpressions[0].operator: "Has" is not valid; expected one of In, NotIn, Exists, DoesNotExist'],
    [{ podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } }, 'NetworkPolicy ns/p.spec.podSelector.matchExpressions[0].values: [] is not valid; expected at least one value for operator In'],
    [{ podSelector: {}, policyTypes: ['Both'] }, 'NetworkPolicy ns/p.spec.policyTypes[0]: "Both" is not valid; expected Ingress or Egress'],
  ])('rejects bad input with one line naming the field (%#)', (spec, message) => {
    expect(() => fromKubernetesNetworkPolicy({ metadata: meta, spec: spec as never })).toThrow(message);
  });
});

describe('loading manifests', () => {
  it('reads Kubernetes and Calico policies and network sets, skipping other kinds', () => {
    const objs = loadPolicyObjects(`
apiVersion: v1
kind: Namespace
metadata: { name: x }
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: { name: k, namespace: x }
spec: { podSelector: {} }
---
apiVersion: crd.projectcalico.org/v1
kind: GlobalNetworkPolicy
metadata: { name: g }
spec:
  order: 5
  selector: has(app)
  types: [Egress]
  egress:
    - action: Allow
      protocol: UDP
      destination: { ports: [53, "60:70", dns] }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: { name: s, labels: { a: b } }
spec: { nets: [192.0.2.0/24] }
`);
    expect(objs.policies.map((p) => [p.kind, p.name, p.namespace])).toEqual([['KubernetesNetworkPolicy', 'k', 'x'], ['GlobalNetworkPolicy', 'g', undefined]]);
    expect(objs.policies[1]).toMatchObject({ order: 5, selector: 'has(app)', types: ['Egress'], egress: [{ action: 'Allow', protocol: 'UDP', destination: { ports: [53, '60:70', 'dns'] } }] });
    expect(objs.networkSets).toEqual([{ name: 's', labels: { a: 'b' }, nets: ['192.0.2.0/24'] }]);
  });

  it('names the document and field of bad input', () => {
    expect(() => loadPolicyObjects('apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: n, namespace: x }\nspec:\n  ingress:\n    - action: Allow\n      protocol: TCP\n      destination: { ports: [99999] }\n', 'policy.yaml'))
      .toThrow('policy.yaml: NetworkPolicy x/n.spec.ingress[0].destination.ports[0]: 99999 is not valid; expected a port number from 1 to 65535');
    expect(() => loadPolicyObjects('apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: { name: n }\nspec:\n  tier: security\n', 'policy.yaml'))
      .toThrow('policy.yaml: NetworkPolicy n.name: "n" is not valid; expected "security.<name>" (a policy in tier security is named after its tier)');
    expect(() => loadPolicyObjects('apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata: { name: sec.g }\nspec:\n  tier: sec.x\n', 'policy.yaml'))
      .toThrow('policy.yaml: GlobalNetworkPolicy sec.g.tier: "sec.x" is not valid; expected a DNS-1123 label');
    expect(() => loadPolicyObjects('a: [', 'bad.yaml')).toThrow(/^bad\.yaml\[0\]/);
  });
});
