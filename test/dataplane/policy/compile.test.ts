import { compilePolicy, endpointChainName, normalizeCidrs } from '../../../lib/dataplane/policy/compile';
import { fromKubernetesNetworkPolicy } from '../../../lib/dataplane/policy/kubernetes';
import { diffRuleSets, isEmptyDiff, renderNftDiff, renderNftFull, renderRule } from '../../../lib/dataplane/policy/render-nft';
import { renderIptables } from '../../../lib/dataplane/policy/render-iptables';
import { CompiledRuleSet } from '../../../lib/dataplane/policy/ruleset';
import { Policy, PolicyEndpoint, PolicyWorld } from '../../../lib/dataplane/policy/types';

const ep = (ns: string, name: string, ip: string, labels: Record<string, string>): PolicyEndpoint => ({
  namespace: ns, name, labels, addresses: [ip], interfaceName: `cali${name}${ns}`, ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
});
const allowFromFrontend = fromKubernetesNetworkPolicy({
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    podSelector: { matchLabels: { app: 'web' } },
    ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }], ports: [{ port: 'http' }, { port: 80, endPort: 90 }] }],
  },
});
const world = (endpoints: PolicyEndpoint[], policies: Policy[] = [allowFromFrontend], nsLabels: Record<string, string> = {}): PolicyWorld => ({
  namespaces: [{ name: 'shop', labels: nsLabels }, { name: 'other' }], endpoints, policies,
});
const pods = [
  ep('shop', 'web1', '10.0.0.1', { app: 'web' }),
  ep('shop', 'web2', '10.0.0.2', { app: 'web' }),
  ep('shop', 'fe1', '10.0.0.3', { role: 'frontend' }),
  ep('other', 'fe2', '10.0.0.4', { role: 'frontend' }),
];
const chain = (rs: CompiledRuleSet, name: string) => rs.chains.find((c) => c.name === name);

describe('compiler (pure)', () => {
  const rs = compilePolicy(world(pods), { mode: 'interface' });

  it('keeps selector membership in sets and rules per policy, not per pod', () => {
    const sets = Object.fromEntries(rs.sets.map((s) => [s.name.slice(0, 2), s.elements]));
    expect(sets.s4).toEqual(['10.0.0.3']); // role=frontend in the policy's namespace only
    expect(sets.n4).toEqual(['10.0.0.1 . 6 . 8080', '10.0.0.2 . 6 . 8080', '10.0.0.3 . 6 . 8080', '10.0.0.4 . 6 . 8080']);
    const policyChain = chain(rs, 'pi-knp.shop.web');
    expect(policyChain?.rules.map(renderRule)).toEqual([
      expect.stringMatching(/^meta nfproto ipv4 meta l4proto 6 ip saddr @s4-\w+ th dport 80-90 meta mark set meta mark \| 0x10000 return$/),
      expect.stringMatching(/^meta nfproto ipv4 meta l4proto 6 ip saddr @s4-\w+ ip daddr \. meta l4proto \. th dport @n4-\w+ meta mark/),
      expect.stringMatching(/^meta nfproto ipv6 .*ip6 saddr @s6-/),
      expect.stringMatching(/^meta nfproto ipv6 .*ip6 daddr \. meta l4proto \. th dport @n6-/),
    ]);
  });

  it('gives selected endpoints a chain that jumps to their policies and drops at the end of the tier; others get none', () => {
    expect(chain(rs, 'tw.shop.web1')?.rules.map(renderRule)).toEqual([
      'meta mark set meta mark & 0xfffcffff', 'jump pi-knp.shop.web', 'meta mark & 0x10000 == 0x10000 return', 'drop',
    ]);
    expect(chain(rs, 'tw.shop.fe1')).toBeUndefined();
    expect(chain(rs, 'fw.shop.web1')).toBeUndefined();
    expect(rs.maps.find((m) => m.name === 'to-wl')?.elements).toEqual({ caliweb1shop: 'tw.shop.web1', caliweb2shop: 'tw.shop.web2' });
  });

  it('accepts established/related first, keeps failsafe ports open to the node and dispatches by interface or address', () => {
    expect(chain(rs, 'forward')?.rules.map(renderRule)).toEqual([
      'ct state established,related accept', 'ct state invalid drop', 'iifname vmap @from-wl', 'oifname vmap @to-wl',
    ]);
    expect(chain(rs, 'input')?.rules.map(renderRule)[1]).toMatch(/^meta l4proto \. th dport \{ 6 \. 22, 17 \. 68, 6 \. 179, 6 \. 2379, .* accept$/);
    const byAddress = compilePolicy(world(pods), { mode: 'address' });
    expect(chain(byAddress, 'forward')?.rules.map(renderRule).slice(2)).toEqual([
      'ip saddr vmap @from-wl-4', 'ip6 saddr vmap @from-wl-6', 'ip daddr vmap @to-wl-4', 'ip6 daddr vmap @to-wl-6',
    ]);
    expect(byAddress.maps.find((m) => m.name === 'to-wl-4')?.elements).toEqual({ '10.0.0.1': 'tw.shop.web1', '10.0.0.2': 'tw.shop.web2' });
  });

  it('defaultEndpointToHostAction Drop: pod → node is dropped after the pod\'s egress policy; Accept and Return add nothing', () => {
    const drop = compilePolicy(world(pods), { mode: 'interface', endpointToHostAction: 'Drop' });
    expect(chain(drop, 'input')?.rules.map(renderRule)).toEqual([
      'ct state established,related accept', expect.stringMatching(/^meta l4proto \. th dport \{ .* accept$/),
      ...[130, 131, 132, 133, 135, 136].map((type) => `meta l4proto 58 icmpv6 type ${type} accept`),
      'iifname vmap @from-wl', 'iifname "cali*" drop',
    ]);
    const rendered = renderIptables(drop);
    expect(rendered.v4).toContain('-A cnk-INPUT -i cali+ -j DROP');
    expect(rendered.v6).toContain('-A cnk-INPUT -i cali+ -j DROP');
    // A pod under an egress policy still resolves its IPv6 gateway and answers the node's solicitations (Felix allows the same).
    expect(rendered.v6).toContain('-A cnk-INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT');
    expect(rendered.v4).not.toContain('icmp6');
    for (const endpointToHostAction of ['Accept', 'Return', undefined] as const) {
      expect(compilePolicy(world(pods), { mode: 'interface', endpointToHostAction })).toEqual(rs);
    }
    expect(() => compilePolicy(world(pods), { mode: 'address', endpointToHostAction: 'Drop' })).toThrow('endpointToHostAction Drop needs interface mode');
  });

  it('enforces only local endpoints and programs only the policies they use', () => {
    const local = compilePolicy(world(pods), { mode: 'interface', localEndpoints: ['shop/fe1'] });
    expect(local.chains.map((c) => c.name)).toEqual(['forward', 'input']);
    expect(local.sets).toEqual([]);
  });

  it('renders one nft transaction that replaces the table', () => {
    const text = renderNftFull(rs);
    expect(text.split('\n').slice(0, 3)).toEqual(['add table inet cnikit-policy', 'delete table inet cnikit-policy', 'add table inet cnikit-policy']);
    expect(text).toContain('add chain inet cnikit-policy forward { type filter hook forward priority 0; policy accept; }');
    expect(text).toContain('add element inet cnikit-policy to-wl { "caliweb1shop" : jump tw.shop.web1, "caliweb2shop" : jump tw.shop.web2 }');
    // sets and chains are declared before anything refers to them
    expect(text.indexOf('add set')).toBeLessThan(text.indexOf('add rule'));
    expect(text.indexOf('add chain inet cnikit-policy tw.shop.web1')).toBeLessThan(text.indexOf('add map'));
  });

  it('normalises interval elements: contained CIDRs go, host prefixes print as addresses', () => {
    expect(normalizeCidrs(['10.0.0.1', '10.0.0.0/24', '10.1.0.5/32', '10.0.0.0/8', 'fd00::1'])).toEqual(['10.0.0.0/8', 'fd00::1']);
    expect(normalizeCidrs(['10.1.0.5/32', '10.2.0.0/16'])).toEqual(['10.1.0.5', '10.2.0.0/16']);
  });

  it('compiles Calico actions, ICMP and negations', () => {
    const p: Policy = {
      kind: 'GlobalNetworkPolicy', name: 'g', selector: 'all()', types: ['Ingress' as never], egress: [],
      ingress: [
        { action: 'Log' as never },
        { action: 'Deny' as never, protocol: 'ICMP', notIcmp: { type: 8, code: 0 } },
        { action: 'Pass' as never, protocol: 'ICMP', icmp: { type: 8 } },
        { action: 'Allow' as never, notProtocol: 'UDP', source: { notNets: ['10.9.0.0/16'] } },
      ],
    };
    const g = compilePolicy(world(pods.slice(0, 1), [p]), { mode: 'interface' });
    expect(chain(g, 'pi-gnp.g')?.rules.map(renderRule)).toEqual([
      'log prefix "cnikit g ingress[0]: "',
      'meta nfproto ipv4 meta l4proto 1 icmp type . icmp code != { 8 . 0 } drop',
      'meta nfproto ipv4 meta l4proto 1 icmp type 8 meta mark set meta mark | 0x20000 return',
      'meta nfproto ipv4 meta l4proto != 17 ip saddr != 10.9.0.0/16 meta mark set meta mark | 0x10000 return',
      'meta nfproto ipv6 meta l4proto != 17 meta mark set meta mark | 0x10000 return',
    ]);
  });
});

describe('incremental diff (pure)', () => {
  const before = compilePolicy(world(pods), { mode: 'interface' });

  it('is empty when nothing changed', () => {
    expect(isEmptyDiff(diffRuleSets(before, compilePolicy(world(pods), { mode: 'interface' })))).toBe(true);
  });

  it('a peer pod gaining the selected label changes one set element and no chain', () => {
    const relabelled = pods.map((p) => (p.name === 'web2' ? { ...p, labels: { app: 'web', role: 'frontend' } } : p));
    const d = diffRuleSets(before, compilePolicy(world(relabelled), { mode: 'interface' }));
    expect(d.elements).toEqual([{ set: expect.stringMatching(/^s4-/), add: ['10.0.0.2'], delete: [] }]);
    expect([d.addedChains, d.changedChains, d.deletedChains, d.addedSets, d.deletedSets, d.mapEntries]).toEqual([[], [], [], [], [], []]);
    expect(renderNftDiff(compilePolicy(world(relabelled), { mode: 'interface' }), d)).toMatch(/^add element inet cnikit-policy s4-\w+ \{ 10\.0\.0\.2 \}\n$/);
  });

  it('a selected pod losing its label removes its chain and its map entry only', () => {
    const relabelled = pods.map((p) => (p.name === 'web2' ? { ...p, labels: {} } : p));
    const after = compilePolicy(world(relabelled), { mode: 'interface' });
    const d = diffRuleSets(before, after);
    expect(d.deletedChains).toEqual([endpointChainName(pods[1], 'ingress')]);
    expect(d.mapEntries).toEqual([{ map: 'to-wl', add: [], delete: ['caliweb2shop'] }]);
    expect(d.changedChains).toEqual([]);
    const script = renderNftDiff(after, d).trim().split('\n');
    expect(script).toEqual([
      'delete element inet cnikit-policy to-wl { "caliweb2shop" }',
      'flush chain inet cnikit-policy tw.shop.web2',
      'delete chain inet cnikit-policy tw.shop.web2',
    ]);
  });

  it('a new pod adds set elements (named port) and, when selected, its chain and map entry', () => {
    const d = diffRuleSets(before, compilePolicy(world([...pods, ep('shop', 'web3', '10.0.0.9', { app: 'web' })]), { mode: 'interface' }));
    expect(d.addedChains.map((c) => c.name)).toEqual(['tw.shop.web3']);
    expect(d.mapEntries).toEqual([{ map: 'to-wl', add: ['caliweb3shop'], delete: [] }]);
    expect(d.elements).toEqual([{ set: expect.stringMatching(/^n4-/), add: ['10.0.0.9 . 6 . 8080'], delete: [] }]);
  });

  it('a namespace label change only touches the sets whose namespaceSelector it affects', () => {
    const nsPolicy = fromKubernetesNetworkPolicy({
      metadata: { name: 'ns', namespace: 'shop' },
      spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { trusted: 'yes' } } }] }] },
    });
    const w = (labels: Record<string, string>): PolicyWorld => ({ ...world(pods, [nsPolicy]), namespaces: [{ name: 'shop' }, { name: 'other', labels }] });
    const d = diffRuleSets(compilePolicy(w({}), { mode: 'interface' }), compilePolicy(w({ trusted: 'yes' }), { mode: 'interface' }));
    expect(d.elements).toEqual([{ set: expect.stringMatching(/^s4-/), add: ['10.0.0.4'], delete: [] }]);
    expect(d.changedChains).toEqual([]);
  });

  it('a policy change rewrites that policy chain; an unused set is deleted after the chains that used it', () => {
    const narrower = fromKubernetesNetworkPolicy({ metadata: { name: 'web', namespace: 'shop' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 443 }] }] } });
    const after = compilePolicy(world(pods, [narrower]), { mode: 'interface' });
    const d = diffRuleSets(before, after);
    expect(d.changedChains.map((c) => c.name)).toEqual(['pi-knp.shop.web']);
    expect(d.deletedSets.length).toBe(4);
    const script = renderNftDiff(after, d);
    expect(script.indexOf('flush chain inet cnikit-policy pi-knp.shop.web')).toBeLessThan(script.indexOf('delete set'));
  });

  it('a structural change (another hook mode) falls back to a full rewrite', () => {
    const d = diffRuleSets(before, compilePolicy(world(pods), { mode: 'address' }));
    expect(d.structural).toBe(true);
    expect(renderNftDiff(compilePolicy(world(pods), { mode: 'address' }), d)).toMatch(/^add table inet cnikit-policy\ndelete table/);
  });
});

describe('compiler: tiers', () => {
  const sec: Policy = {
    kind: 'GlobalNetworkPolicy', name: 'security.gate', tier: 'security', selector: "app == 'web'", types: ['Ingress' as never],
    ingress: [{ action: 'Deny' as never, source: { nets: ['10.9.0.0/16'] } }, { action: 'Pass' as never }], egress: [],
  };
  const w: PolicyWorld = { ...world(pods, [sec, allowFromFrontend]), tiers: [{ name: 'security', order: 10 }, { name: 'unused', order: 5, defaultAction: 'Pass' }] };
  const rs = compilePolicy(w, { mode: 'interface' });

  it('gives an endpoint one chain per tier that selects it, in tier order, and a Pass its own mark', () => {
    expect(chain(rs, 'tw.shop.web1')?.rules.map(renderRule)).toEqual([
      'meta mark set meta mark & 0xfffcffff', 'jump tw-security.shop.web1', 'meta mark & 0x10000 == 0x10000 return',
      'meta mark set meta mark & 0xfffcffff', 'jump tw-default.shop.web1', 'meta mark & 0x10000 == 0x10000 return',
    ]);
    expect(chain(rs, 'tw-security.shop.web1')?.rules.map((r) => [renderRule(r), r.comment])).toEqual([
      ['jump pi-gnp.security.gate', undefined], ['meta mark & 0x10000 == 0x10000 return', undefined], ['meta mark & 0x20000 == 0x20000 return', undefined],
      ['drop', 'end of tier security'],
    ]);
    expect(chain(rs, 'pi-gnp.security.gate')?.rules.map(renderRule)).toEqual([
      'meta nfproto ipv4 ip saddr 10.9.0.0/16 drop', 'meta mark set meta mark | 0x20000 return',
    ]);
    expect(chain(rs, 'tw-default.shop.web1')?.rules.map(renderRule)).toEqual(['jump pi-knp.shop.web', 'meta mark & 0x10000 == 0x10000 return', 'drop']);
    expect(rs.chains.some((c) => c.name.startsWith('tw-unused'))).toBe(false); // no policy of that tier selects anything
  });

  it('ends a Pass tier without a drop, and renders the Pass mark for iptables', () => {
    const passing = compilePolicy({ ...w, tiers: [{ name: 'security', order: 10, defaultAction: 'Pass' }] }, { mode: 'interface' });
    expect(chain(passing, 'tw-security.shop.web1')?.rules.map(renderRule)).toEqual([
      'jump pi-gnp.security.gate', 'meta mark & 0x10000 == 0x10000 return', 'meta mark & 0x20000 == 0x20000 return',
    ]);
    const v4 = renderIptables(passing).v4;
    expect(v4).toContain('-j MARK --or-mark 0x20000');
    expect(v4).toContain('-m mark --mark 0x20000/0x20000 -j RETURN');
    expect(v4).toContain('-j MARK --and-mark 0xfffcffff');
  });
});
