import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { CalicoPolicySet, CalicoPolicySetProps } from '../../lib/constructs/policy/policy-set';
import { PolicyAction, PolicyPort, Protocol } from '../../lib/model/calico/policy';
import { Selector } from '../../lib/model/calico/selector';
import { CalicoNetwork } from '../../lib/pulumi/calico-network';
import { NetworkPolicySet } from '../../lib/pulumi/network-policy-set';
import { DependsOnRecorder, normalized, recordRegistrations, Registration, valueOf } from './harness';

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
      'kubernetes:crd.projectcalico.org/v1:GlobalNetworkPolicy',
      'kubernetes:crd.projectcalico.org/v1:GlobalNetworkSet',
      'kubernetes:crd.projectcalico.org/v1:NetworkPolicy',
    ]);
    for (const object of expected) {
      const child = children.find((r) => r.inputs.kind === object.kind && (r.inputs.metadata as { name: string }).name === object.metadata.name);
      expect(normalized(child?.inputs)).toEqual(normalized(object));
    }
    expect(await valueOf(set.policies)).toEqual(expect.arrayContaining(['NetworkPolicy.crd.projectcalico.org/db/mysql-from-web']));
  });

  test('with dependsOn on the Calico stack, every policy waits for it (its CRDs)', async () => {
    const calico = new CalicoNetwork('net', {});
    const recorder = new DependsOnRecorder();
    const set = new NetworkPolicySet('after', PROPS, { dependsOn: [calico], transformations: [recorder.transformation] });
    await valueOf(set.policies);
    for (const o of set.objects) {
      expect(recorder.dependenciesOf(o.name, (r: pulumi.Resource) => (r === calico ? 'net' : '(other)'))).toEqual(['net']);
    }
  });

  test('fails on a duplicate policy name before registering anything', () => {
    const before = registrations.length;
    const twice = { networkPolicies: [PROPS.networkPolicies?.[0], PROPS.networkPolicies?.[0]].filter((p) => p !== undefined) };
    expect(() => new NetworkPolicySet('dup', twice)).toThrow('policies.networkPolicies[1].name: "mysql-from-web" is not valid; expected a NetworkPolicy name not used twice in namespace db');
    expect(registrations.length).toBe(before);
  });
});
