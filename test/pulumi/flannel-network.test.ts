import { App, Chart } from 'cdk8s';
import { FLANNEL_STACK_NAME, FlannelNetwork as FlannelNetworkConstruct } from '../../lib/constructs/flannel/flannel-network';
import { FlannelBackend } from '../../lib/model/flannel/backend';
import { FlannelNetwork } from '../../lib/pulumi/flannel-network';
import { normalized, recordRegistrations, Registration, valueOf } from './harness';

let registrations: Registration[];
beforeAll(async () => {
  registrations = await recordRegistrations();
});

const PROPS = {
  podNetwork: '10.50.0.0/16',
  podNetworkV6: 'fd00:50::/48',
  subnetLengthV6: 64,
  backend: FlannelBackend.vxlan({ vni: 7 }),
  imageRegistry: 'registry.example.org/mirror',
  imageDigests: { 'flannel-agent': `sha256:${'a'.repeat(64)}` },
};

/** What the construct alone synthesizes for the same props. */
function synthesizedByConstruct(): Record<string, unknown>[] {
  const chart = new Chart(new App(), FLANNEL_STACK_NAME, { disableResourceNameHashes: true });
  new FlannelNetworkConstruct(chart, 'Network', PROPS);
  return chart.toJson() as Record<string, unknown>[];
}

describe('FlannelNetwork component under Pulumi mocks', () => {
  test('registers exactly the objects the construct synthesizes for the same props, each as its own typed resource', async () => {
    const net = new FlannelNetwork('pods', PROPS);
    await valueOf(net.images);
    expect(registrations.find((r) => r.name === 'pods')).toMatchObject({ type: 'cnikit:index:FlannelNetwork', custom: false });
    const children = registrations.filter((r) => r.custom && r.name.startsWith('pods-'));
    const expected = synthesizedByConstruct();
    expect(children).toHaveLength(expected.length);
    const byIdentity = (o: Record<string, unknown>): string => {
      const m = o.metadata as { name: string; namespace?: string };
      return `${o.apiVersion}/${o.kind}/${m.namespace ?? ''}/${m.name}`;
    };
    expect(children.map((r) => byIdentity(r.inputs)).sort()).toEqual(expected.map(byIdentity).sort());
    for (const object of expected) {
      const child = children.find((r) => byIdentity(r.inputs) === byIdentity(object));
      expect(normalized(child?.inputs)).toEqual(normalized(object));
    }
    expect(children.every((r) => r.type.startsWith('kubernetes:') && r.type !== 'kubernetes:apiextensions.k8s.io/v1:CustomResource')).toBe(true);
  });

  test('outputs resolve: namespace, agent DaemonSet, pod networks, images pinned as configured', async () => {
    const net = new FlannelNetwork('out', PROPS);
    expect(await valueOf(net.namespace)).toBe('cnikit-flannel');
    expect(await valueOf(net.agentDaemonSetName)).toBe('cnikit-flannel');
    expect(await valueOf(net.podNetworks)).toEqual(['10.50.0.0/16', 'fd00:50::/48']);
    const images = await valueOf(net.images);
    expect(images.length).toBeGreaterThanOrEqual(2);
    expect(images.every((i) => i.startsWith('registry.example.org/mirror/'))).toBe(true);
    expect(images).toContainEqual(expect.stringContaining(`@sha256:${'a'.repeat(64)}`));
    expect(await valueOf(net.resource('DaemonSet.apps/cnikit-flannel/cnikit-flannel').urn)).toContain('cnikit:index:FlannelNetwork$kubernetes:apps/v1:DaemonSet::out-daemonset-cnikit-flannel-cnikit-flannel');
  });

  test('fails on bad props with the model message, before registering anything', () => {
    const before = registrations.length;
    expect(() => new FlannelNetwork('bad', { podNetwork: '10.0.0.0/33' })).toThrow(/^flannel\.podNetwork: "10\.0\.0\.0\/33" is not valid; expected /);
    expect(() => new FlannelNetwork('bad2', { podNetwork: '10.244.0.0/16', expectedNodeCount: 400 })).toThrow(/flannel\.expectedNodeCount/);
    expect(registrations.length).toBe(before);
    expect(registrations.some((r) => r.name.startsWith('bad'))).toBe(false);
  });
});
