import { KernelApplyError, LinuxKernel, NotOwnedError, RuleSet, ruleSetsEqual } from '../../../lib/dataplane/kernel';
import { multipathScenario } from '../../dataplane/kernel/multipath-scenario';
import { routesEqual } from '../../../lib/dataplane/kernel/normalize';
import { canCreateNetns, createNetns, destroyNetns, execIn } from '../../support/netns';

const PROTO = 201;
const describeRoot = canCreateNetns() ? describe : describe.skip;

describeRoot('LinuxKernel in throw-away namespaces', () => {
  let host: string;
  let pod: string;
  let kernel: LinuxKernel;

  beforeAll(() => {
    host = createNetns('host');
    pod = createNetns('pod');
    kernel = new LinuxKernel({ netns: host, ownership: { linkPrefixes: ['t-'], routeProtocol: PROTO, ruleSetPrefixes: ['cnikit-'] } });
  });
  afterAll(() => {
    destroyNetns(host);
    destroyNetns(pod);
  });

  it('creates a bridge and a veth whose peer lands in another namespace, and lists them', async () => {
    await kernel.apply([
      { op: 'link.add', link: { kind: 'bridge', name: 't-br', mtu: 1450, up: true } },
      { op: 'link.add', link: { kind: 'veth', name: 't-veth', mtu: 1450, master: 't-br', up: true, peer: { name: 'eth0', netns: `/var/run/netns/${pod}`, mac: '02:aa:00:00:00:01' } } },
      { op: 'link.set', change: { name: 't-veth', hairpin: true } },
      { op: 'addr.replace', address: { dev: 't-br', cidr: '10.250.1.1/24' } },
    ]);
    const links = await kernel.links();
    const bridge = links.find((l) => l.name === 't-br');
    const veth = links.find((l) => l.name === 't-veth');
    expect(bridge).toMatchObject({ kind: 'bridge', mtu: 1450, up: true });
    expect(veth).toMatchObject({ kind: 'veth', master: 't-br', hairpin: true, up: true });
    expect(await kernel.addresses('t-br')).toEqual([{ dev: 't-br', cidr: '10.250.1.1/24' }]);
    const podKernel = new LinuxKernel({ netns: `/var/run/netns/${pod}`, ownership: { everything: true } });
    expect((await podKernel.links()).find((l) => l.name === 'eth0')).toMatchObject({ kind: 'veth', mac: '02:aa:00:00:00:01', mtu: 1450 });
  });

  it('adds routes of every shape in one batch and lists them back equal', async () => {
    await kernel.apply([
      { op: 'link.add', link: { kind: 'vxlan', name: 't-vx', vni: 7, port: 8472, learning: false, up: true, mtu: 1400 } },
      { op: 'addr.replace', address: { dev: 't-vx', cidr: '10.250.9.0/32' } },
      { op: 'route.replace', route: { dst: '10.250.2.0/24', via: '10.250.2.0', dev: 't-vx', onlink: true, protocol: PROTO } },
      { op: 'route.replace', route: { dst: '10.250.3.0/24', via: '10.250.1.9', protocol: PROTO } },
      { op: 'route.replace', route: { dst: '10.250.4.0/24', dev: 't-br', protocol: PROTO } },
      { op: 'route.replace', route: { dst: '10.250.5.0/24', type: 'blackhole', protocol: PROTO, table: 100 } },
      { op: 'neigh.replace', neighbour: { dev: 't-vx', address: '10.250.2.0', mac: '02:bb:00:00:00:02' } },
      { op: 'fdb.append', entry: { dev: 't-vx', mac: '02:bb:00:00:00:02', dst: '192.0.2.2' } },
    ]);
    const vx = (await kernel.links()).find((l) => l.name === 't-vx');
    expect(vx?.vxlan).toEqual({ vni: 7, port: 8472, learning: false, gbp: false });
    const main = await kernel.routes({ protocol: PROTO });
    expect(main.map((r) => r.dst).sort()).toEqual(['10.250.2.0/24', '10.250.3.0/24', '10.250.4.0/24']);
    expect(main.find((r) => r.dst === '10.250.2.0/24')).toMatchObject({ via: '10.250.2.0', dev: 't-vx', onlink: true, protocol: PROTO, table: 254 });
    expect(await kernel.routes({ table: 100, family: 4 })).toEqual([expect.objectContaining({ dst: '10.250.5.0/24', type: 'blackhole', protocol: PROTO, table: 100 })]);
    expect(await kernel.neighbours('t-vx')).toEqual([{ dev: 't-vx', address: '10.250.2.0', mac: '02:bb:00:00:00:02' }]);
    expect(await kernel.fdb('t-vx')).toContainEqual({ dev: 't-vx', mac: '02:bb:00:00:00:02', dst: '192.0.2.2' });
  });

  it('reads back an IPv6-underlay VXLAN device as created (its local6), so a resync does not recreate it', async () => {
    const spec = { kind: 'vxlan' as const, name: 't-vx6', vni: 9, port: 8472, local: 'fd00:250::1', learning: false };
    await kernel.apply([{ op: 'link.add', link: spec }]);
    const before = (await kernel.links()).find((l) => l.name === 't-vx6');
    expect(before?.vxlan).toEqual({ vni: 9, port: 8472, local: 'fd00:250::1', learning: false, gbp: false });
    await kernel.apply([{ op: 'link.del', name: 't-vx6' }]);
  });

  it('reads back an IPv6 blackhole route as programmed (no `dev lo`), so a resync does not replace it', async () => {
    const route = { dst: 'fd00:250:1::/122', type: 'blackhole' as const, protocol: PROTO };
    await kernel.apply([{ op: 'route.replace', route }]);
    const [back] = (await kernel.routes({ family: 6, protocol: PROTO })).filter((r) => r.dst === route.dst);
    expect(back).toEqual({ dst: 'fd00:250:1::/122', type: 'blackhole', onlink: false, protocol: PROTO, table: 254, metric: 1024, scope: 'global' });
    expect(routesEqual(back, route)).toBe(true);
    await kernel.apply([{ op: 'route.del', route }]);
  });

  it('programs multipath routes and reads them back equal, whatever the order of next hops (same scenario as the twin)', async () => {
    await multipathScenario(kernel, PROTO);
  });

  it('treats deleting what is gone as success, and reports real failures per op', async () => {
    await kernel.apply([
      { op: 'route.del', route: { dst: '10.250.3.0/24', via: '10.250.1.9', protocol: PROTO } },
      { op: 'route.del', route: { dst: '10.250.3.0/24', via: '10.250.1.9', protocol: PROTO } },
      { op: 'link.del', name: 't-nothing' },
      { op: 'link.add', link: { kind: 'bridge', name: 't-br' }, mayExist: true },
    ]);
    expect((await kernel.routes({ protocol: PROTO })).map((r) => r.dst)).not.toContain('10.250.3.0/24');
    const attempt = kernel.apply([
      { op: 'route.replace', route: { dst: '10.250.6.0/24', via: '10.99.99.99', protocol: PROTO } },
      { op: 'link.add', link: { kind: 'bridge', name: 't-br' } },
      { op: 'route.replace', route: { dst: '10.250.7.0/24', dev: 't-br', protocol: PROTO } },
    ]);
    await expect(attempt).rejects.toBeInstanceOf(KernelApplyError);
    const error = (await attempt.catch((e: unknown) => e)) as KernelApplyError;
    expect(error.failures.map((f) => f.op.op)).toEqual(['route.replace', 'link.add']);
    expect(error.failures[1].message).toMatch(/File exists/);
    // the op after the failures still ran
    expect((await kernel.routes({ protocol: PROTO })).map((r) => r.dst)).toContain('10.250.7.0/24');
  });

  it('refuses to touch objects it does not own, before changing anything', async () => {
    await expect(kernel.apply([
      { op: 'route.replace', route: { dst: '10.250.8.0/24', dev: 't-br', protocol: PROTO } },
      { op: 'route.del', route: { dst: '10.250.1.0/24', dev: 't-br', protocol: 2 } },
    ])).rejects.toBeInstanceOf(NotOwnedError);
    await expect(kernel.apply([{ op: 'link.del', name: 'lo' }])).rejects.toThrow(/link lo is not owned/);
    expect((await kernel.routes({ protocol: PROTO })).map((r) => r.dst)).not.toContain('10.250.8.0/24');
  });

  it.each(['nftables', 'iptables'] as const)('replaces a rule set atomically with %s and reads it back equal', async (backend) => {
    const rules = new LinuxKernel({ netns: host, ruleBackend: backend, ownership: { ruleSetPrefixes: ['cnikit-'] } });
    const set: RuleSet = {
      name: 'cnikit-test', family: 4, chains: [
        {
          name: 'postrtg', type: 'nat', hook: 'postrouting', rules: [
            { mark: { value: 0x4000, mask: 0x4000 }, verdict: 'return' },
            { saddr: { cidr: '10.250.1.0/24' }, daddr: { cidr: '10.250.0.0/16' }, verdict: 'return' },
            { saddr: { cidr: '10.250.0.0/16', not: true }, daddr: { cidr: '10.250.1.0/24' }, verdict: 'return' },
            { saddr: { cidr: '10.250.0.0/16' }, daddr: { cidr: '224.0.0.0/4', not: true }, verdict: 'masquerade', randomFully: true, comment: 'cnikit masq' },
          ],
        },
        { name: 'forward', type: 'filter', hook: 'forward', rules: [{ iifname: 't-br', saddr: { cidr: '10.250.0.0/16' }, verdict: 'accept' }] },
      ],
    };
    expect(await rules.ruleSet('cnikit-test', 4)).toBeUndefined();
    await rules.replaceRuleSet(set);
    await rules.replaceRuleSet(set);
    expect(ruleSetsEqual(await rules.ruleSet('cnikit-test', 4), set)).toBe(true);
    if (backend === 'nftables') execIn(host, ['nft', 'add', 'rule', 'ip', 'cnikit-test', 'forward', 'tcp', 'dport', '22', 'drop']);
    else execIn(host, ['iptables', '-A', 'CNIKIT-TEST-FORWARD', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
    expect(ruleSetsEqual(await rules.ruleSet('cnikit-test', 4), set)).toBe(false);
    await rules.replaceRuleSet(set);
    expect(ruleSetsEqual(await rules.ruleSet('cnikit-test', 4), set)).toBe(true);
    if (backend === 'iptables') {
      const saved = execIn(host, ['iptables-save']).stdout;
      expect(saved.match(/-A POSTROUTING -j CNIKIT-TEST-POSTRTG/g)).toHaveLength(1);
      expect(saved.match(/-A FORWARD -j CNIKIT-TEST-FORWARD/g)).toHaveLength(1);
    }
    await expect(rules.replaceRuleSet({ ...set, name: 'other' })).rejects.toThrow(/not owned/);
    await rules.deleteRuleSet('cnikit-test', 4);
    await rules.deleteRuleSet('cnikit-test', 4);
    expect(await rules.ruleSet('cnikit-test', 4)).toBeUndefined();
    if (backend === 'iptables') expect(execIn(host, ['iptables-save']).stdout).not.toContain('CNIKIT');
  });

  it('reads and writes sysctls inside the namespace only', async () => {
    await kernel.setSysctls({ 'net.ipv4.ip_forward': '1', 'net/ipv4/conf/t-br/forwarding': '1' });
    expect(await kernel.sysctl('net.ipv4.ip_forward')).toBe('1');
    expect(await kernel.sysctl('net.ipv4.conf.nope.forwarding')).toBeUndefined();
  });
});
