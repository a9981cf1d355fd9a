import * as pulumi from '@pulumi/pulumi';
import * as path from 'path';
import { App, Chart } from 'cdk8s';
import { CalicoNetwork as CalicoNetworkConstruct } from '../../lib/constructs/calico/calico-network';
import { CALICO_STACK_NAME } from '../../lib/constructs/calico/names';
import { FLANNEL_STACK_NAME, FlannelNetwork as FlannelNetworkConstruct } from '../../lib/constructs/flannel/flannel-network';
import { FlannelBackend } from '../../lib/model/flannel/backend';
import { CalicoNetwork } from '../../lib/pulumi/calico-network';
import { FlannelNetwork } from '../../lib/pulumi/flannel-network';
import { run } from '../../lib/lab/exec';
import { normalized, recordRegistrations, Registration, valueOf } from './harness';

let registrations: Registration[];
beforeAll(async () => {
  registrations = await recordRegistrations();
});

/** Runs a case of fixtures/input-failure.ts in its own process; what it printed. */
async function failureCase(name: string): Promise<string[]> {
  const script = path.join(__dirname, 'fixtures', 'input-failure.ts');
  const { stdout, stderr } = await run([process.execPath, '-r', require.resolve('ts-node/register/transpile-only'), script, name], { timeoutMs: 60_000, allowFailure: true });
  return `${stdout}${stderr}`.trim().split('\n');
}

/** Resolves a tick later, as another resource's output would. */
function later<T extends string | number>(value: T): pulumi.Output<T> {
  return pulumi.output(new Promise<T>((resolve) => setTimeout(() => resolve(value), 1))) as pulumi.Output<T>;
}

const identity = (o: Record<string, unknown>): string => {
  const m = o.metadata as { name: string; namespace?: string };
  return `${o.apiVersion}/${o.kind}/${m.namespace ?? ''}/${m.name}`;
};

function childrenOf(name: string): Registration[] {
  return registrations.filter((r) => r.custom && r.name.startsWith(`${name}-`));
}

/** The component `name` registered exactly what `chart` synthesizes (the construct with plain values); its children. */
function expectRegisteredAsSynthesized(name: string, chart: Chart): Registration[] {
  const expected = chart.toJson() as Record<string, unknown>[];
  const children = childrenOf(name);
  expect(children.map((r) => identity(r.inputs)).sort()).toEqual(expected.map(identity).sort());
  for (const object of expected) {
    expect(normalized(children.find((r) => identity(r.inputs) === identity(object))?.inputs)).toEqual(normalized(object));
  }
  return children;
}

describe('component props given as pulumi.Inputs', () => {
  test('Flannel: pod network and registry from other resources give exactly what the plain values give', async () => {
    const plain = { podNetwork: '10.60.0.0/16', imageRegistry: 'registry.example.org/from-input', backend: FlannelBackend.vxlan({ vni: 9 }) };
    const net = new FlannelNetwork('inputs', { ...plain, podNetwork: later(plain.podNetwork), imageRegistry: later(plain.imageRegistry) });
    expect(await valueOf(net.podNetworks)).toEqual(['10.60.0.0/16']);
    expect((await valueOf(net.images)).every((image) => image.startsWith('registry.example.org/from-input/'))).toBe(true);
    const chart = new Chart(new App(), FLANNEL_STACK_NAME, { disableResourceNameHashes: true });
    new FlannelNetworkConstruct(chart, 'Network', plain);
    const children = expectRegisteredAsSynthesized('inputs', chart);
    // No stand-in value reached a registered object.
    expect(JSON.stringify(children.map((r) => r.inputs))).not.toMatch(/stand-in\.cnikit\.invalid|198\.18\.|198\.19\./);
  });

  test('Calico: service network and AS number as Inputs reach the objects', async () => {
    const plain = { serviceNetwork: '10.70.0.0/16', bgpAsNumber: 65010 };
    const net = new CalicoNetwork('calico-inputs', { serviceNetwork: later(plain.serviceNetwork), bgpAsNumber: later(plain.bgpAsNumber) });
    await valueOf(net.images);
    const chart = new Chart(new App(), CALICO_STACK_NAME, { disableResourceNameHashes: true });
    new CalicoNetworkConstruct(chart, 'Network', plain);
    const children = expectRegisteredAsSynthesized('calico-inputs', chart);
    const bgp = children.find((r) => r.inputs.kind === 'BGPConfiguration');
    expect((bgp?.inputs.spec as { asNumber?: number }).asNumber).toBe(65010);
  });

  test("Calico: a pool's CIDR and a peer's address and password Secret as Inputs reach the objects", async () => {
    const pool = { name: 'from-vpc', cidr: '10.80.0.0/16', natOutgoing: true };
    const peer = { name: 'rack', peerIp: '10.0.255.1', asNumber: 65001, passwordSecretName: 'rack-bgp' };
    const plain = { pools: [pool], bgpPeers: [peer] };
    const net = new CalicoNetwork('item-inputs', {
      pools: [{ ...pool, cidr: later(pool.cidr) }],
      bgpPeers: [{ ...peer, peerIp: later(peer.peerIp), passwordSecretName: later(peer.passwordSecretName) }],
    });
    expect(await valueOf(net.podNetworks)).toEqual(['10.80.0.0/16']);
    const chart = new Chart(new App(), CALICO_STACK_NAME, { disableResourceNameHashes: true });
    new CalicoNetworkConstruct(chart, 'Network', plain);
    const children = expectRegisteredAsSynthesized('item-inputs', chart);
    expect(JSON.stringify(children.map((r) => r.inputs))).not.toMatch(/240\.0\.0\.0|198\.18\.255|cnikit-stand-in/);
  });

  test('an Input anywhere else in a list item, or for the list itself, is refused naming where', () => {
    const before = registrations.length;
    expect(() => new CalicoNetwork('by-name', { pools: [{ name: later('p') as unknown as string, cidr: '10.81.0.0/16' }] })).toThrow(
      /^calico\.pools\[0\]\.name: "\(a pulumi\.Input\)" is not valid; expected a plain value: it shapes the objects; Inputs are accepted for .*pools\[\]\.cidr/,
    );
    const pools = later('x') as unknown as [];
    expect(() => new CalicoNetwork('by-list', { pools })).toThrow(/^calico\.pools: .* expected a plain value: each pool is an IPPool object \(its cidr may be an Input\)$/);
    expect(registrations.length).toBe(before);
  });

  test('a prop that decides which objects exist must be plain: one line naming it, nothing registered', () => {
    const before = registrations.length;
    const nodeCount = later(120) as unknown as number;
    expect(() => new CalicoNetwork('by-count', { nodeCount })).toThrow(
      /^calico\.nodeCount: "\(a pulumi\.Input\)" is not valid; expected a plain value: it decides whether Typha runs, and with how many replicas$/,
    );
    expect(registrations.length).toBe(before);
  });

  test("a bad Input value fails the deployment with the model's own message once it is known", async () => {
    // As a real run reports it: the resources that carry the value fail to register, with the model's line.
    const [first] = await failureCase('bad-registry');
    expect(first).toMatch(/^[Ee]rror: (error serializing property .*: )?flannel\.imageRegistry: "Not A Registry" is not valid; expected a registry and optional path such as /);
  }, 90_000);

  test('an Input that turns out to change which objects exist is refused, naming it and the objects', async () => {
    expect(await failureCase('layout-change')).toEqual([
      'laid out: cm-0',
      'error: fixture.count: 2 is not valid; expected a value that leaves the same objects; as an Input it changed ConfigMap/x/cm-1: pass it as a plain value',
    ]);
  }, 90_000);
});
