import * as pulumi from '@pulumi/pulumi';
import { App, Chart } from 'cdk8s';
import { CalicoNetwork as CalicoNetworkConstruct, CalicoNetworkProps } from '../../lib/constructs/calico/calico-network';
import { CALICO_STACK_NAME } from '../../lib/constructs/calico/names';
import { EncapsulationMode } from '../../lib/model/calico/pool';
import { CalicoNetwork } from '../../lib/pulumi/calico-network';
import { DependsOnRecorder, normalized, reachable, recordRegistrations, Registration, valueOf } from './harness';

let registrations: Registration[];
beforeAll(async () => {
  registrations = await recordRegistrations();
});

const PROPS: CalicoNetworkProps = {
  pools: [
    { name: 'pods-v4', cidr: '10.60.0.0/16', ipipMode: EncapsulationMode.NEVER, vxlanMode: EncapsulationMode.CROSS_SUBNET },
    { name: 'old-v4', cidr: '10.61.0.0/16', ipipMode: EncapsulationMode.NEVER, vxlanMode: EncapsulationMode.ALWAYS, disabled: true },
  ],
  nodeCount: 120,
};

/** The construct alone, in a chart of the same id (cdk8s-plus selector labels carry the construct path). */
function synthesizedByConstruct(): Record<string, unknown>[] {
  const chart = new Chart(new App(), CALICO_STACK_NAME, { disableResourceNameHashes: true });
  new CalicoNetworkConstruct(chart, 'Network', PROPS);
  return chart.toJson() as Record<string, unknown>[];
}

const identity = (o: Record<string, unknown>): string => {
  const m = o.metadata as { name: string; namespace?: string };
  return `${o.apiVersion}/${o.kind}/${m.namespace ?? ''}/${m.name}`;
};

describe('CalicoNetwork component under Pulumi mocks', () => {
  let net: CalicoNetwork;
  const recorder = new DependsOnRecorder();
  beforeAll(async () => {
    net = new CalicoNetwork('calico', PROPS, { transformations: [recorder.transformation] });
    await valueOf(net.images);
  });
  const children = (): Registration[] => registrations.filter((r) => r.custom && r.name.startsWith('calico-'));

  test('registers exactly the objects the construct synthesizes, CRDs and custom resources included', () => {
    expect(registrations.find((r) => r.name === 'calico')).toMatchObject({ type: 'cnikit:index:CalicoNetwork', custom: false });
    const expected = synthesizedByConstruct();
    expect(children().map((r) => identity(r.inputs)).sort()).toEqual(expected.map(identity).sort());
    for (const object of expected) {
      expect(normalized(children().find((r) => identity(r.inputs) === identity(object))?.inputs)).toEqual(normalized(object));
    }
    const types = new Set(children().map((r) => r.type));
    expect(types).toContain('kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition');
    expect(types).toContain('kubernetes:crd.projectcalico.org/v1:IPPool');
    expect(types).toContain('kubernetes:apps/v1:DaemonSet');
    expect(types).toContain('kubernetes:apps/v1:Deployment');
  });

  test('every custom resource waits for the CRD that serves its kind', () => {
    const nameOf = (resource: pulumi.Resource): string => net.objects.find((o) => o.resource === resource)?.name ?? '(outside)';
    const crdOf = new Map(
      net.objects
        .filter((o) => o.tier === 'crds')
        .map((o) => [(o.object.spec as { names: { kind: string } }).names.kind, o.name]),
    );
    const customResources = net.objects.filter((o) => o.tier === 'custom-resources');
    expect(customResources.length).toBeGreaterThan(0);
    for (const cr of customResources) {
      expect(reachable(cr.name, (n) => recorder.dependenciesOf(n, nameOf))).toContain(crdOf.get(cr.object.kind));
    }
  });

  test('outputs: namespace, agent DaemonSet, enabled pools only, images', async () => {
    expect(await valueOf(net.namespace)).toBe('kube-system');
    expect(await valueOf(net.agentDaemonSetName)).toBe(net.objects.find((o) => o.object.kind === 'DaemonSet')?.object.metadata.name);
    expect(await valueOf(net.podNetworks)).toEqual(['10.60.0.0/16']);
    expect((await valueOf(net.images)).length).toBeGreaterThanOrEqual(2);
  });

  test('fails on bad props with the model message, before registering anything', () => {
    const before = registrations.length;
    expect(() => new CalicoNetwork('bad', { bgpAsNumber: 0 })).toThrow(/bgpAsNumber: 0 is not valid; expected/);
    expect(registrations.length).toBe(before);
  });
});
