import { fromKubernetesNetworkPolicy, K8sNetworkPolicy } from '../../../lib/dataplane/policy/kubernetes';
import { loadPolicyObjects } from '../../../lib/dataplane/policy/load';
import { Policy, PolicyNetworkSet, PolicyTier } from '../../../lib/dataplane/policy/types';
import type { NamedPortSpec, PolicyLabSpec, ProbeCase } from '../../../lib/lab/policy-lab';

/**
 * The policy test matrix: the k8s e2e layout (namespaces x, y, z × pods a, b, c) and one scenario
 * per semantic feature. Unit tests check the reference evaluator against the hand-written
 * expectations; the lab tests check the real kernel against the evaluator on every pair.
 */
const PORTS_AB: NamedPortSpec[] = [
  { port: 80, protocol: 'TCP', name: 'http' }, { port: 81, protocol: 'TCP' },
  { port: 80, protocol: 'UDP', name: 'udp-serve' }, { port: 80, protocol: 'SCTP', name: 'sctp-serve' },
];
// Pod c names port 81 "http": a named port resolves per destination pod.
const PORTS_C: NamedPortSpec[] = [
  { port: 80, protocol: 'TCP' }, { port: 81, protocol: 'TCP', name: 'http' },
  { port: 80, protocol: 'UDP', name: 'udp-serve' }, { port: 80, protocol: 'SCTP', name: 'sctp-serve' },
];

export const MATRIX: PolicyLabSpec = {
  namespaces: [
    { name: 'x', labels: { team: 'blue', env: 'prod' } },
    { name: 'y', labels: { team: 'red', env: 'prod' } },
    { name: 'z', labels: { team: 'blue' } },
  ],
  pods: ['x', 'y', 'z'].flatMap((ns) => ['a', 'b', 'c'].map((pod) => ({
    namespace: ns,
    name: pod,
    labels: { pod, ...(pod === 'a' ? { app: 'web-frontend' } : {}) },
    serviceAccount: pod === 'a' ? 'api' : 'default',
    ports: pod === 'c' ? PORTS_C : PORTS_AB,
  }))),
  serviceAccounts: ['x', 'y', 'z'].map((ns) => ({ namespace: ns, name: 'api', labels: { role: 'api' } })),
};

/** The lab gives pods 10.66.0.2, .3, … in MATRIX order: x/a .2, x/b .3, x/c .4, y/a .5, … z/c .10. */
export function ipOf(key: string): string {
  return `10.66.0.${2 + MATRIX.pods.findIndex((p) => `${p.namespace}/${p.name}` === key)}`;
}

/** `[from, to, protocol, port | undefined, allowed]` */
export type Expectation = readonly [string, string, ProbeCase['protocol'], number | undefined, boolean];

export interface Scenario {
  readonly name: string;
  readonly policies: readonly Policy[];
  readonly networkSets?: readonly PolicyNetworkSet[];
  /** Tiers besides `default`. @default - none */
  readonly tiers?: readonly PolicyTier[];
  /** Probe cases for the lab run. @default TCP/80, TCP/81, UDP/80, SCTP/80 */
  readonly cases?: readonly ProbeCase[];
  readonly expect: readonly Expectation[];
}

const knp = (namespace: string, name: string, spec: K8sNetworkPolicy['spec']): Policy => fromKubernetesNetworkPolicy({ metadata: { name, namespace }, spec });
const calico = (yaml: string) => loadPolicyObjects(yaml, 'scenario');
const T80: ProbeCase = { protocol: 'TCP', port: 80 };
const T81: ProbeCase = { protocol: 'TCP', port: 81 };
const U80: ProbeCase = { protocol: 'UDP', port: 80 };
const S80: ProbeCase = { protocol: 'SCTP', port: 80 };
const ICMP: ProbeCase = { protocol: 'ICMP' };
const DENY_ALL_X = knp('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress'] });

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'no policy: every pod open',
    policies: [],
    expect: [['x/a', 'y/b', 'TCP', 80, true], ['z/c', 'x/a', 'SCTP', 80, true], ['y/a', 'x/c', 'UDP', 80, true]],
  },
  {
    name: 'k8s: default deny ingress isolates the namespace, egress stays open',
    policies: [DENY_ALL_X],
    expect: [['y/a', 'x/a', 'TCP', 80, false], ['x/b', 'x/a', 'UDP', 80, false], ['x/a', 'y/a', 'TCP', 80, true], ['y/a', 'z/a', 'TCP', 80, true]],
  },
  {
    name: 'k8s: podSelector picks the target; peer podSelector is same-namespace only',
    policies: [knp('x', 'allow-b-to-a', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })],
    expect: [['x/b', 'x/a', 'TCP', 80, true], ['y/b', 'x/a', 'TCP', 80, false], ['x/c', 'x/a', 'TCP', 80, false], ['y/b', 'x/b', 'TCP', 80, true]],
  },
  {
    name: 'k8s: namespaceSelector alone admits every pod of matching namespaces (empty = all namespaces)',
    policies: [
      knp('x', 'from-red', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'red' } } }] }] }),
      knp('x', 'b-from-all-ns', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ from: [{ namespaceSelector: {} }] }] }),
    ],
    expect: [['y/c', 'x/a', 'TCP', 80, true], ['z/a', 'x/a', 'TCP', 80, false], ['x/b', 'x/a', 'TCP', 80, false], ['z/c', 'x/b', 'TCP', 80, true]],
  },
  {
    name: 'k8s: namespaceSelector and podSelector in one peer AND, in two peers OR',
    policies: [
      knp('x', 'and', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } }, podSelector: { matchLabels: { pod: 'b' } } }] }] }),
      knp('x', 'or', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'red' } } }, { podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    ],
    expect: [
      ['z/b', 'x/a', 'TCP', 80, true], ['z/c', 'x/a', 'TCP', 80, false], ['y/b', 'x/a', 'TCP', 80, false],
      ['y/a', 'x/c', 'TCP', 80, true], ['x/b', 'x/c', 'TCP', 80, true], ['z/b', 'x/c', 'TCP', 80, false],
    ],
  },
  {
    name: 'k8s: matchExpressions In, NotIn, Exists, DoesNotExist (also on kubernetes.io/metadata.name)',
    policies: [
      knp('x', 'in', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['y'] }] } }] }] }),
      knp('x', 'notin', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a', 'b'] }] }, ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }, podSelector: { matchExpressions: [{ key: 'app', operator: 'Exists' }] } }] }] }),
    ],
    expect: [
      ['y/c', 'x/a', 'TCP', 80, true], ['z/c', 'x/b', 'TCP', 80, false], ['x/c', 'x/a', 'TCP', 80, false],
      ['z/a', 'x/c', 'TCP', 80, true], ['z/b', 'x/c', 'TCP', 80, false], ['y/a', 'x/c', 'TCP', 80, false],
    ],
  },
  {
    name: 'k8s: ipBlock with except; an excepted address allowed by another rule stays allowed',
    policies: [
      knp('x', 'cidr', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ ipBlock: { cidr: '10.66.0.0/28', except: ['10.66.0.4/30', '10.66.0.8/32'] } }] }] }),
      knp('x', 'extra', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } }, podSelector: { matchLabels: { pod: 'a' } } }] }] }),
    ],
    // x/b .3 in; x/c .4, y/a .5, y/b .6, y/c .7 excepted; z/a .8 excepted but allowed by "extra"; z/b .9 in.
    expect: [['x/b', 'x/a', 'TCP', 80, true], ['y/a', 'x/a', 'TCP', 80, false], ['z/a', 'x/a', 'TCP', 80, true], ['z/b', 'x/a', 'UDP', 80, true], ['z/c', 'x/a', 'TCP', 80, true]],
  },
  {
    name: 'k8s: numbered port, protocol-only port, endPort range; TCP/UDP/SCTP distinct',
    policies: [
      knp('x', 'tcp81', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 81 }] }] }),
      knp('x', 'udp-any', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ protocol: 'UDP' }] }] }),
      knp('x', 'range', { podSelector: { matchLabels: { pod: 'c' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 79, endPort: 80 }, { protocol: 'SCTP', port: 80 }] }] }),
    ],
    expect: [
      ['y/a', 'x/a', 'TCP', 81, true], ['y/a', 'x/a', 'TCP', 80, false], ['y/a', 'x/a', 'UDP', 80, false],
      ['y/a', 'x/b', 'UDP', 80, true], ['y/a', 'x/b', 'TCP', 80, false], ['y/a', 'x/b', 'SCTP', 80, false],
      ['y/a', 'x/c', 'TCP', 80, true], ['y/a', 'x/c', 'TCP', 81, false], ['y/a', 'x/c', 'SCTP', 80, true], ['y/a', 'x/c', 'UDP', 80, false],
    ],
  },
  {
    name: 'k8s: named ports resolve per destination pod and need the matching protocol',
    policies: [
      knp('x', 'named', { podSelector: {}, ingress: [{ ports: [{ port: 'http' }, { port: 'sctp-serve', protocol: 'SCTP' }, { port: 'udp-serve', protocol: 'TCP' }] }] }),
    ],
    expect: [
      ['y/a', 'x/a', 'TCP', 80, true], ['y/a', 'x/a', 'TCP', 81, false], ['y/a', 'x/c', 'TCP', 81, true], ['y/a', 'x/c', 'TCP', 80, false],
      ['y/a', 'x/b', 'SCTP', 80, true], ['y/a', 'x/b', 'UDP', 80, false],
    ],
  },
  {
    name: 'k8s: egress isolation; client-side egress deny wins over a server allow; policyTypes omitted → Ingress+Egress',
    policies: [
      knp('y', 'egress-to-x-a', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{ to: [{ namespaceSelector: { matchLabels: { team: 'blue' } }, podSelector: { matchLabels: { pod: 'a' } } }], ports: [{ protocol: 'TCP', port: 80 }] }] }),
      knp('y', 'egress-only', { podSelector: { matchLabels: { pod: 'b' } }, policyTypes: ['Egress'] }),
      knp('x', 'allow-all-in', { podSelector: {}, ingress: [{}] }),
    ],
    expect: [
      ['y/a', 'x/a', 'TCP', 80, true], ['y/a', 'x/a', 'TCP', 81, false], ['y/a', 'x/b', 'TCP', 80, false], ['y/a', 'z/a', 'TCP', 80, true],
      ['x/a', 'y/a', 'TCP', 80, false], // y/a is also ingress-isolated (policyTypes omitted, egress rules given → both)
      ['y/b', 'x/a', 'TCP', 80, false], ['x/a', 'y/b', 'TCP', 80, true], ['z/c', 'x/c', 'UDP', 80, true],
    ],
  },
  {
    name: 'k8s: union of overlapping policies (allow-all beside narrow ones) is order-free',
    policies: [
      knp('x', 'narrow', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 81 }] }] }),
      knp('x', 'narrow2', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'red' } } }], ports: [{ protocol: 'UDP', port: 80 }] }] }),
    ],
    expect: [['x/b', 'x/a', 'TCP', 81, true], ['x/b', 'x/a', 'TCP', 80, false], ['y/b', 'x/a', 'UDP', 80, true], ['y/b', 'x/a', 'TCP', 81, false], ['x/c', 'x/b', 'TCP', 80, true]],
  },
  {
    name: 'calico: order decides (Deny at 100 beats the k8s Allow at 1000), unset order last, Log continues',
    policies: [
      knp('x', 'allow-all', { podSelector: {}, ingress: [{}] }),
      ...calico(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: deny-red-to-a }
spec:
  order: 100
  selector: pod == 'a' && projectcalico.org/namespace == 'x'
  ingress:
    - action: Log
    - action: Deny
      source: { namespaceSelector: team == 'red' }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: late-deny, namespace: x }
spec:
  selector: all()
  ingress:
    - action: Deny
`).policies,
    ],
    expect: [['y/a', 'x/a', 'TCP', 80, false], ['z/a', 'x/a', 'TCP', 80, true], ['y/a', 'x/b', 'TCP', 80, true]],
  },
  {
    name: 'calico: Pass skips the rest of the tier to the namespace profile (allow); end of tier denies',
    policies: calico(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: pass-blue }
spec:
  order: 10
  selector: projectcalico.org/namespace == 'x'
  ingress:
    - action: Pass
      source: { namespaceSelector: team == 'blue' }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: deny-rest }
spec:
  order: 20
  selector: projectcalico.org/namespace == 'x'
  ingress:
    - action: Deny
      source: { selector: pod == 'b' }
`).policies,
    expect: [['z/b', 'x/a', 'TCP', 80, true], ['y/b', 'x/a', 'TCP', 80, false], ['y/c', 'x/a', 'TCP', 80, false], ['x/b', 'x/a', 'UDP', 80, true]],
  },
  {
    name: 'calico: selector operators (has, in, not in, contains, starts with, ends with, !, ||), notSelector, notProtocol, notPorts',
    policies: calico(`
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: ops }
spec:
  order: 1
  selector: has(app) && app starts with 'web' && app ends with 'end' && app contains 'front' && projectcalico.org/namespace in {'x', 'y'}
  ingress:
    - action: Allow
      protocol: TCP
      destination: { notPorts: [81] }
      source: { selector: "pod not in {'a'} && !(pod == 'c' || projectcalico.org/namespace == 'z')" }
    - action: Allow
      notProtocol: TCP
      source: { selector: all(), notSelector: "projectcalico.org/namespace == 'x'" }
`).policies,
    expect: [
      ['y/b', 'x/a', 'TCP', 80, true], ['y/b', 'x/a', 'TCP', 81, false], ['z/b', 'x/a', 'TCP', 80, false], ['x/c', 'x/a', 'TCP', 80, false],
      ['z/c', 'y/a', 'UDP', 80, true], ['x/b', 'y/a', 'UDP', 80, false], ['z/c', 'y/a', 'SCTP', 80, true], ['z/c', 'z/a', 'TCP', 80, true],
    ],
  },
  {
    name: 'calico: nets/notNets, ipVersion and ICMP type/code, notICMP',
    cases: [T80, ICMP],
    policies: calico(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: icmp, namespace: x }
spec:
  selector: pod == 'a'
  ingress:
    - action: Allow
      protocol: ICMP
      icmp: { type: 8, code: 0 }
      source: { nets: [10.66.0.0/29] }
    - action: Allow
      ipVersion: 4
      protocol: TCP
      source: { nets: [10.66.0.0/28], notNets: [10.66.0.8/30] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: not-icmp, namespace: x }
spec:
  selector: pod == 'b'
  ingress:
    - action: Allow
      protocol: ICMP
      notICMP: { type: 8 }
`).policies,
    expect: [
      ['x/b', 'x/a', 'ICMP', undefined, true], ['y/c', 'x/a', 'ICMP', undefined, true], ['z/a', 'x/a', 'ICMP', undefined, false], ['y/c', 'x/a', 'TCP', 80, true], ['z/a', 'x/a', 'TCP', 80, false],
      ['x/a', 'x/b', 'ICMP', undefined, false],
    ],
  },
  {
    name: 'calico: serviceAccounts in rules and serviceAccountSelector on the policy',
    policies: calico(`
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: from-api, namespace: x }
spec:
  selector: all()
  serviceAccountSelector: "!has(role)"
  ingress:
    - action: Allow
      source: { serviceAccounts: { names: [api] }, namespaceSelector: all() }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: sa-selector }
spec:
  selector: projectcalico.org/namespace == 'z'
  ingress:
    - action: Allow
      source: { serviceAccounts: { selector: role == 'api' } }
`).policies,
    expect: [
      ['y/a', 'x/b', 'TCP', 80, true], ['y/b', 'x/b', 'TCP', 80, false], ['y/b', 'x/a', 'TCP', 80, true],
      ['x/a', 'z/c', 'TCP', 80, true], ['x/c', 'z/c', 'TCP', 80, false],
    ],
  },
  {
    name: 'calico: NetworkSet by selector, GlobalNetworkSet by a global policy and by namespaceSelector global()',
    ...(() => {
      const objs = calico(`
apiVersion: projectcalico.org/v3
kind: NetworkSet
metadata: { name: y-low, namespace: x, labels: { role: trusted } }
spec: { nets: [10.66.0.4/30] }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkSet
metadata: { name: z-range, labels: { zone: z } }
spec: { nets: [10.66.0.8/29] }
---
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: { name: trusted, namespace: x }
spec:
  selector: pod == 'a'
  ingress:
    - action: Allow
      source: { selector: role == 'trusted' }
    - action: Allow
      source: { namespaceSelector: global(), selector: zone == 'z' }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: gns }
spec:
  selector: projectcalico.org/namespace == 'y'
  ingress:
    - action: Allow
      source: { selector: zone == 'z' }
`);
      return { policies: objs.policies, networkSets: objs.networkSets };
    })(),
    // 10.66.0.4/30 = x/c, y/a, y/b, y/c; 10.66.0.8/29 = z/a, z/b, z/c.
    expect: [
      ['y/a', 'x/a', 'TCP', 80, true], ['x/b', 'x/a', 'TCP', 80, false], ['z/b', 'x/a', 'TCP', 80, true],
      ['z/c', 'y/a', 'TCP', 80, true], ['x/a', 'y/a', 'TCP', 80, false],
    ],
  },
  {
    name: 'calico tiers: an earlier tier\'s Deny beats the default tier; Pass (rule or defaultAction) goes on to the next tier',
    ...(() => {
      const objs = calico(`
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: security }
spec: { order: 100 }
---
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: platform }
spec: { order: 200, defaultAction: Pass }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: security.block-red }
spec:
  tier: security
  selector: projectcalico.org/namespace == 'x'
  ingress:
    - action: Deny
      source: { namespaceSelector: team == 'red' }
    - action: Pass
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: platform.from-c }
spec:
  tier: platform
  selector: pod == 'a'
  ingress:
    - action: Allow
      protocol: TCP
      source: { selector: pod == 'c' }
`);
      return { policies: [...objs.policies, knp('x', 'a-from-b', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }] })], tiers: objs.tiers };
    })(),
    expect: [
      ['y/b', 'x/a', 'TCP', 80, false], // security Deny
      ['z/b', 'x/a', 'TCP', 80, false], // security Pass, platform Pass (default action), default tier denies
      ['x/b', 'x/a', 'TCP', 80, true], // passed twice, allowed by the Kubernetes policy
      ['z/c', 'x/a', 'TCP', 80, true], // platform Allow before the default tier
      ['z/c', 'x/a', 'UDP', 80, false], // platform passes, default tier denies
      ['x/c', 'x/b', 'TCP', 80, true], // passed by security, no policy in the later tiers: profile
      ['y/a', 'x/b', 'TCP', 80, false],
      ['x/a', 'y/a', 'TCP', 80, true], // platform passes, no default-tier policy for y/a
      ['y/c', 'y/a', 'TCP', 80, true],
    ],
  },
  {
    name: 'calico tiers: a tier with no policy for the endpoint is skipped; its default Deny applies only where its policies select',
    ...(() => {
      const objs = calico(`
apiVersion: projectcalico.org/v3
kind: Tier
metadata: { name: security }
spec: { order: 10 }
---
apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: { name: security.z-from-blue }
spec:
  tier: security
  selector: projectcalico.org/namespace == 'z'
  ingress:
    - action: Allow
      source: { namespaceSelector: team == 'blue' }
`);
      return { policies: [...objs.policies, DENY_ALL_X], tiers: objs.tiers };
    })(),
    expect: [
      ['y/a', 'z/a', 'TCP', 80, false], ['x/a', 'z/a', 'TCP', 80, true], ['y/a', 'y/b', 'TCP', 80, true],
      ['y/a', 'x/a', 'TCP', 80, false], ['z/a', 'x/b', 'UDP', 80, false],
    ],
  },
];

export const DEFAULT_CASES: readonly ProbeCase[] = [T80, T81, U80, S80];
