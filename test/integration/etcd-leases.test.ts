import { EtcdStore } from '../../lib/dataplane/datastore/etcd';
import { Lease, LeaseEvent } from '../../lib/dataplane/flannel/lease';
import { EtcdLeaseManager, EtcdLeaseManagerOptions } from '../../lib/dataplane/flannel/lease-etcd';
import { Cidr } from '../../lib/model/cidr';
import { waitFor } from '../dataplane/datastore/helpers';
import { EtcdServer, startEtcd } from '../support/etcd';

describe('flannel subnet leases on a real etcd', () => {
  let etcd: EtcdServer;
  let admin: EtcdStore;
  const stores: EtcdStore[] = [];
  const managers: EtcdLeaseManager[] = [];
  let prefixCounter = 0;

  /** One agent: its own etcd connection and lease manager. */
  function agent(prefix: string, options: Partial<EtcdLeaseManagerOptions> = {}): EtcdLeaseManager {
    const store = EtcdStore.connect({ endpoints: [etcd.endpoint], watchRetryMs: 100 });
    stores.push(store);
    const manager = new EtcdLeaseManager({ store, prefix, ...options });
    managers.push(manager);
    return manager;
  }

  async function network(config: object): Promise<string> {
    const prefix = `/test-${++prefixCounter}/network`;
    await admin.put(`${prefix}/config`, JSON.stringify(config));
    return prefix;
  }

  const vxlan = (ip: string) => ({ publicIp: ip, backendType: 'vxlan', backendData: { VNI: 1, VtepMAC: '0a:58:0a:f4:00:01' } });

  beforeAll(async () => {
    etcd = await startEtcd();
    admin = EtcdStore.connect({ endpoints: [etcd.endpoint] });
  });

  afterAll(async () => {
    await Promise.all(managers.map((m) => m.close()));
    await Promise.all(stores.map((s) => s.close()));
    await admin?.close();
    await etcd?.stop();
  });

  test('a renew margin that is not below the TTL is refused (it would renew in a tight loop)', () => {
    expect(() => agent('/x', { ttlSeconds: 60, renewMarginSeconds: 60 })).toThrow('lease renew margin must be between 0 and the TTL (60 s), got 60 s');
  });

  test('a missing config key is an explicit error that points at the etcd v3 API', async () => {
    const manager = agent('/nothing-here');
    await expect(manager.acquireLease(vxlan('192.168.50.1'))).rejects.toThrow(/\/nothing-here\/config not found\. Did you create your config using etcdv3 API\?/);
  });

  test('a bad config in etcd is a one-line validation error naming the key and field', async () => {
    const prefix = await network({ Network: '10.5.0.0/16', SubnetLen: 31 });
    await expect(agent(prefix).getNetworkConfig()).rejects.toThrow(`${prefix}/config.SubnetLen: 31 is not valid; expected at most 30`);
  });

  test('ten agents started at once get ten distinct subnets; a restarted one keeps its subnet', async () => {
    const prefix = await network({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan' } });
    const ips = Array.from({ length: 10 }, (_, i) => `192.168.50.${i + 1}`);
    const leases = await Promise.all(ips.map((ip) => agent(prefix).acquireLease(vxlan(ip))));

    const subnets = leases.map((l) => l.subnet!.toString());
    expect(new Set(subnets).size).toBe(10);
    for (const lease of leases) {
      expect(lease.subnet!.prefix).toBe(24);
      expect(Cidr.parse('10.5.0.0/16', 'n').contains(lease.subnet!)).toBe(true);
      expect(lease.subnet!.toString()).not.toBe('10.5.0.0/24'); // the first subnet is never leased
    }
    // What etcd holds is flannel's layout: one key per subnet, flannel's JSON, under a TTL.
    const stored = await admin.list(`${prefix}/subnets/`);
    expect(stored.items).toHaveLength(10);
    const first = stored.items.find((kv) => kv.key === `${prefix}/subnets/${leases[0].subnet!.address()}-24`)!;
    expect(first.expires).toBe(true);
    expect(JSON.parse(first.value)).toEqual({ PublicIP: '192.168.50.1', BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: '0a:58:0a:f4:00:01' } });

    // Agent 4 restarts (a new manager, same public IP): same subnet, lease refreshed not duplicated.
    const again = await agent(prefix).acquireLease(vxlan(ips[3]));
    expect(again.subnet!.toString()).toBe(subnets[3]);
    expect((await admin.list(`${prefix}/subnets/`)).items).toHaveLength(10);
  });

  test('compare-and-swap: agents forced onto the same free subnet still end up with distinct ones', async () => {
    // candidates: 1 makes every agent try the lowest free subnet, so they collide on purpose.
    const prefix = await network({ Network: '10.6.0.0/16' });
    const leases = await Promise.all(Array.from({ length: 6 }, (_, i) => agent(prefix, { candidates: 1 }).acquireLease(vxlan(`192.168.60.${i + 1}`))));
    expect(new Set(leases.map((l) => l.subnet!.toString())).size).toBe(6);
    expect(leases.map((l) => l.subnet!.toString()).sort()).toEqual(['10.6.1.0/24', '10.6.2.0/24', '10.6.3.0/24', '10.6.4.0/24', '10.6.5.0/24', '10.6.6.0/24']);
  });

  test('a lost compare-and-swap is retried at most maxAttempts times, then reported', async () => {
    const prefix = await network({ Network: '10.7.0.0/16' });
    await admin.put(`${prefix}/subnets/10.7.1.0-24`, JSON.stringify({ PublicIP: '192.168.70.99' }));
    // A store whose create always loses, as if another agent always won first.
    const store = EtcdStore.connect({ endpoints: [etcd.endpoint] });
    stores.push(store);
    let creates = 0;
    const losing = Object.assign(Object.create(store) as EtcdStore, {
      create: async (key: string, value: string) => {
        creates++;
        await store.put(key, JSON.stringify({ PublicIP: `192.168.71.${creates}` }));
        return store.create(key, value);
      },
    });
    const manager = new EtcdLeaseManager({ store: losing, prefix, candidates: 1, maxAttempts: 4 });
    await expect(manager.acquireLease(vxlan('192.168.70.1'))).rejects.toThrow(/failed to acquire a subnet lease after 4 attempts/);
    expect(creates).toBe(4);
  });

  test('after its lease expired, an agent gets back the subnet from its subnet file', async () => {
    const prefix = await network({ Network: '10.8.0.0/16' });
    const first = await agent(prefix, { ttlSeconds: 1, renewMarginSeconds: 0 }).acquireLease(vxlan('192.168.80.1'));
    await waitFor(async () => (await admin.list(`${prefix}/subnets/`)).items.length === 0, 'the lease to expire');
    // New public IP (the node was re-addressed): the lease cannot be matched by IP, only by subnet.env.
    const back = await agent(prefix, { previous: { subnet: first.subnet } }).acquireLease(vxlan('192.168.80.2'));
    expect(back.subnet!.toString()).toBe(first.subnet!.toString());
  });

  test('a previous subnet now held by another node is not taken', async () => {
    const prefix = await network({ Network: '10.9.0.0/16' });
    const holder = await agent(prefix).acquireLease(vxlan('192.168.90.1'));
    const other = await agent(prefix, { previous: { subnet: holder.subnet } }).acquireLease(vxlan('192.168.90.2'));
    expect(other.subnet!.toString()).not.toBe(holder.subnet!.toString());
  });

  test('keepLease renews before expiry so the lease outlives its TTL; an unkept lease expires', async () => {
    const prefix = await network({ Network: '10.10.0.0/16' });
    const kept = agent(prefix, { ttlSeconds: 2, renewMarginSeconds: 1 });
    const unkept = agent(prefix, { ttlSeconds: 2, renewMarginSeconds: 1 });
    const lease = await kept.acquireLease(vxlan('192.168.100.1'));
    const other = await unkept.acquireLease(vxlan('192.168.100.2'));
    const renewals: Lease[] = [];
    let revoked = false;
    const keeper = kept.keepLease(lease, { onRenewed: (l) => renewals.push(l), onRevoked: () => (revoked = true) });
    await waitFor(async () => (await admin.get(`${prefix}/subnets/${other.key}`)) === undefined, 'the unkept lease to expire');
    await waitFor(() => renewals.length >= 3, 'three renewals');
    expect(await admin.get(`${prefix}/subnets/${lease.key}`)).toMatchObject({ expires: true });
    expect(renewals[2].expiration!.getTime()).toBeGreaterThan(lease.expiration!.getTime());
    expect(revoked).toBe(false);
    await keeper.stop();
  });

  test('deleting a node\'s lease revokes it', async () => {
    const prefix = await network({ Network: '10.11.0.0/16' });
    const manager = agent(prefix);
    const lease = await manager.acquireLease(vxlan('192.168.110.1'));
    const revoked: Lease[] = [];
    manager.keepLease(lease, { onRevoked: (l) => revoked.push(l) });
    await admin.delete(`${prefix}/subnets/${lease.key}`);
    await waitFor(() => revoked.length === 1, 'the revocation');
    expect(revoked[0].key).toBe(lease.key);
  });

  test('reservations (keys without TTL) are never given to others and are used by their node', async () => {
    // /28 split in /30s: subnets .4, .8, .12 are allocatable (.0 is skipped).
    const prefix = await network({ Network: '10.12.0.0/28' });
    await admin.put(`${prefix}/subnets/10.12.0.8-30`, JSON.stringify({ PublicIP: '192.168.120.8', BackendType: 'vxlan' }));
    const a = await agent(prefix).acquireLease(vxlan('192.168.120.1'));
    const b = await agent(prefix).acquireLease(vxlan('192.168.120.2'));
    expect([a.subnet!.toString(), b.subnet!.toString()].sort()).toEqual(['10.12.0.12/30', '10.12.0.4/30']);
    await expect(agent(prefix).acquireLease(vxlan('192.168.120.3'))).rejects.toThrow(/out of subnets/);

    const owner = agent(prefix, { ttlSeconds: 1, renewMarginSeconds: 0 });
    const reserved = await owner.acquireLease(vxlan('192.168.120.8'));
    expect(reserved.subnet!.toString()).toBe('10.12.0.8/30');
    expect(reserved.expiration).toBeUndefined();
    const kv = await admin.get(`${prefix}/subnets/10.12.0.8-30`);
    expect(kv).toMatchObject({ expires: false });
    expect(JSON.parse(kv!.value).BackendData).toEqual({ VNI: 1, VtepMAC: '0a:58:0a:f4:00:01' });
  });

  test('an own lease that no longer fits the config is replaced', async () => {
    const prefix = await network({ Network: '10.13.0.0/16', SubnetMin: '10.13.10.0', SubnetMax: '10.13.20.0' });
    await admin.put(`${prefix}/subnets/10.13.99.0-24`, JSON.stringify({ PublicIP: '192.168.130.1', BackendType: 'vxlan' }), { ttlSeconds: 3600 });
    const lease = await agent(prefix).acquireLease(vxlan('192.168.130.1'));
    expect(lease.subnet!.network >= Cidr.parse('10.13.10.0/24', 'x').network && lease.subnet!.network <= Cidr.parse('10.13.20.0/24', 'x').network).toBe(true);
    expect(await admin.get(`${prefix}/subnets/10.13.99.0-24`)).toBeUndefined();
  });

  test('a lease of another length (an older SubnetLen) still blocks every subnet it overlaps', async () => {
    const prefix = await network({ Network: '10.16.0.0/16' });
    await admin.put(`${prefix}/subnets/10.16.0.0-20`, JSON.stringify({ PublicIP: '192.168.160.99', BackendType: 'vxlan' }), { ttlSeconds: 3600 });
    const lease = await agent(prefix, { candidates: 1 }).acquireLease(vxlan('192.168.160.1'));
    expect(lease.subnet!.toString()).toBe('10.16.16.0/24');
  });

  test('dual-stack leases use the & key form and both families', async () => {
    const prefix = await network({ Network: '10.14.0.0/16', EnableIPv6: true, IPv6Network: 'fd00:14::/56' });
    const lease = await agent(prefix).acquireLease({ ...vxlan('192.168.140.1'), publicIpv6: 'fd00:1::1', backendV6Data: { VNI: 1, VtepMAC: '0a:58:0a:f4:00:02' } });
    expect(lease.key).toBe(`${lease.subnet!.address()}-24&${lease.ipv6Subnet!.address()}-64`);
    const stored = JSON.parse((await admin.get(`${prefix}/subnets/${lease.key}`))!.value);
    expect(stored).toMatchObject({ PublicIP: '192.168.140.1', PublicIPv6: 'fd00:1::1', BackendV6Data: { VNI: 1 } });
    const again = await agent(prefix).acquireLease({ ...vxlan('192.168.140.1'), publicIpv6: 'fd00:1::1' });
    expect(again.key).toBe(lease.key);
  });

  test('watchLeases reports the current leases, then additions and removals', async () => {
    const prefix = await network({ Network: '10.15.0.0/16' });
    const watcher = agent(prefix);
    const own = await watcher.acquireLease(vxlan('192.168.150.1'));
    const batches: (readonly LeaseEvent[])[] = [];
    const events = () => batches.flat().map((e) => `${e.type} ${e.lease.attrs.publicIp}`);
    const watch = watcher.watchLeases((batch) => batches.push(batch));
    await waitFor(() => batches.length >= 1, 'the initial snapshot');
    expect(events()).toEqual(['added 192.168.150.1']);
    expect(batches[0][0].lease.key).toBe(own.key);

    const peer = await agent(prefix).acquireLease(vxlan('192.168.150.2'));
    await waitFor(() => events().includes('added 192.168.150.2'), 'the peer to be added');
    await admin.delete(`${prefix}/subnets/${peer.key}`);
    await waitFor(() => events().includes('removed 192.168.150.2'), 'the peer to be removed');
    const removed = batches.flat().find((e) => e.type === 'removed')!;
    expect(removed.lease.subnet!.toString()).toBe(peer.subnet!.toString());
    expect(removed.lease.attrs.backendType).toBe('vxlan');
    await watch.stop();
  });

  test('watchLeases ignores a lease outside the Network or of another length, once per revision, and keeps a peer\'s last good version', async () => {
    const prefix = await network({ Network: '10.17.0.0/16' });
    const watcher = agent(prefix);
    await watcher.acquireLease(vxlan('192.168.170.1'));
    const peer = await agent(prefix).acquireLease(vxlan('192.168.170.2'));
    await admin.put(`${prefix}/subnets/192.168.5.0-24`, JSON.stringify({ PublicIP: '192.168.170.3', BackendType: 'vxlan' }));
    await admin.put(`${prefix}/subnets/10.17.99.0-25`, JSON.stringify({ PublicIP: '192.168.170.4', BackendType: 'vxlan' }));
    const batches: (readonly LeaseEvent[])[] = [];
    const refused: string[] = [];
    const events = () => batches.flat().map((e) => `${e.type} ${e.lease.attrs.publicIp}`);
    const watch = watcher.watchLeases((batch) => batches.push(batch), { onRefused: (reason) => refused.push(reason) });
    await waitFor(() => batches.length >= 1, 'the initial snapshot');
    expect(events().sort()).toEqual(['added 192.168.170.1', 'added 192.168.170.2']);
    expect(refused).toEqual([
      `${prefix}/subnets/10.17.99.0-25: subnet "10.17.99.0/25" is not valid; expected a /24 inside Network 10.17.0.0/16`,
      `${prefix}/subnets/192.168.5.0-24: subnet "192.168.5.0/24" is not valid; expected a /24 inside Network 10.17.0.0/16`,
    ]);

    // A peer's lease rewritten with a corrupt value: refused, its last good version stays.
    await admin.put(`${prefix}/subnets/${peer.key}`, '{"PublicIP":"not-an-ip"', { ttlSeconds: 3600 });
    await waitFor(() => refused.length === 3, 'the corrupt value to be refused');
    expect(refused[2]).toBe(`${prefix}/subnets/${peer.key}: value ${JSON.stringify('{"PublicIP":"not-an-ip"')} is not valid; expected a JSON object`);
    // Another bad record in the same place after a relist is not a second line for the same revision.
    await admin.put(`${prefix}/subnets/192.168.6.0-24`, JSON.stringify({ PublicIP: '192.168.170.5', BackendType: 'vxlan' }));
    await waitFor(() => refused.length === 4, 'the second outside lease');
    expect(events().sort()).toEqual(['added 192.168.170.1', 'added 192.168.170.2']);
    expect(refused).toHaveLength(4);
    await watch.stop();
  });

  test('an own lease whose value is corrupted is rewritten with the node\'s attributes, not revoked', async () => {
    const prefix = await network({ Network: '10.18.0.0/16' });
    const manager = agent(prefix);
    const lease = await manager.acquireLease(vxlan('192.168.180.1'));
    const repaired: string[] = [];
    let revoked = false;
    const keeper = manager.keepLease(lease, { onRevoked: () => (revoked = true), onRepaired: (l, reason) => repaired.push(`${l.key}: ${reason}`) });
    for (const corrupt of ['garbage', JSON.stringify({ PublicIP: 'x', BackendType: 'vxlan' }), '{}']) {
      const before = repaired.length;
      await admin.put(`${prefix}/subnets/${lease.key}`, corrupt); // as `etcdctl put` does: no TTL
      await waitFor(() => repaired.length > before, `the repair of ${corrupt}`);
      await waitFor(async () => JSON.parse((await admin.get(`${prefix}/subnets/${lease.key}`))!.value).PublicIP === '192.168.180.1', 'the rewritten value');
    }
    expect(repaired[0]).toBe(`${lease.key}: ${prefix}/subnets/${lease.key}: value "garbage" is not valid; expected a JSON object`);
    expect(repaired[1]).toMatch(/PublicIP "x" is not valid; expected an IPv4 address/);
    expect(revoked).toBe(false);
    expect(await admin.get(`${prefix}/subnets/${lease.key}`)).toMatchObject({ expires: true });
    // Another node's address in the value is a take-over: revoked, as flannel.
    await admin.put(`${prefix}/subnets/${lease.key}`, JSON.stringify({ PublicIP: '192.168.180.9', BackendType: 'vxlan' }), { ttlSeconds: 3600 });
    await waitFor(() => revoked, 'the revocation');
    await keeper.stop();
  });

  test('a restarted node whose lease value is corrupt takes back the subnet from its subnet file', async () => {
    const prefix = await network({ Network: '10.19.0.0/16' });
    const first = await agent(prefix, { candidates: 1 }).acquireLease(vxlan('192.168.190.1'));
    expect(first.key).toBe('10.19.1.0-24');
    await admin.put(`${prefix}/subnets/${first.key}`, 'garbage', { ttlSeconds: 3600 });
    const again = await agent(prefix, { previous: { subnet: first.subnet } }).acquireLease(vxlan('192.168.190.1'));
    expect(again.key).toBe(first.key);
    expect(JSON.parse((await admin.get(`${prefix}/subnets/${first.key}`))!.value)).toMatchObject({ PublicIP: '192.168.190.1' });
    // Without the subnet file, a corrupt lease still holds its subnet: nobody else is given it.
    await admin.put(`${prefix}/subnets/${first.key}`, 'garbage', { ttlSeconds: 3600 });
    const other = await agent(prefix, { candidates: 1 }).acquireLease(vxlan('192.168.190.2'));
    expect(other.key).toBe('10.19.2.0-24');
  });
});
