import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { CalicoPolicySet, CalicoPolicySetProps } from '../../lib/constructs/policy/policy-set';
import { PolicyAction, PolicyPort, Protocol } from '../../lib/model/calico/policy';
import { Selector } from '../../lib/model/calico/selector';
import { CalicoNetwork } from '../../lib/pulumi/calico-network';
import { NetworkPolicySet } from '../../lib/pulumi/network-policy-set';
import { DependsOnRecorder, normalized, reachable, recordRegistrations, Registration, valueOf } from './harness';

let registrations: Registration[];
beforeAll(async () => {
  registrations = await recordRegistrations();
});

const PROPS: CalicoPolicySetProps = {
  defaultDeny: {},
  networkPolicies: [
    {
      name: 'mysql-from-web',
      namespace: 'db',
      selector: Selector.label('app').eq('mysql'),
      ingress: [
        {
          action: PolicyAction.ALLOW,
          protocol: Protocol.TCP,
          source: { selector: Selector.label('app').eq('web'), namespaceSelector: Selector.label('kubernetes.io/metadata.name').eq('default') },
          destination: { ports: [PolicyPort.number(3306)] },
        },
      ],
    },
  ],
  globalNetworkSets: [{ name: 'partners', nets: ['198.51.100.0/24'] }],
};

describe('NetworkPolicySet component under Pulumi mocks', () => {
  test('registers every policy and set the construct renders, each as its own Calico resource', async () => {
    const set = new NetworkPolicySet('policies', PROPS);
    await valueOf(set.policies);
    expect(registrations.find((r) => r.name === 'policies')).toMatchObject({ type: 'cnikit:index:NetworkPolicySet', custom: false });
    const chart = new Chart(new App(), 'cnikit-policies', { disableResourceNameHashes: true });
    new CalicoPolicySet(chart, 'Policies', PROPS);
    const expected = chart.toJson() as { kind: string; metadata: { name: string } }[];
    const children = registrations.filter((r) => r.custom && r.name.startsWith('policies-'));
    expect(children.map((r) => r.type).sort()).toEqual([
      'kubernetes:core/v1:Namespace',
      'kubernetes:crd.projectcalico.org/v1:GlobalNetworkPolicy',
      'kubernetes:crd.projectcalico.org/v1:GlobalNetworkSet',
      'kubernetes:crd.projectcalico.org/v1:NetworkPolicy',
    ]);
    expect(expected).toHaveLength(children.length);
    for (const object of expected) {
      const child = children.find((r) => r.inputs.kind === object.kind && (r.inputs.metadata as { name: string }).name === object.metadata.name);
      expect(normalized(child?.inputs)).toEqual(normalized(object));
    }
    expect(await valueOf(set.policies)).toEqual(expect.arrayContaining(['NetworkPolicy.crd.projectcalico.org/db/mysql-from-web']));
    expect(await valueOf(set.policies)).not.toContainEqual(expect.stringMatching(/^Namespace/));
    expect(await valueOf(set.namespaces)).toEqual(['db']);
  });

  test('with dependsOn on the Calico stack: the namespaces wait for it (its CRDs), every policy and set for the namespaces', async () => {
    const calico = new CalicoNetwork('net', {});
    const recorder = new DependsOnRecorder();
    const set = new NetworkPolicySet('after', PROPS, { dependsOn: [calico], transformations: [recorder.transformation] });
    await valueOf(set.policies);
    const nameOf = (r: pulumi.Resource): string => (r === calico ? 'net' : set.objects.find((o) => o.resource === r)?.name ?? '(other)');
    const edges = (name: string): string[] => recorder.dependenciesOf(name, nameOf);
    expect(set.objects.map((o) => o.name)).toEqual([
      'after-namespace-db', 'after-globalnetworkpolicy-default-deny', 'after-networkpolicy-db-mysql-from-web', 'after-globalnetworkset-partners',
    ]);
    expect(edges('after-namespace-db')).toEqual(['net']);
    for (const o of set.objects.slice(1)) {
      expect(edges(o.name)).toEqual(['after-namespace-db']);
      expect(reachable(o.name, edges)).toEqual(new Set(['after-namespace-db', 'net']));
    }
  });

  test('a set without namespaced objects (or with createNamespaces: false) creates no namespace: every object waits for the stack', async () => {
    const calico = new CalicoNetwork('net2', {});
    const recorder = new DependsOnRecorder();
    const set = new NetworkPolicySet('flat', { ...PROPS, createNamespaces: false }, { dependsOn: [calico], transformations: [recorder.transformation] });
    expect(await valueOf(set.namespaces)).toEqual([]);
    for (const o of set.objects) {
      expect(recorder.dependenciesOf(o.name, (r: pulumi.Resource) => (r === calico ? 'net2' : '(other)'))).toEqual(['net2']);
    }
  });

  test('fails on a duplicate policy name before registering anything', () => {
    const before = registrations.length;
    const twice = { networkPolicies: [PROPS.networkPolicies?.[0], PROPS.networkPolicies?.[0]].filter((p) => p !== undefined) };
    expect(() => new NetworkPolicySet('dup', twice)).toThrow('policies.networkPolicies[1].name: "mysql-from-web" is not valid; expected a NetworkPolicy name not used twice in namespace db');
    expect(registrations.length).toBe(before);
  });
});
