import { testChart } from '../../support/charts';
import { Testing } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import { stringify } from 'yaml';
import { CalicoGlobalNetworkPolicy } from '../../../lib/constructs/policy/calico-global-network-policy';
import { CalicoNetworkPolicy, CalicoNetworkPolicyProps } from '../../../lib/constructs/policy/calico-network-policy';
import { CalicoTier } from '../../../lib/constructs/policy/calico-tier';
import { DefaultDenyBaseline } from '../../../lib/constructs/policy/default-deny';
import { CalicoGlobalNetworkSet, CalicoNetworkSet } from '../../../lib/constructs/policy/network-set';
import { CalicoPolicySet, CalicoPolicySetProps } from '../../../lib/constructs/policy/policy-set';
import { PolicyAction, PolicyPort, PolicyType, Protocol } from '../../../lib/model/calico/policy';
import { Selector } from '../../../lib/model/calico/selector';
import { parseSelector } from '../../../lib/model/calico/selector-parser';
import { find, synthValid } from '../calico/synth';

describe('Kubernetes NetworkPolicy through cdk8s-plus-28', () => {
  test('only app=web in namespace default may reach app=mysql in namespace db on TCP 3306: exact YAML', () => {
    const chart = testChart();
    new kplus.NetworkPolicy(chart, 'MysqlFromWeb', {
      metadata: { name: 'mysql-allow-web', namespace: 'db' },
      selector: kplus.Pods.select(chart, 'Mysql', { labels: { app: 'mysql' } }),
      ingress: {
        rules: [{
          peer: kplus.Pods.select(chart, 'Web', { labels: { app: 'web' }, namespaces: kplus.Namespaces.select(chart, 'Default', { names: ['default'] }) }),
          ports: [kplus.NetworkPolicyPort.tcp(3306)],
        }],
      },
    });
    const objects = Testing.synth(chart);
    expect(stringify(objects)).toBe(`- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: mysql-allow-web
    namespace: db
  spec:
    ingress:
      - from:
          - namespaceSelector:
              matchLabels:
                kubernetes.io/metadata.name: default
            podSelector:
              matchLabels:
                app: web
        ports:
          - port: 3306
            protocol: TCP
    podSelector:
      matchLabels:
        app: mysql
    policyTypes:
      - Ingress
`);
    synthValid((c) => new kplus.NetworkPolicy(c, 'P', { selector: kplus.Pods.all(c, 'All'), ingress: { rules: [] } }));
  });
});

describe('Calico NetworkPolicy', () => {
  const web = Selector.label('app').eq('web');
  const props: CalicoNetworkPolicyProps = {
    name: 'mysql', namespace: 'db', order: 100,
    selector: Selector.label('app').eq('mysql'),
    ingress: [
      { action: PolicyAction.ALLOW, protocol: Protocol.TCP, source: { selector: web, namespaceSelector: Selector.label('kubernetes.io/metadata.name').eq('default') }, destination: { ports: [PolicyPort.number(3306)] } },
      { action: PolicyAction.ALLOW, protocol: Protocol.TCP, source: { nets: ['10.0.0.0/8'], notNets: ['10.9.0.0/16'], serviceAccountNames: ['backup'] }, destination: { ports: [PolicyPort.range(33060, 33062), PolicyPort.named('mysql-admin')] } },
      { action: PolicyAction.ALLOW, protocol: Protocol.ICMP, icmpType: 8, icmpCode: 0 },
      { action: PolicyAction.LOG },
      { action: PolicyAction.DENY },
    ],
    egress: [
      { action: PolicyAction.PASS, ipVersion: 4, protocol: Protocol.number(17), notProtocol: undefined, destination: { selector: "role == 'dns'", namespaceSelector: 'global()' } },
    ],
  };

  test('renders every rule feature and validates against its CRD schema', () => {
    const objects = synthValid((chart) => new CalicoNetworkPolicy(chart, 'P', props));
    expect(find(objects, 'NetworkPolicy', 'mysql')).toEqual({
      apiVersion: 'crd.projectcalico.org/v1', kind: 'NetworkPolicy', metadata: { name: 'mysql', namespace: 'db' },
      spec: {
        order: 100,
        selector: "app == 'mysql'",
        types: ['Ingress', 'Egress'],
        ingress: [
          { action: 'Allow', protocol: 'TCP', source: { selector: "app == 'web'", namespaceSelector: "kubernetes.io/metadata.name == 'default'" }, destination: { ports: [3306] } },
          { action: 'Allow', protocol: 'TCP', source: { nets: ['10.0.0.0/8'], notNets: ['10.9.0.0/16'], serviceAccounts: { names: ['backup'] } }, destination: { ports: ['33060:33062', 'mysql-admin'] } },
          { action: 'Allow', protocol: 'ICMP', icmp: { type: 8, code: 0 } },
          { action: 'Log' },
          { action: 'Deny' },
        ],
        egress: [{ action: 'Pass', ipVersion: 4, protocol: 17, destination: { selector: "role == 'dns'", namespaceSelector: 'global()' } }],
      },
    });
  });

  test('selectors survive the trip through the resource: rendered text parses back to the built selector', () => {
    const objects = synthValid((chart) => new CalicoNetworkPolicy(chart, 'P', props));
    const spec = find(objects, 'NetworkPolicy', 'mysql').spec as { ingress: { source: { selector: string } }[] };
    expect(parseSelector(spec.ingress[0].source.selector).equals(web)).toBe(true);
  });

  test.each<[string, Partial<CalicoNetworkPolicyProps>, string]>([
    ['an invalid selector', { selector: "app == 'mysql" }, `networkPolicy[p].selector: "app == 'mysql" is not a valid selector; expected a closing ' at position 7`],
    ['ports without a protocol', { ingress: [{ action: PolicyAction.ALLOW, destination: { ports: [PolicyPort.number(80)] } }] },
      'networkPolicy[p].ingress[0].destination.ports: [80] is not valid; expected a rule protocol with ports'],
    ['ports with ICMP', { ingress: [{ action: PolicyAction.ALLOW, protocol: Protocol.ICMP, destination: { ports: [PolicyPort.number(80)] } }] },
      'expected a rule protocol with ports (TCP, UDP, SCTP or UDPLite)'],
    ['ICMP type without ICMP', { ingress: [{ action: PolicyAction.ALLOW, protocol: Protocol.TCP, icmpType: 8 }] },
      'networkPolicy[p].ingress[0].icmpType: 8 is not valid; expected unset unless the rule protocol is ICMP or ICMPv6'],
    ['ICMP code without type', { ingress: [{ action: PolicyAction.ALLOW, protocol: Protocol.ICMP, icmpCode: 1 }] },
      'networkPolicy[p].ingress[0].icmpCode: 1 is not valid; expected unset unless'],
    ['ICMP type out of range', { ingress: [{ action: PolicyAction.ALLOW, protocol: Protocol.ICMP, icmpType: 255 }] },
      'networkPolicy[p].ingress[0].icmpType: 255 is not valid; expected an ICMP type from 0 to 254'],
    ['a net of the wrong family', { egress: [{ action: PolicyAction.ALLOW, ipVersion: 6, destination: { nets: ['10.0.0.0/8'] } }] },
      'networkPolicy[p].egress[0].destination.nets[0]: "10.0.0.0/8" is not valid; expected an IPv6 CIDR'],
    ['a bad net', { egress: [{ action: PolicyAction.ALLOW, destination: { nets: ['10.0.0.1/8'] } }] },
      'networkPolicy[p].egress[0].destination.nets[0]: "10.0.0.1/8" is not valid; expected a network address'],
    ['egress rules without the Egress type', { types: [PolicyType.INGRESS], egress: [{ action: PolicyAction.DENY }] },
      'networkPolicy[p].types: ["Ingress"] is not valid; expected to include Egress'],
    ['an unknown action', { ingress: [{ action: 'Accept' as PolicyAction }] },
      'networkPolicy[p].ingress[0].action: "Accept" is not valid; expected one of Allow, Deny, Pass, Log'],
    ['a negative order', { order: -1 }, 'networkPolicy[p].order: -1 is not valid; expected a number of at least 0'],
  ])('fails on %s', (_n, overrides, message) => {
    expect(() => new CalicoNetworkPolicy(testChart(), 'P', { name: 'p', namespace: 'db', ...overrides })).toThrow(message);
  });

  test('fails on bad ports, protocols and port names at the factories', () => {
    expect(() => PolicyPort.number(0)).toThrow('port: 0 is not valid; expected a port number from 1 to 65535');
    expect(() => PolicyPort.range(90, 80)).toThrow('port range: "90:80" is not valid');
    expect(() => PolicyPort.named('HTTP')).toThrow('port name: "HTTP" is not valid');
    expect(() => Protocol.number(256)).toThrow('protocol: 256 is not valid; expected a protocol number from 1 to 255');
  });
});

describe('Calico GlobalNetworkPolicy, network sets and the default-deny baseline', () => {
  test('a host-endpoint policy with preDNAT, and network sets', () => {
    const objects = synthValid((chart) => {
      new CalicoGlobalNetworkPolicy(chart, 'G', {
        name: 'ssh-from-admins', order: 10, selector: Selector.has('host-endpoint'), preDNAT: true,
        ingress: [{ action: PolicyAction.ALLOW, protocol: Protocol.TCP, source: { selector: "role == 'admin-nets'" }, destination: { ports: [PolicyPort.number(22)] } }],
      });
      new CalicoGlobalNetworkSet(chart, 'S', { name: 'admin-nets', labels: { role: 'admin-nets' }, nets: ['192.0.2.0/24', '198.51.100.7'] });
      new CalicoNetworkSet(chart, 'N', { name: 'partners', namespace: 'shop', labels: { partner: 'true' }, nets: ['203.0.113.0/24'] });
    }, 'apps');
    expect(find(objects, 'GlobalNetworkPolicy', 'ssh-from-admins')).toEqual({
      apiVersion: 'crd.projectcalico.org/v1', kind: 'GlobalNetworkPolicy', metadata: { name: 'ssh-from-admins' },
      spec: {
        order: 10, selector: 'has(host-endpoint)', types: ['Ingress'], preDNAT: true, applyOnForward: true,
        ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "role == 'admin-nets'" }, destination: { ports: [22] } }],
      },
    });
    expect(find(objects, 'GlobalNetworkSet', 'admin-nets').spec).toEqual({ nets: ['192.0.2.0/24', '198.51.100.7/32'] });
    expect(find(objects, 'NetworkSet', 'partners').metadata).toEqual({ name: 'partners', namespace: 'shop', labels: { partner: 'true' } });
  });

  test('a Tier and policies in it (named <tier>.<name>), validated against the CRD schema', () => {
    const objects = synthValid((chart) => {
      new CalicoTier(chart, 'T', { name: 'security', order: 100, defaultAction: 'Pass' });
      new CalicoTier(chart, 'L', { name: 'late' });
      new CalicoGlobalNetworkPolicy(chart, 'G', { name: 'security.block', tier: 'security', ingress: [{ action: PolicyAction.DENY, source: { nets: ['192.0.2.0/24'] } }, { action: PolicyAction.PASS }] });
      new CalicoNetworkPolicy(chart, 'N', { name: 'web', namespace: 'shop', tier: 'default', ingress: [{ action: PolicyAction.ALLOW }] });
    }, 'apps');
    expect(find(objects, 'Tier', 'security')).toEqual({ apiVersion: 'crd.projectcalico.org/v1', kind: 'Tier', metadata: { name: 'security' }, spec: { order: 100, defaultAction: 'Pass' } });
    expect(find(objects, 'Tier', 'late').spec).toEqual({ defaultAction: 'Deny' });
    expect(find(objects, 'GlobalNetworkPolicy', 'security.block').spec).toMatchObject({ tier: 'security' });
    expect(find(objects, 'NetworkPolicy', 'web').spec).not.toHaveProperty('tier'); // default: left out, as Calico does
  });

  test('tier names and the <tier>.<name> rule are checked, naming the field', () => {
    expect(() => new CalicoGlobalNetworkPolicy(testChart(), 'G', { name: 'block', tier: 'security' }))
      .toThrow('globalNetworkPolicy[block].name: "block" is not valid; expected "security.<name>" (a policy in tier security is named after its tier)');
    expect(() => new CalicoNetworkPolicy(testChart(), 'N', { name: 'a.b', namespace: 'x', tier: 'A' }))
      .toThrow('networkPolicy[a.b].tier: "A" is not valid; expected a DNS-1123 label');
    expect(() => new CalicoTier(testChart(), 'T', { name: 'security', order: -1 })).toThrow('tier[security].order: -1 is not valid; expected a number of at least 0');
    expect(() => new CalicoTier(testChart(), 'T', { name: 'security', defaultAction: 'Allow' as never })).toThrow('tier[security].defaultAction: "Allow" is not valid; expected Deny or Pass');
  });

  test('host-endpoint flag conflicts fail', () => {
    expect(() => new CalicoGlobalNetworkPolicy(testChart(), 'G', { name: 'x', doNotTrack: true, preDNAT: true }))
      .toThrow('globalNetworkPolicy[x].preDNAT: true is not valid; expected false when doNotTrack is true');
    expect(() => new CalicoGlobalNetworkPolicy(testChart(), 'G', { name: 'x', preDNAT: true, egress: [{ action: PolicyAction.DENY }] }))
      .toThrow('expected only Ingress for a preDNAT policy');
  });

  test('default deny in both directions, DNS still allowed, system namespaces untouched', () => {
    const objects = synthValid((chart) => new DefaultDenyBaseline(chart, 'Deny'));
    expect(find(objects, 'GlobalNetworkPolicy', 'default-deny').spec).toEqual({
      selector: 'all()',
      namespaceSelector: "kubernetes.io/metadata.name not in {'kube-system'}",
      types: ['Ingress', 'Egress'],
      egress: [
        { action: 'Allow', protocol: 'UDP', destination: { selector: "k8s-app == 'kube-dns'", namespaceSelector: "kubernetes.io/metadata.name == 'kube-system'", ports: [53] } },
        { action: 'Allow', protocol: 'TCP', destination: { selector: "k8s-app == 'kube-dns'", namespaceSelector: "kubernetes.io/metadata.name == 'kube-system'", ports: [53] } },
      ],
    });
  });
});

describe('CalicoPolicySet', () => {
  test('renders a set described as data and rejects a duplicate name', () => {
    const objects = synthValid((chart) => new CalicoPolicySet(chart, 'Set', {
      defaultDeny: {},
      networkPolicies: [{ name: 'a', namespace: 'x' }, { name: 'a', namespace: 'y' }],
      globalNetworkSets: [{ name: 'n', nets: ['192.0.2.0/24'] }],
    }));
    expect(objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`)).toEqual([
      'Namespace//x', 'Namespace//y', 'GlobalNetworkPolicy//default-deny', 'NetworkPolicy/x/a', 'NetworkPolicy/y/a', 'GlobalNetworkSet//n',
    ]);
    expect(() => new CalicoPolicySet(testChart(), 'Set', { networkPolicies: [{ name: 'a', namespace: 'x' }, { name: 'a', namespace: 'x' }] }))
      .toThrow('policies.networkPolicies[1].name: "a" is not valid; expected a NetworkPolicy name not used twice in namespace x');
  });

  const shopSet: CalicoPolicySetProps = {
    defaultDeny: {},
    networkPolicies: [
      { name: 'frontend', namespace: 'shop' },
      { name: 'dns', namespace: 'kube-system' },
      { name: 'ingress', namespace: 'ingress-nginx' },
      { name: 'api', namespace: 'shop' },
      { name: 'legacy', namespace: 'default' },
    ],
    networkSets: [{ name: 'partners', namespace: 'partners', nets: ['203.0.113.0/24'] }, { name: 'cdn', namespace: 'shop', nets: ['198.51.100.0/24'] }],
  };
  const keys = (objects: readonly { kind: string; metadata: { name: string; namespace?: string } }[]): string[] =>
    objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);

  test('renders a Namespace for each namespace its objects use, once, ahead of every object; never kube-system or default', () => {
    let set!: CalicoPolicySet;
    // A chart namespace is stamped on cluster-scoped objects too (cdk8s-core#731): the Namespaces must not carry it.
    const objects = synthValid((chart) => {
      set = new CalicoPolicySet(chart, 'Set', shopSet);
    }, 'elsewhere');
    expect(set.namespaces).toEqual(['shop', 'ingress-nginx', 'partners']);
    expect(keys(objects)).toEqual([
      'Namespace//shop', 'Namespace//ingress-nginx', 'Namespace//partners',
      'GlobalNetworkPolicy//default-deny',
      'NetworkPolicy/shop/frontend', 'NetworkPolicy/kube-system/dns', 'NetworkPolicy/ingress-nginx/ingress', 'NetworkPolicy/shop/api', 'NetworkPolicy/default/legacy',
      'NetworkSet/partners/partners', 'NetworkSet/shop/cdn',
    ]);
    expect(find(objects, 'Namespace', 'shop')).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' }, spec: {} });
  });

  test('existingNamespaces are left to whoever creates them; createNamespaces: false renders none', () => {
    const some = synthValid((chart) => new CalicoPolicySet(chart, 'Set', { ...shopSet, existingNamespaces: ['shop', 'kube-public'] }));
    expect(keys(some).filter((k) => k.startsWith('Namespace/'))).toEqual(['Namespace//ingress-nginx', 'Namespace//partners']);
    const none = synthValid((chart) => new CalicoPolicySet(chart, 'Set', { ...shopSet, createNamespaces: false }));
    expect(keys(none).filter((k) => k.startsWith('Namespace/'))).toEqual([]);
    expect(none).toHaveLength(keys(some).length - 2);
  });

  test('fails on namespaces that cannot exist and on a bad namespace list, naming the field', () => {
    const build = (props: CalicoPolicySetProps) => () => new CalicoPolicySet(testChart(), 'Set', props);
    expect(build({ networkPolicies: [{ name: 'a', namespace: 'team.shop' }] }))
      .toThrow('policies.networkPolicies[0].namespace: "team.shop" is not valid; expected a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)');
    expect(build({ networkSets: [{ name: 'n', namespace: 'team.shop', nets: ['192.0.2.0/24'] }], createNamespaces: false }))
      .toThrow('policies.networkSets[0].namespace: "team.shop" is not valid; expected a DNS-1123 label');
    expect(build({ ...shopSet, existingNamespaces: ['shop', 'Shop'] }))
      .toThrow('policies.existingNamespaces[1]: "Shop" is not valid; expected a DNS-1123 label');
    expect(build({ ...shopSet, existingNamespaces: ['shop', 'shop'] }))
      .toThrow('policies.existingNamespaces[1]: "shop" is not valid; expected each namespace listed once');
    expect(build({ ...shopSet, createNamespaces: 'yes' as never }))
      .toThrow('policies.createNamespaces: "yes" is not valid; expected true or false');
  });
});

test('unknown fields in policies and rules are errors', () => {
  expect(() => new CalicoNetworkPolicy(testChart(), 'P', { name: 'p', namespace: 'x', ingress: [{ action: PolicyAction.ALLOW, port: 80 } as never] }))
    .toThrow('networkPolicy[p].ingress[0].port: "port" is not valid; expected an option of a policy rule: action, protocol');
  expect(() => new CalicoGlobalNetworkPolicy(testChart(), 'G', { name: 'g', namespace: 'x' } as never))
    .toThrow('globalNetworkPolicy[g].namespace: "namespace" is not valid; expected an option of a policy');
});
