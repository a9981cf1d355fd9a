import { Kernel, NotOwnedError, Route, routesEqual } from '../../../lib/dataplane/kernel';
import { ValidationError } from '../../../lib/model/errors';

/**
 * One multipath (ECMP) route scenario run against both the twin and the real kernel, so the twin
 * is held to what Linux actually does. `kernel` owns links starting with `t-m` and routes of `protocol`.
 */
export async function multipathScenario(kernel: Kernel, protocol: number): Promise<void> {
  await kernel.apply([
    { op: 'link.add', link: { kind: 'veth', name: 't-ma0', up: true, peer: { name: 't-ma1' } } },
    { op: 'link.add', link: { kind: 'veth', name: 't-mb0', up: true, peer: { name: 't-mb1' } } },
    { op: 'link.set', change: { name: 't-ma1', up: true } },
    { op: 'link.set', change: { name: 't-mb1', up: true } },
    { op: 'addr.replace', address: { dev: 't-ma0', cidr: '10.251.0.1/24' } },
    { op: 'addr.replace', address: { dev: 't-mb0', cidr: '10.251.1.1/24' } },
    { op: 'addr.replace', address: { dev: 't-ma0', cidr: 'fd51:0::1/64', nodad: true } },
    { op: 'addr.replace', address: { dev: 't-mb0', cidr: 'fd51:1::1/64', nodad: true } },
  ]);
  const ours = async (dst: string) => (await kernel.routes({ table: 'all', protocol })).filter((r) => r.dst === dst);

  // add: two next hops each, given in an order the kernel will not keep
  const v4: Route = { dst: '10.251.9.0/24', protocol, nexthops: [{ via: '10.251.1.2', dev: 't-mb0' }, { via: '10.251.0.2', dev: 't-ma0', weight: 2 }] };
  const v6: Route = { dst: 'fd51:9::/64', protocol, nexthops: [{ via: 'fd51:1::2', dev: 't-mb0' }, { via: 'fd51::2', dev: 't-ma0' }] };
  await kernel.apply([{ op: 'route.replace', route: v4 }, { op: 'route.replace', route: v6 }]);
  for (const want of [v4, v6]) {
    const have = await ours(want.dst);
    expect(have).toHaveLength(1);
    expect(have[0].nexthops).toHaveLength(2);
    expect(routesEqual(want, have[0])).toBe(true);
    expect(routesEqual({ ...want, nexthops: [...(want.nexthops ?? [])].reverse() }, have[0])).toBe(true);
  }
  // a multipath route has no single device: a dev filter does not list it (iproute2 filters on RTA_OIF)
  expect((await kernel.routes({ family: 4, protocol, dev: 't-ma0' })).map((r) => r.dst)).not.toContain('10.251.9.0/24');

  // change one next hop: the whole set is replaced, still one route
  const v4b: Route = { ...v4, nexthops: [{ via: '10.251.0.3', dev: 't-ma0' }, { via: '10.251.1.2', dev: 't-mb0' }] };
  const v6b: Route = { ...v6, nexthops: [{ via: 'fd51::3', dev: 't-ma0' }, { via: 'fd51:1::2', dev: 't-mb0', weight: 3 }] };
  await kernel.apply([{ op: 'route.replace', route: v4b }, { op: 'route.replace', route: v6b }]);
  for (const [old, want] of [[v4, v4b], [v6, v6b]] as const) {
    const have = await ours(want.dst);
    expect(have).toHaveLength(1);
    expect(routesEqual(want, have[0])).toBe(true);
    expect(routesEqual(old, have[0])).toBe(false);
  }

  // one next hop is a plain route, and is listed back as one
  const single: Route = { dst: '10.251.9.0/24', protocol, nexthops: [{ via: '10.251.0.2', dev: 't-ma0' }] };
  await kernel.apply([{ op: 'route.replace', route: single }]);
  const [plain] = await ours('10.251.9.0/24');
  expect(plain).toMatchObject({ via: '10.251.0.2', dev: 't-ma0' });
  expect(plain.nexthops).toBeUndefined();
  expect(routesEqual(single, plain)).toBe(true);

  // ownership still decides, and via + nexthops together is refused; neither changes anything
  await expect(kernel.apply([{ op: 'route.replace', route: { ...v4b, protocol: 3 } }])).rejects.toBeInstanceOf(NotOwnedError);
  const both = kernel.apply([{ op: 'route.del', route: v6b }, { op: 'route.replace', route: { ...v4b, via: '10.251.0.2' } }]);
  await expect(both).rejects.toThrow(/ops\[1\]\.route\.via: "10\.251\.0\.2" cannot be combined with ops\[1\]\.route\.nexthops/);
  await expect(both).rejects.toBeInstanceOf(ValidationError);
  expect(await ours('fd51:9::/64')).toHaveLength(1);

  // delete removes the whole multipath route
  await kernel.apply([{ op: 'route.del', route: v6b }, { op: 'route.del', route: single }]);
  expect(await ours('fd51:9::/64')).toEqual([]);
  expect(await ours('10.251.9.0/24')).toEqual([]);

  // a device going away: IPv4 drops the route, IPv6 keeps the other next hop
  await kernel.apply([{ op: 'route.replace', route: v4 }, { op: 'route.replace', route: v6 }, { op: 'link.del', name: 't-mb0' }]);
  expect(await ours('10.251.9.0/24')).toEqual([]);
  const left = await ours('fd51:9::/64');
  expect(left).toHaveLength(1);
  expect(routesEqual(left[0], { dst: 'fd51:9::/64', via: 'fd51::2', dev: 't-ma0', protocol })).toBe(true);
  await kernel.apply([{ op: 'link.del', name: 't-ma0' }]);
  expect(await ours('fd51:9::/64')).toEqual([]);
}
