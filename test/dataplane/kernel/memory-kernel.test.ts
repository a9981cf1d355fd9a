import { multipathScenario } from './multipath-scenario';
import { KernelApplyError, MemoryNetwork, NotOwnedError, batchFailures, commandLines, routesEqual } from '../../../lib/dataplane/kernel';

describe('MemoryKernel (the twin)', () => {
  const owned = { linkPrefixes: ['cni', 'veth'], routeProtocol: 201 };

  it('moves a veth peer into another namespace and deleting one end removes both', async () => {
    const net = new MemoryNetwork();
    net.namespace('pod1');
    const host = net.kernel(owned);
    const pod = net.kernel({ everything: true }, 'pod1');
    await host.apply([
      { op: 'link.add', link: { kind: 'bridge', name: 'cni0', up: true } },
      { op: 'link.add', link: { kind: 'veth', name: 'veth1', master: 'cni0', peer: { name: 'eth0', netns: 'pod1' } } },
    ]);
    expect(host.applyCount).toBe(1);
    expect((await pod.links()).map((l) => l.name)).toEqual(['lo', 'eth0']);
    await pod.apply([{ op: 'link.del', name: 'eth0' }]);
    expect((await host.links()).map((l) => l.name)).toEqual(['lo', 'cni0']);
  });

  it('refuses ops outside the ownership before applying any of them', async () => {
    const net = new MemoryNetwork();
    net.root.addLink({ name: 'eth0', kind: 'device', mtu: 1500, up: true });
    const host = net.kernel(owned);
    await expect(host.apply([
      { op: 'link.add', link: { kind: 'bridge', name: 'cni0' } },
      { op: 'addr.replace', address: { dev: 'eth0', cidr: '192.0.2.1/24' } },
    ])).rejects.toBeInstanceOf(NotOwnedError);
    await expect(host.apply([{ op: 'route.del', route: { dst: '10.0.0.0/8', dev: 'eth0', protocol: 3 } }])).rejects.toThrow(/protocol 3 is not the owned protocol 201/);
    expect((await host.links()).map((l) => l.name)).toEqual(['lo', 'eth0']);
  });

  it('needs a connected gateway unless onlink, like the kernel, and reports every failure', async () => {
    const net = new MemoryNetwork();
    const host = net.kernel(owned);
    await host.apply([{ op: 'link.add', link: { kind: 'vxlan', name: 'cni.1', vni: 1, up: true } }]);
    const error = await host.apply([
      { op: 'route.replace', route: { dst: '10.1.0.0/24', via: '10.1.0.0', dev: 'cni.1', protocol: 201 } },
      { op: 'route.replace', route: { dst: '10.2.0.0/24', via: '10.2.0.0', dev: 'cni.1', onlink: true, protocol: 201 } },
      { op: 'link.add', link: { kind: 'bridge', name: 'cni.1' } },
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KernelApplyError);
    expect((error as KernelApplyError).failures.map((f) => f.message)).toEqual(['Nexthop has invalid gateway', 'File exists']);
    const routes = await host.routes();
    expect(routes).toHaveLength(1);
    expect(routesEqual(routes[0], { dst: '10.2.0.0/24', via: '10.2.0.0', dev: 'cni.1', onlink: true, protocol: 201 })).toBe(true);
    await net.kernel({ everything: true }).apply([{ op: 'route.del', route: { dst: '10.2.0.0/24', protocol: 3 } }]);
    expect(await host.routes()).toHaveLength(1);
    await host.apply([{ op: 'route.del', route: { dst: '10.2.0.0/24', protocol: 201 } }, { op: 'route.del', route: { dst: '10.2.0.0/24', protocol: 201 } }]);
    expect(await host.routes()).toEqual([]);
  });

  it('holds multipath routes as the kernel does (same scenario as the real-kernel test)', async () => {
    await multipathScenario(new MemoryNetwork().kernel({ linkPrefixes: ['t-m'], routeProtocol: 201 }), 201);
  });

  it('checks every next hop of a multipath route like a single gateway', async () => {
    const net = new MemoryNetwork();
    const host = net.kernel(owned);
    await host.apply([{ op: 'link.add', link: { kind: 'bridge', name: 'cni0', up: true } }, { op: 'addr.replace', address: { dev: 'cni0', cidr: '10.3.0.1/24' } }]);
    const error = await host.apply([
      { op: 'route.replace', route: { dst: '10.4.0.0/24', protocol: 201, nexthops: [{ via: '10.3.0.2', dev: 'cni0' }, { via: '10.9.0.1' }] } },
      { op: 'route.replace', route: { dst: '10.5.0.0/24', protocol: 201, nexthops: [{ via: '10.3.0.2', dev: 'cni0' }, { via: '10.3.0.3', dev: 'cni9' }] } },
    ]).catch((e: unknown) => e);
    expect((error as KernelApplyError).failures.map((f) => f.message)).toEqual(['Nexthop has invalid gateway', 'Cannot find device "cni9"']);
    await expect(host.apply([{ op: 'route.replace', route: { dst: '10.4.0.0/24', protocol: 201, nexthops: [] } }])).rejects.toThrow(/route\.nexthops: \[\] is not valid/);
    await expect(host.apply([{ op: 'route.replace', route: { dst: '10.4.0.0/24', protocol: 201, nexthops: [{ via: '10.3.0.2', weight: 0 }] } }])).rejects.toThrow(/nexthops\[0\]\.weight: 0 is not valid; expected an integer from 1 to 256/);
    expect(await host.routes()).toEqual([]);
  });
});

describe('iproute2 batch rendering', () => {
  it('renders ops as ip -batch lines', () => {
    expect(commandLines({ op: 'link.add', link: { kind: 'vxlan', name: 'flannel.1', vni: 1, local: '192.0.2.1', device: 'eth0', mtu: 1450, up: true } }))
      .toEqual(['link add flannel.1 mtu 1450 type vxlan id 1 dstport 8472 local 192.0.2.1 dev eth0 nolearning', 'link set dev flannel.1 up']);
    expect(commandLines({ op: 'route.replace', route: { dst: '10.244.2.0/24', via: '10.244.2.0', dev: 'flannel.1', onlink: true, protocol: 201 } }))
      .toEqual(['route replace 10.244.2.0/24 via 10.244.2.0 dev flannel.1 proto 201 table 254 metric 0 onlink']);
    const ecmp = { dst: '10.244.3.0/24', protocol: 186, metric: 1024, nexthops: [{ via: '192.0.2.3' }, { via: '192.0.2.2', dev: 'eth0', weight: 2, onlink: true }] };
    expect(commandLines({ op: 'route.replace', route: ecmp }))
      .toEqual(['route replace 10.244.3.0/24 proto 186 table 254 metric 1024 nexthop via 192.0.2.2 dev eth0 weight 2 onlink nexthop via 192.0.2.3 weight 1']);
    expect(commandLines({ op: 'route.del', route: ecmp })).toEqual(['route del 10.244.3.0/24 proto 186 table 254 metric 1024']);
    expect(commandLines({ op: 'fdb.append', entry: { dev: 'flannel.1', mac: '02:00:00:00:00:01', dst: '192.0.2.2' } }))
      .toEqual(['fdb append 02:00:00:00:00:01 dev flannel.1 dst 192.0.2.2 self permanent']);
  });

  it('maps -force batch errors to their line', () => {
    const failures = batchFailures('RTNETLINK answers: File exists\nCommand failed -:1\nCannot find device "x"\nCommand failed -:3\n');
    expect([...failures]).toEqual([[1, 'File exists'], [3, 'Cannot find device "x"']]);
  });
});
