import { BgpSpeaker, BgpSpeakerConfig } from '../../../lib/dataplane/bgp/speaker';
import { MemoryNetwork } from '../../../lib/dataplane/kernel';

/**
 * Speakers talking real BGP over real TCP on loopback (127.0.0.x: no namespace needed), each
 * programming a kernel twin. Polls with a deadline instead of fixed sleeps.
 */
const AS = 64512;
const PORT = 20000 + (process.pid % 20000);

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 10000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function kernelFor(network: MemoryNetwork, name: string, address: string) {
  const setup = network.kernel({ everything: true }, name);
  return { setup, address };
}

describe('BgpSpeaker over loopback TCP', () => {
  const network = new MemoryNetwork();
  const speakers: BgpSpeaker[] = [];
  const logs: string[] = [];

  async function speaker(n: number, config: Omit<BgpSpeakerConfig, 'routerId' | 'listenAddress' | 'listenPort' | 'kernel'>): Promise<BgpSpeaker> {
    const { setup } = kernelFor(network, `n${n}`, `127.0.0.${n}`);
    const ns = network.namespace(`n${n}`);
    ns.links.get('lo')!.up = true;
    await setup.apply([{ op: 'addr.replace', address: { dev: 'lo', cidr: `127.0.0.${n}/8` } }]);
    const s = new BgpSpeaker({
      routerId: `127.0.0.${n}`, listenAddress: `127.0.0.${n}`, listenPort: PORT, families: ['ipv4'], kernelBatchMs: 5, connectRetryTime: 1,
      kernel: network.kernel({ routeProtocol: 186 }, `n${n}`), ...config,
    }, (line) => logs.push(`[n${n}] ${line}`));
    speakers.push(s);
    await s.start();
    return s;
  }

  const peer = (n: number, over: object = {}) => ({ address: `127.0.0.${n}`, port: PORT, asn: AS, localAddress: undefined, ...over });
  const routes = (n: number) => [...network.namespace(`n${n}`).routes.values()].filter((r) => r.protocol === 186).map((r) => `${r.dst} via ${r.via ?? r.nexthops?.map((h) => h.via).sort().join(' + ')}`).sort();

  afterAll(async () => {
    await Promise.all(speakers.map((s) => s.stop()));
  });

  afterEach(() => {
    if (expect.getState().assertionCalls !== expect.getState().numPassingAsserts) process.stderr.write(`${logs.join('\n')}\n`);
  });

  it('route reflector with two clients and an external peer: reflection, next hops, AS path and kernel routes', async () => {
    const rr = await speaker(1, { asn: AS, clusterId: '244.0.0.1', peers: [peer(2, { rrClient: true, localAddress: '127.0.0.1' }), peer(3, { rrClient: true, localAddress: '127.0.0.1' }), peer(4, { asn: 65000, localAddress: '127.0.0.1' })] });
    const b = await speaker(2, { asn: AS, localRoutes: ['10.244.2.0/26'], peers: [peer(1, { passive: true })] });
    const c = await speaker(3, { asn: AS, localRoutes: ['10.244.3.0/26'], peers: [peer(1, { localAddress: '127.0.0.3' })], gracefulRestartTime: 1 });
    const ext = await speaker(4, { asn: 65000, localRoutes: ['198.51.100.0/24'], peers: [peer(1, { localAddress: '127.0.0.4' })] });
    await until('sessions Established', () => [rr, b, c, ext].every((s) => s.status().every((p) => p.state === 'Established')));
    await until('b learns c and the external route', () => routes(2).length === 2 && routes(2));
    expect(routes(2)).toEqual(['10.244.3.0/26 via 127.0.0.3', '198.51.100.0/24 via 127.0.0.4']);
    await until('c learns b', () => routes(3).length === 2);
    expect(routes(3)).toEqual(['10.244.2.0/26 via 127.0.0.2', '198.51.100.0/24 via 127.0.0.4']);
    await until('rr learns all', () => routes(1).length === 3);
    // The external peer sees the blocks with our AS prepended; all share 127.0.0.0/8, so the owners stay next hops (third party).
    await until('external learns the blocks', () => routes(4).length === 2);
    expect(routes(4)).toEqual(['10.244.2.0/26 via 127.0.0.2', '10.244.3.0/26 via 127.0.0.3']);
    const learned = ext.rib.best('10.244.2.0/26')[0];
    expect(learned.attributes.asPath).toEqual([{ type: 'sequence', asns: [AS] }]);
    expect(b.rib.best('10.244.3.0/26')[0].attributes).toMatchObject({ originatorId: '127.0.0.3', clusterList: ['244.0.0.1'] });

    // A withdrawn block disappears everywhere.
    b.setLocalRoutes([]);
    await until('c drops b', () => routes(3).length === 1);
    expect(routes(4)).toEqual(['10.244.3.0/26 via 127.0.0.3']);

    // c restarts gracefully (TCP dropped, no NOTIFICATION): its route stays stale for its 1 s restart time, then goes.
    await c.stop({ restarting: true });
    await until('rr notices', () => rr.status().find((p) => p.address === '127.0.0.3')?.state !== 'Established');
    expect(rr.rib.best('10.244.3.0/26')[0]?.stale).toBe(true);
    expect(routes(2)).toContain('10.244.3.0/26 via 127.0.0.3');
    await until('stale route withdrawn after the restart time', () => !routes(2).includes('10.244.3.0/26 via 127.0.0.3'), 5000);
    expect(logs.some((l) => l.includes('restart time of 127.0.0.3 expired'))).toBe(true);
  });

  it('both sides connecting at once: the collision leaves one session (RFC 4271 §6.8) and routes flow', async () => {
    const make = async (n: number, other: number) => {
      const ns = network.namespace(`n${n}`);
      ns.links.get('lo')!.up = true;
      await network.kernel({ everything: true }, `n${n}`).apply([{ op: 'addr.replace', address: { dev: 'lo', cidr: `127.0.0.${n}/8` } }]);
      const s = new BgpSpeaker({
        routerId: `127.0.0.${n}`, asn: AS, listenAddress: `127.0.0.${n}`, listenPort: PORT, families: ['ipv4'], connectRetryTime: 1, kernelBatchMs: 5,
        localRoutes: [`10.${n}.0.0/24`], peers: [peer(other)], kernel: network.kernel({ routeProtocol: 186 }, `n${n}`), kernelResyncSeconds: 1,
      }, (line) => logs.push(`[n${n}] ${line}`));
      speakers.push(s);
      return s;
    };
    const a = await make(41, 42);
    const b = await make(42, 41);
    await Promise.all([a.start(), b.start()]);
    await until('one session each side', () => [a, b].every((s) => s.status()[0].state === 'Established')).catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify([a.status(), b.status()])}\n${logs.join('\n')}`); });
    await until('routes both ways', () => routes(41).length === 1 && routes(42).length === 1);
    expect(routes(41)).toEqual(['10.42.0.0/24 via 127.0.0.42']);
    expect(logs.filter((l) => /\[n4[12]\] bgp: session with .* established/.test(l))).toHaveLength(2);
    // Drift: a learned route deleted behind the speaker's back comes back with the periodic full pass.
    const ns41 = network.namespace('n41');
    for (const [key, r] of ns41.routes) if (r.protocol === 186) ns41.routes.delete(key);
    expect(routes(41)).toEqual([]);
    await until('route repaired', () => routes(41).length === 1, 5000);
  });

  it('equal paths from two peers become one multipath kernel route, replaced as the ECMP set changes', async () => {
    const a = await speaker(60, { asn: AS, peers: [peer(61, { asn: 65001, localAddress: '127.0.0.60' }), peer(62, { asn: 65001, localAddress: '127.0.0.60' })] });
    const b = await speaker(61, { asn: 65001, localRoutes: ['203.0.113.0/24'], peers: [peer(60, { localAddress: '127.0.0.61' })] });
    const c = await speaker(62, { asn: 65001, localRoutes: ['203.0.113.0/24'], peers: [peer(60, { localAddress: '127.0.0.62' })] });
    await until('sessions Established', () => [a, b, c].every((s) => s.status().every((p) => p.state === 'Established')));
    await until('both next hops programmed', () => routes(60).some((r) => r.includes('+')));
    expect(routes(60)).toEqual(['203.0.113.0/24 via 127.0.0.61 + 127.0.0.62']);
    expect(a.rib.best('203.0.113.0/24')).toHaveLength(2);

    c.setLocalRoutes([]);
    await until('one path left: a plain route', () => routes(60)[0] === '203.0.113.0/24 via 127.0.0.61');
    expect([...network.namespace('n60').routes.values()].filter((r) => r.protocol === 186)).toEqual([expect.not.objectContaining({ nexthops: expect.anything() })]);

    c.setLocalRoutes(['203.0.113.0/24']);
    await until('the set grows back', () => routes(60)[0] === '203.0.113.0/24 via 127.0.0.61 + 127.0.0.62');
    expect(routes(60)).toHaveLength(1);
  });

  it('dual stack as Calico runs it: an IPv4 session carries the IPv4 routes, an IPv6 session the IPv6 ones, next hop the session\'s own address', async () => {
    // Both listen on all addresses (IPv4 arrives v4-mapped), each on its own port; IPv6 runs over ::1.
    const make = async (n: number, other: number, passive4: boolean) => {
      const ns = network.namespace(`n${n}`);
      ns.links.get('lo')!.up = true;
      await network.kernel({ everything: true }, `n${n}`).apply([
        { op: 'addr.replace', address: { dev: 'lo', cidr: `127.0.0.${n}/8` } }, { op: 'addr.replace', address: { dev: 'lo', cidr: '::1/128' } },
      ]);
      const s = new BgpSpeaker({
        routerId: `127.0.0.${n}`, asn: AS, listenAddress: '::', listenPort: PORT + n, connectRetryTime: 1, kernelBatchMs: 5,
        localRoutes: [`10.${n}.0.0/24`, `fd${n}::/64`],
        peers: [
          { address: `127.0.0.${other}`, port: PORT + other, asn: AS, passive: passive4 },
          // Written long-hand: the speaker keys peers by the canonical text the kernel reports (::1).
          { address: '0:0:0:0:0:0:0:1', port: PORT + other, asn: AS, passive: !passive4 },
        ],
        kernel: network.kernel({ routeProtocol: 186 }, `n${n}`),
      }, (line) => logs.push(`[n${n}] ${line}`));
      speakers.push(s);
      return s;
    };
    const a = await make(71, 72, false);
    const b = await make(72, 71, true);
    await Promise.all([a.start(), b.start()]);
    await until('both sessions Established on both sides', () => [a, b].every((s) => s.status().every((p) => p.state === 'Established')))
      .catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify([a.status(), b.status()])}\n${logs.join('\n')}`); });
    expect(a.status().map((p) => [p.address, p.families])).toEqual([['127.0.0.72', ['ipv4']], ['::1', ['ipv6']]]);
    expect(logs.filter((l) => /\[n71\] bgp: session with .* established/.test(l)).map((l) => l.replace(/.*session with (\S+) .*, (\S+)\)$/, '$1 $2')).sort())
      .toEqual(['127.0.0.72 ipv4', '::1 ipv6']);
    await until('routes of both families', () => routes(71).length === 2 && routes(72).length === 2);
    expect(routes(71)).toEqual(['10.72.0.0/24 via 127.0.0.72', 'fd72::/64 via ::1']);
    expect(routes(72)).toEqual(['10.71.0.0/24 via 127.0.0.71', 'fd71::/64 via ::1']);
    // Each session carried its own family only.
    expect(b.rib.adjRibIn('127.0.0.71').map((p) => p.prefix)).toEqual(['10.71.0.0/24']);
    expect(b.rib.adjRibIn('::1').map((p) => p.prefix)).toEqual(['fd71::/64']);
    expect(a.status().map((p) => p.advertised)).toEqual([1, 1]);
  });

  it('a peer whose family the speaker does not carry is refused in one line', async () => {
    const s = await speaker(10, { asn: AS, peers: [{ address: 'fd00::10', asn: AS }] });
    expect(s.status()).toEqual([expect.objectContaining({ state: 'Refused', families: [], refused: 'bgp: peer fd00::10: carries ipv6, none of the speaker\'s families (ipv4); session not started' })]);
  });

  it('a configured password is refused with a one-line reason instead of running unauthenticated', async () => {
    const s = await speaker(9, { asn: AS, peers: [peer(8, { password: 'secret' })] });
    expect(s.status()).toEqual([expect.objectContaining({ state: 'Refused', refused: expect.stringContaining('TCP_MD5SIG') })]);
    expect(logs.filter((l) => l.includes('TCP-MD5'))).toHaveLength(1);
  });
});
