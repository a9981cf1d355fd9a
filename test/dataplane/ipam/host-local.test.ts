import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AttachmentBusyError, HostLocalStore, IpamRange, RangeFullError } from '../../../lib/dataplane/ipam/host-local';
import { Cidr } from '../../../lib/model/cidr';

describe('HostLocalStore', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(path.join(tmpdir(), 'cnikit-ipam-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const v4: IpamRange = { subnet: Cidr.parse('10.9.1.0/29', 'test'), gateway: '10.9.1.1' };
  const v6: IpamRange = { subnet: Cidr.parse('fd00:9:1::/120', 'test'), gateway: 'fd00:9:1::1' };

  it('hands out addresses round-robin, skipping the network, the gateway and the broadcast address', async () => {
    const store = new HostLocalStore(dir);
    const got: string[] = [];
    for (let i = 0; i < 5; i++) got.push((await store.allocate(`c${i}`, 'eth0', [v4]))[0].address);
    expect(got).toEqual(['10.9.1.2/29', '10.9.1.3/29', '10.9.1.4/29', '10.9.1.5/29', '10.9.1.6/29']);
    await expect(store.allocate('c5', 'eth0', [v4])).rejects.toBeInstanceOf(RangeFullError);
    await store.release('c1', 'eth0');
    expect((await store.allocate('c6', 'eth0', [v4]))[0].address).toBe('10.9.1.3/29');
    expect(readFileSync(path.join(dir, '10.9.1.3'), 'utf8')).toBe('c6\r\neth0');
  });

  it('gives racing allocations distinct addresses', async () => {
    const store = new HostLocalStore(dir);
    const range: IpamRange = { subnet: Cidr.parse('10.9.2.0/24', 'test'), gateway: '10.9.2.1' };
    const all = await Promise.all(Array.from({ length: 40 }, (_, i) => new HostLocalStore(dir).allocate(`r${i}`, 'eth0', [range])));
    expect(new Set(all.map((a) => a[0].address)).size).toBe(40);
    expect((await store.reservations()).length).toBe(40);
  });

  it('is idempotent per (container, ifname), dual-stack, and releases by owner', async () => {
    const store = new HostLocalStore(dir);
    const first = await store.allocate('c', 'eth0', [v4, v6]);
    expect(first).toEqual([
      { address: '10.9.1.2/29', gateway: '10.9.1.1', family: 4 },
      { address: 'fd00:9:1::2/120', gateway: 'fd00:9:1::1', family: 6 },
    ]);
    expect(await store.allocate('c', 'eth0', [v4, v6])).toEqual(first);
    expect((await store.allocate('c', 'net1', [v4]))[0].address).toBe('10.9.1.3/29');
    expect((await store.release('c', 'eth0')).sort()).toEqual(['10.9.1.2', 'fd00:9:1::2']);
    expect(await store.release('c', 'eth0')).toEqual([]);
    expect((await store.reservations()).map((r) => r.ip)).toEqual(['10.9.1.3']);
  });

  it('runs operations on one attachment one at a time, across store instances', async () => {
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => { release = resolve; });
    const first = new HostLocalStore(dir).exclusive('c', 'eth0', async () => {
      order.push('first in');
      await held;
      order.push('first out');
    });
    const second = new HostLocalStore(dir).exclusive('c', 'eth0', async () => { order.push('second'); });
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['first in', 'first out', 'second']);
  });

  it('gives up with AttachmentBusyError when another process holds the attachment past the wait', async () => {
    const store = new HostLocalStore(dir, 50);
    const file = store.lockFileOf('c', 'eth0');
    mkdirSync(path.dirname(file), { recursive: true });
    const holder = spawn('flock', ['--exclusive', file, '-c', 'echo held; cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise((resolve) => holder.stdout.once('data', resolve));
    let ran = false;
    await expect(store.exclusive('c', 'eth0', async () => { ran = true; })).rejects.toBeInstanceOf(AttachmentBusyError);
    expect(ran).toBe(false);
    holder.stdin.end();
    await new Promise((resolve) => holder.once('exit', resolve));
    await new HostLocalStore(dir).exclusive('c', 'eth0', async () => { ran = true; });
    expect(ran).toBe(true);
  });

  it('GC keeps only the listed attachments', async () => {
    const store = new HostLocalStore(dir);
    for (const id of ['a', 'b', 'c']) await store.allocate(id, 'eth0', [v4]);
    const released = await store.releaseAllExcept(new Set(['b\neth0']));
    expect(released.map((r) => r.containerId).sort()).toEqual(['a', 'c']);
    expect((await store.reservations()).map((r) => r.containerId)).toEqual(['b']);
    expect(await store.reservationsOf('a', 'eth0')).toEqual([]);
  });

  it('GC of one network leaves another network\'s reservations; one that records no network is any network\'s', async () => {
    const store = new HostLocalStore(dir);
    await store.allocate('a', 'eth0', [v4], 'net-a');
    const [kept] = await store.allocate('b', 'eth0', [v4], 'net-b');
    const [legacy] = await store.allocate('c', 'eth0', [v4]);
    expect(readFileSync(path.join(dir, kept.address.split('/')[0]), 'utf8')).toBe('b\r\neth0\r\nnet-b');
    expect(readFileSync(path.join(dir, legacy.address.split('/')[0]), 'utf8')).toBe('c\r\neth0');
    const released = await store.releaseAllExcept(new Set(), 'net-a');
    expect(released.map((r) => r.containerId).sort()).toEqual(['a', 'c']);
    expect(await store.reservations()).toEqual([{ ip: kept.address.split('/')[0], containerId: 'b', ifname: 'eth0', network: 'net-b' }]);
  });

  it('GC removes the reservation draft of a process killed mid-ADD, not a live one\'s', async () => {
    const store = new HostLocalStore(dir);
    await store.allocate('a', 'eth0', [v4]);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(path.join(dir, `.reserving.${dead}.0a0b0c0d`), 'x\r\neth0');
    writeFileSync(path.join(dir, `.reserving.${process.pid}.0a0b0c0d`), 'y\r\neth0');
    await store.releaseAllExcept(new Set(['a\neth0']));
    expect(readdirSync(dir).filter((name) => name.startsWith('.reserving.'))).toEqual([`.reserving.${process.pid}.0a0b0c0d`]);
    expect((await store.reservations()).map((r) => r.containerId)).toEqual(['a']);
  });
});
