import { spawnSync } from 'node:child_process';
import { compilePolicy } from '../../lib/dataplane/policy/compile';
import { iptablesChainName, renderIptables } from '../../lib/dataplane/policy/render-iptables';
import { PolicyWorld } from '../../lib/dataplane/policy/types';
import { ipOf, MATRIX, SCENARIOS } from '../dataplane/policy/scenarios';
import { canCreateNetns, createNetns, destroyNetns } from '../support/netns';

const world: PolicyWorld = {
  namespaces: MATRIX.namespaces,
  endpoints: MATRIX.pods.map((p) => ({
    namespace: p.namespace, name: p.name, labels: p.labels, addresses: [ipOf(`${p.namespace}/${p.name}`), `fd00::${ipOf(`${p.namespace}/${p.name}`).split('.')[3]}`],
    serviceAccount: p.serviceAccount, interfaceName: `cali${p.namespace}${p.name}`,
    ports: (p.ports ?? []).filter((x) => x.name).map((x) => ({ name: x.name as string, port: x.port, protocol: x.protocol })),
  })),
  // every scenario's policies at once: every construct the compiler emits
  policies: SCENARIOS.flatMap((s) => s.policies),
  networkSets: SCENARIOS.flatMap((s) => s.networkSets ?? []),
  tiers: SCENARIOS.flatMap((s) => s.tiers ?? []),
  serviceAccounts: MATRIX.serviceAccounts,
};
const have = (tool: string) => spawnSync(tool, ['--version']).status === 0;
const maybe = canCreateNetns() && have('ipset') && have('iptables-restore') ? describe : describe.skip;

describe('iptables fallback rendering (pure)', () => {
  it('keeps chain and set names within iptables/ipset limits and dispatches per endpoint', () => {
    const p = renderIptables(compilePolicy(world, { mode: 'interface' }));
    for (const m of p.v4.matchAll(/^:(\S+)/gm)) expect(m[1].length).toBeLessThanOrEqual(28);
    for (const m of p.ipset.matchAll(/^create (\S+)/gm)) expect(m[1].length).toBeLessThanOrEqual(31);
    expect(p.v4).toContain(`-A cnk-FORWARD -o calixa -j ${iptablesChainName('tw.x.a')}`);
    expect(p.v4).toContain('-A cnk-FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT');
    expect(p.v4).toMatch(/-A cnk-INPUT -p tcp -m multiport --dports 22,179,2379,2380,5473,6443,6666,6667 -j ACCEPT/);
    expect(p.ipset).toMatch(/add cnk-n4-\w+ 10\.66\.0\.2,tcp:80/);
  });
});

/** The rendered payloads load into a fresh namespace's kernel (ipset, iptables-restore, ip6tables-restore). */
maybe('iptables fallback loads into the kernel', () => {
  let ns: string;
  beforeAll(() => { ns = createNetns('ipt'); });
  afterAll(() => destroyNetns(ns));

  it.each(['interface', 'address'] as const)('%s mode', (mode) => {
    const p = renderIptables(compilePolicy(world, { mode }));
    const run = (argv: string[], input: string) => {
      const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { input, encoding: 'utf8' });
      expect({ argv, stderr: r.stderr, code: r.status }).toEqual({ argv, stderr: '', code: 0 });
    };
    run(['ipset', 'restore', '-exist'], p.ipset);
    run(['iptables-restore'], p.v4);
    run(['ip6tables-restore'], p.v6);
    const saved = spawnSync('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'filter'], { encoding: 'utf8' }).stdout;
    expect(saved).toContain(`-A cnk-FORWARD -${mode === 'interface' ? 'o calixa' : 'd 10.66.0.2/32'} -j ${iptablesChainName('tw.x.a')}`);
  });
});

describe('iptables fallback: long port lists', () => {
  it('splits positive lists into rules and negated lists into matches of at most 7 entries', () => {
    const ports = Array.from({ length: 20 }, (_, i) => 1000 + i * 2);
    const rs = compilePolicy({
      namespaces: [{ name: 'n' }],
      endpoints: [{ namespace: 'n', name: 'a', addresses: ['10.0.0.1'], interfaceName: 'calia' }],
      policies: [{ kind: 'NetworkPolicy', name: 'p', namespace: 'n', selector: 'all()', types: ['Ingress' as never], egress: [], ingress: [
        { action: 'Allow' as never, protocol: 'TCP', destination: { ports } },
        { action: 'Deny' as never, protocol: 'UDP', destination: { notPorts: ports } },
      ] }],
    }, { mode: 'interface' });
    const v4 = renderIptables(rs).v4.split('\n').filter((l) => l.includes('multiport') && !l.includes('INPUT'));
    expect(v4.filter((l) => l.includes('-p tcp') && l.includes('MARK'))).toHaveLength(3);
    expect(v4.find((l) => l.includes('-p udp'))?.match(/! --dports/g)).toHaveLength(3);
    for (const l of v4) for (const m of l.matchAll(/--dports (\S+)/g)) expect(m[1].split(',').length).toBeLessThanOrEqual(7);
  });
});
