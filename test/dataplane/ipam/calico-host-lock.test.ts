import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileLock, HANDOFF_TURNS } from '../../../lib/dataplane/ipam/calico-host-lock';
import { run } from '../../../lib/lab/exec';

/** Another process holding flock(2) on `file` (as Calico's own CNI plugin would) until its stdin closes. */
async function holder(file: string): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn('flock', ['--exclusive', file, 'sh', '-c', 'echo held; cat >/dev/null']);
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
  });
  return child;
}

/** Resolves once the kernel lists a process blocked on `file`'s flock (the "->" lines of /proc/locks). */
async function kernelWaiter(file: string): Promise<void> {
  const inode = statSync(file).ino;
  for (;;) {
    const locks = await readFile('/proc/locks', 'utf8');
    if (locks.split('\n').some((l) => l.includes('->') && l.includes('FLOCK') && l.includes(`:${inode} `))) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('FileLock: the IPAM host lock across CNI processes', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cnikit-lock-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('waits in the kernel while another process holds the flock, and runs once it is released', async () => {
    const file = path.join(dir, 'a.lock');
    const other = await holder(file);
    const events: string[] = [];
    const run = new FileLock(file).run(async () => { events.push('ran'); });
    await kernelWaiter(file);
    events.push('released');
    other.stdin.end();
    await run;
    expect(events).toEqual(['released', 'ran']);
  });

  test('a holder that dies (SIGKILL) releases the lock with its descriptor: no stale-owner wait', async () => {
    const file = path.join(dir, 'b.lock');
    const other = await holder(file);
    const run = new FileLock(file).run(() => Promise.resolve('ran'));
    await kernelWaiter(file);
    other.kill('SIGKILL');
    await expect(run).resolves.toBe('ran');
  });

  test('stops waiting when the invocation deadline aborts, with its reason', async () => {
    const file = path.join(dir, 'c.lock');
    const other = await holder(file);
    const controller = new AbortController();
    const run = new FileLock(file, { signal: controller.signal }).run(() => Promise.resolve('ran'));
    await kernelWaiter(file);
    controller.abort(new Error('deadline passed'));
    await expect(run).rejects.toThrow('deadline passed');
    other.stdin.end();
    // the lock was not left taken by the abandoned wait
    await expect(new FileLock(file).run(() => Promise.resolve('next'))).resolves.toBe('next');
  });

  test('a caller queued behind another in this process stops waiting when its deadline aborts, not when its turn comes', async () => {
    // The resident CNI server: 100 ADDs queue on one node's lock. An ADD whose bound passed must answer
    // error 11 then (the runtime retries), not minutes later when the ADDs ahead of it are done.
    const file = path.join(dir, 'e.lock');
    let release!: () => void;
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => { entered = resolve; });
    const holding = new FileLock(file).run(() => new Promise<string>((resolve) => {
      release = () => resolve('first');
      entered();
    }));
    await inside;
    const controller = new AbortController();
    let ran = false;
    const queued = new FileLock(file, { signal: controller.signal }).run(async () => { ran = true; });
    controller.abort(new Error('lock wait bound passed'));
    await expect(queued).rejects.toThrow('lock wait bound passed');
    // still held by the first caller when the queued one gave up
    release();
    await expect(holding).resolves.toBe('first');
    expect(ran).toBe(false);
    // the queue goes on: the next caller gets the lock
    await expect(new FileLock(file).run(() => Promise.resolve('next'))).resolves.toBe('next');
  });

  test('callers in one process queue first come, first served, one at a time', async () => {
    const file = path.join(dir, 'd.lock');
    const order: number[] = [];
    let inside = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 8 }, (_, i) => new FileLock(file).run(async () => {
      most = Math.max(most, ++inside);
      await new Promise((resolve) => setImmediate(resolve));
      order.push(i);
      inside--;
    })));
    expect({ order, most }).toEqual({ order: [0, 1, 2, 3, 4, 5, 6, 7], most: 1 });
  });

  test('a burst in one process takes the kernel lock once, hands it on, and lets it go when the queue drains', async () => {
    const file = path.join(dir, 'e.lock');
    const spawns = path.join(dir, 'e.spawns');
    const flock = path.join(dir, 'counting-flock');
    writeFileSync(flock, `#!/bin/sh\necho >> ${spawns}\nexec flock "$@"\n`);
    chmodSync(flock, 0o755);
    writeFileSync(spawns, '');
    const burst = () => Promise.all(Array.from({ length: HANDOFF_TURNS - 1 }, () => new FileLock(file, { flockBinary: flock }).run(() => new Promise((resolve) => setImmediate(resolve)))));
    await burst();
    expect(readFileSync(spawns, 'utf8').split('\n').length - 1).toBe(1);
    // released: another process gets it without waiting
    expect((await run(['flock', '--nonblock', file, 'true'], { allowFailure: true })).code).toBe(0);
    await burst();
    expect(readFileSync(spawns, 'utf8').split('\n').length - 1).toBe(2);
  });

  test('another process waiting in the kernel gets its turn within HANDOFF_TURNS of a longer burst', async () => {
    const file = path.join(dir, 'f.lock');
    const callers = 3 * HANDOFF_TURNS;
    let done = 0;
    let doneWhenOtherHeld: number | undefined;
    let other: ChildProcessWithoutNullStreams | undefined;
    let otherExited: Promise<unknown> = Promise.resolve();
    const turns = Array.from({ length: callers }, (_, i) => new FileLock(file).run(async () => {
      if (i === 0) {
        // queued in the kernel behind this process, as Calico's own plugin would be
        other = spawn('flock', ['--exclusive', file, 'sh', '-c', 'echo held']);
        otherExited = new Promise((resolve) => other?.once('exit', resolve));
        other.stdout.once('data', () => { doneWhenOtherHeld = done; });
        await kernelWaiter(file);
      }
      await new Promise((resolve) => setImmediate(resolve));
      done++;
    }));
    await Promise.all(turns);
    await otherExited;
    expect(doneWhenOtherHeld).toBeDefined();
    expect(doneWhenOtherHeld!).toBeLessThan(callers);
    expect(doneWhenOtherHeld! % HANDOFF_TURNS).toBe(0);
  });
});
