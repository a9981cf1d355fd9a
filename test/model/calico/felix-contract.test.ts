import { parseTypha } from '../../../lib/dataplane/typha/config';
import { App, Chart } from 'cdk8s';
import { buildEnvironment, environment, environmentObjects } from '../../../apps/environments';
import { CalicoNetwork, CalicoNetworkProps } from '../../../lib/constructs/calico/calico-network';
import { parseCalicoAgentConfig } from '../../../lib/dataplane/calico/agent-config';
import { FelixParseResult, FelixSettings, effectiveFelixSettings, parseFelixConfiguration } from '../../../lib/dataplane/calico/felix-config';
import { desiredRouting } from '../../../lib/dataplane/calico/routes';
import { resolvePool } from '../../../lib/dataplane/ipam/block-model';
import { compilePolicy } from '../../../lib/dataplane/policy/compile';
import { renderRule } from '../../../lib/dataplane/policy/render-nft';
import { EndpointToHostAction, LogSeverity, ResolvedCalicoNetwork } from '../../../lib/model/calico/network';
import { Mtu } from '../../../lib/model/calico/mtu';
import { EncapsulationMode } from '../../../lib/model/calico/pool';

// A rendered setting is a promise: what the manifests ship in the FelixConfiguration and in the
// calico-node DaemonSet's FELIX_* env must be what the kit's processes obey. The parsers those
// processes run (felix-config.ts: the node agent and the policy agent; agent-config.ts: the node
// agent's env) read the rendered objects, and the result is compared field by field with the model.

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type EnvVar = { name: string; value?: string; valueFrom?: { configMapKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } };

interface Rendered {
  readonly network: ResolvedCalicoNetwork;
  readonly objects: readonly Obj[];
}

function fromEnvironment(name: string): Rendered {
  const built = buildEnvironment(environment(name));
  const construct = built.app.node.findAll().find((c): c is CalicoNetwork => c instanceof CalicoNetwork);
  if (!construct) throw new Error(`${name} has no CalicoNetwork`);
  return { network: construct.network, objects: environmentObjects(built) as Obj[] };
}

function fromProps(props: CalicoNetworkProps): Rendered {
  const chart = new Chart(new App(), 'c', { disableResourceNameHashes: true });
  const construct = new CalicoNetwork(chart, 'calico', { ...props, installCrds: false });
  return { network: construct.network, objects: chart.toJson() as Obj[] };
}

const daemonSet = (r: Rendered) => r.objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'calico-node') as Obj;
const container = (r: Rendered, name: string) => (daemonSet(r).spec.template.spec.containers as Obj[]).find((c) => c.name === name) as Obj;

/** The container's environment as the kubelet would set it (ConfigMap keys resolved; the node's name for field refs). */
function containerEnv(r: Rendered, name: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const e of container(r, name).env as EnvVar[]) {
    const ref = e.valueFrom?.configMapKeyRef;
    const cm = ref && r.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === ref.name);
    env[e.name] = e.value ?? (ref ? cm?.data?.[ref.key] : e.valueFrom?.fieldRef ? 'node-1' : undefined);
  }
  return env;
}

/** What the node agent and the policy agent read: FelixConfiguration `default` (and any `node.*`) plus the agent's env. */
function felixOf(r: Rendered): { settings: FelixParseResult<FelixSettings>; defaults: Obj } {
  const configs = r.objects.filter((o) => o.kind === 'FelixConfiguration');
  expect(configs.map((o) => o.metadata.name)).toEqual(['default']);
  const defaults = configs[0].spec as Obj;
  return { defaults, settings: effectiveFelixSettings({ defaults, nodeName: 'node-1', env: containerEnv(r, 'calico-node') }) };
}

/** The model's Felix settings, field by field, as the processes must end up with them. */
function expectObeyed(r: Rendered): void {
  const f = r.network.felix;
  const { defaults, settings } = felixOf(r);

  // Every rendered field is one the kit's parser knows and obeys; nothing is refused.
  const alone = parseFelixConfiguration(defaults, 'felixconfigurations/default');
  expect(alone.errors.map((e) => e.message)).toEqual([]);
  expect(alone.ignored).toEqual([]);
  expect(Object.keys(alone.settings).length).toBe(Object.keys(defaults).length);
  expect(settings.errors.map((e) => e.message)).toEqual([]);
  // The only FELIX_* variables not for felix-config.ts find Typha; typha/config.ts obeys them.
  const env = containerEnv(r, 'calico-node');
  expect([...settings.ignored].sort()).toEqual(Object.keys(env).filter((k) => k.startsWith('FELIX_TYPHA')).sort());
  const typha = parseTypha(env.FELIX_TYPHAADDR, env.FELIX_TYPHAK8SSERVICENAME, env.FELIX_TYPHAK8SNAMESPACE, 'kubernetes');
  expect(typha).toEqual(r.network.typha.enabled ? { service: 'calico-typha', namespace: env.FELIX_TYPHAK8SNAMESPACE } : undefined);

  const s = settings.settings;
  expect(s.logSeverityScreen).toBe(f.logSeverity);
  expect(s.defaultEndpointToHostAction).toBe(f.defaultEndpointToHostAction);
  expect(s.healthEnabled).toBe(true);
  expect(s.healthPort).toBe(f.healthPort);
  expect(s.prometheusMetricsEnabled).toBe(f.prometheusMetricsEnabled);
  expect(s.prometheusMetricsPort).toBe(f.prometheusMetricsPort);
  expect(s.vxlanVni).toBe(f.vxlanVni);
  expect(s.vxlanPort).toBe(f.vxlanPort);
  expect(s.vxlanMtu).toBe(f.vxlanMtu);
  expect(s.vxlanMtuV6).toBe(f.vxlanMtuV6);
  expect(s.routeRefreshIntervalSeconds).toBe(f.routeRefreshIntervalSeconds);
  expect(s.nftablesRefreshIntervalSeconds).toBe(f.policyRefreshIntervalSeconds);
  // Not rendered: the processes follow the pools, forward, and enforce IPv6, as Felix does by default.
  expect(s.vxlanEnabled).toBeUndefined();
  expect(s.ipipEnabled).toBeUndefined();
  expect(s.ipForwarding).toBe(true);

  // The node agent's own env parser agrees on health (it serves before it reads the datastore),
  // and the kubelet probes the port it serves.
  const agent = parseCalicoAgentConfig([], containerEnv(r, 'calico-node'));
  expect(agent.healthPort).toBe(f.healthPort);
  expect(container(r, 'calico-node').livenessProbe.httpGet.port).toBe(f.healthPort);

  // The policy agent reads the same settings (Calico mode) and resyncs with the nft backend's interval.
  const policy = container(r, 'policy-agent');
  expect(policy.args).toEqual(expect.arrayContaining(['--felix-configuration', '--backend=nft', '--mode=interface']));
  expect(policy.args.some((a: string) => a.startsWith('--resync-seconds'))).toBe(false);

  // The settings reach the code that obeys them: the VXLAN device and the endpoint-to-host rule.
  const routing = desiredRouting({
    node: 'node-1', nodeAddress: '10.0.0.1/24', uplink: 'eth0', uplinkMtu: 1500, blocks: [], nodes: [], vxlanTunnelAddress: '10.44.0.1',
    pools: [resolvePool('p', { cidr: '10.44.0.0/16', vxlanMode: 'Always' })],
    vxlanVni: s.vxlanVni, vxlanPort: s.vxlanPort, vxlanMtu: s.vxlanMtu, vxlanEnabled: s.vxlanEnabled, ipipEnabled: s.ipipEnabled,
  });
  expect(routing.links).toEqual([expect.objectContaining({ vni: f.vxlanVni, port: f.vxlanPort, mtu: f.vxlanMtu || 1450 })]);
  // …and vxlan-v6.calico: the same VNI and port, its own MTU; the node's IPv6 address is detected when the stack has IPv6 pools.
  const routing6 = desiredRouting({
    node: 'node-1', nodeAddress: '10.0.0.1/24', uplink: 'eth0', uplinkMtu: 1500, blocks: [], nodes: [], nodeAddress6: 'fd00::1/64', vxlanTunnelAddress6: 'fd00:44::',
    pools: [resolvePool('p6', { cidr: 'fd00:44::/48', blockSize: 122, vxlanMode: 'Always' })],
    vxlanVni: s.vxlanVni, vxlanPort: s.vxlanPort, vxlanMtu6: s.vxlanMtuV6, vxlanEnabled: s.vxlanEnabled,
  });
  expect(routing6.links).toEqual([expect.objectContaining({ name: 'vxlan-v6.calico', vni: f.vxlanVni, port: f.vxlanPort, mtu: f.vxlanMtuV6 || 1430 })]);
  expect(agent.autodetect6 !== undefined).toBe(r.network.families.includes(6));
  const input = compilePolicy({ namespaces: [], endpoints: [], policies: [] }, { mode: 'interface', endpointToHostAction: s.defaultEndpointToHostAction })
    .chains.find((c) => c.name === 'input')?.rules.map(renderRule);
  expect(input?.includes('iifname "cali*" drop')).toBe(f.defaultEndpointToHostAction === EndpointToHostAction.DROP);
}

test.each(['staging', 'prod'])('the %s environment: the agents obey every rendered Felix setting as the model resolved it', (name) => {
  expectObeyed(fromEnvironment(name));
});

test.each<[string, CalicoNetworkProps]>([
  ['defaults', {}],
  ['every Felix prop away from its default, VXLAN with a known link MTU', {
    pools: [{ name: 'v', cidr: '10.44.0.0/16', vxlanMode: EncapsulationMode.ALWAYS }], bgpEnabled: false, mtu: Mtu.fromLinkMtu(9000),
    felixLogSeverity: LogSeverity.DEBUG, felixDefaultEndpointToHostAction: EndpointToHostAction.DROP, felixHealthPort: 9199,
    felixPrometheusMetricsEnabled: true, felixPrometheusMetricsPort: 9191, felixVxlanPort: 4790, felixVxlanVni: 5000,
    felixRouteRefreshIntervalSeconds: 30, felixPolicyRefreshIntervalSeconds: 0,
  }],
  ['Return to the host\'s rules, an hour-long route refresh', { felixDefaultEndpointToHostAction: EndpointToHostAction.RETURN, felixRouteRefreshIntervalSeconds: 3600 }],
  ['dual-stack VXLAN with a known link MTU (vxlan.calico and vxlan-v6.calico)', {
    pools: [{ name: 'v4', cidr: '10.44.0.0/16', vxlanMode: EncapsulationMode.CROSS_SUBNET }, { name: 'v6', cidr: 'fd00:44::/48', vxlanMode: EncapsulationMode.ALWAYS }],
    serviceNetworkV6: 'fd00:45::/112', bgpEnabled: false, mtu: Mtu.fromLinkMtu(9000), felixVxlanPort: 4790,
  }],
])('a stack with %s: the agents obey it as the model resolved it', (_name, props) => {
  const r = fromProps(props);
  expectObeyed(r);
  if (props.mtu) expect(r.network.felix.vxlanMtu).toBe(8950);
  if (props.mtu && r.network.families.includes(6)) {
    expect(felixOf(r).defaults.vxlanMTUV6).toBe(8930);
    // The agent detects the node's IPv6 address (the underlay of vxlan-v6.calico).
    expect(containerEnv(r, 'calico-node').IP6).toBe('autodetect');
  }
});
