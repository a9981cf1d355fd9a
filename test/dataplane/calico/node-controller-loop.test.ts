import { Clock } from '../../../lib/dataplane/bgp/session/clock';
import { GcResult } from '../../../lib/dataplane/calico/controllers';
import { KubeControllersSettings } from '../../../lib/dataplane/calico/kube-controllers-config';
import { NodeControllerLoop, NodeControllerPass } from '../../../lib/dataplane/calico/node-controller-loop';

/** A clock that moves only when told; due timers fire in order. */
class FakeClock implements Clock {
  private t = 0;
  private next = 1;
  readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves to `to` ms, firing each due timer and letting its pass finish. */
  async advanceTo(to: number): Promise<void> {
    for (;;) {
      const due = [...this.timers].filter(([, v]) => v.at <= to).sort(([, a], [, b]) => a.at - b.at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      await flush();
    }
    this.t = to;
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const EMPTY: GcResult = { leaked: [], orphaned: [], nodesCleaned: [], candidates: 0 };

class Gc implements NodeControllerPass {
  leakGracePeriodMs = -1;
  readonly runs: { at: number; grace: number }[] = [];
  fail = false;

  async run(now = 0): Promise<GcResult> {
    this.runs.push({ at: now, grace: this.leakGracePeriodMs });
    if (this.fail) throw new Error('apiserver unreachable');
    return EMPTY;
  }
}

const SETTINGS: KubeControllersSettings = { healthChecks: true, nodeController: true, leakGracePeriodSeconds: 900, reconcilerPeriodSeconds: 60, logLevel: 'info' };

test('passes every reconcilerPeriod; a new period or grace period takes effect without restart', async () => {
  const clock = new FakeClock();
  const gc = new Gc();
  const loop = new NodeControllerLoop({ gc, settings: SETTINGS, clock });
  expect(loop.readiness().ok).toBe(false);
  await loop.start();
  await clock.advanceTo(125_000);
  expect(gc.runs).toEqual([{ at: 0, grace: 900_000 }, { at: 60_000, grace: 900_000 }, { at: 120_000, grace: 900_000 }]);

  // Shorter period: re-armed from the last pass start (120 s) → due at 130 s, not at 180 s.
  loop.apply({ ...SETTINGS, reconcilerPeriodSeconds: 10, leakGracePeriodSeconds: 300 });
  expect(gc.leakGracePeriodMs).toBe(300_000);
  await clock.advanceTo(150_000);
  expect(gc.runs.slice(3).map((r) => r.at)).toEqual([130_000, 140_000, 150_000]);
  expect(gc.runs.at(-1)?.grace).toBe(300_000);

  // Longer period: the pending timer moves out.
  loop.apply({ ...SETTINGS, reconcilerPeriodSeconds: 3600 });
  await clock.advanceTo(3_000_000);
  expect(gc.runs.at(-1)?.at).toBe(150_000);
  await clock.advanceTo(3_750_000);
  expect(gc.runs.at(-1)?.at).toBe(3_750_000);
  expect(clock.timers.size).toBe(1);

  // Node controller off: no timer, no passes; on again: the next pass one period after the last.
  loop.apply({ ...SETTINGS, nodeController: false });
  expect(clock.timers.size).toBe(0);
  expect(loop.readiness()).toEqual({ ok: true, detail: 'ok (node controller disabled)' });
  loop.apply(SETTINGS);
  await clock.advanceTo(3_809_000);
  expect(gc.runs.length).toBe(7);
  await clock.advanceTo(3_810_000);
  expect(gc.runs.at(-1)?.at).toBe(3_810_000);
  await loop.stop();
  expect(clock.timers.size).toBe(0);
});

test('health: checks follow the passes while healthChecks is Enabled; Disabled turns them off', async () => {
  const clock = new FakeClock();
  const gc = new Gc();
  gc.fail = true;
  const errors: string[] = [];
  const loop = new NodeControllerLoop({ gc, settings: SETTINGS, clock, onError: (e) => errors.push(e.message) });
  await loop.start();
  expect(errors).toEqual(['apiserver unreachable']);
  expect(loop.readiness()).toEqual({ ok: false, detail: 'not ready: no node controller pass has completed' });
  expect(loop.liveness().ok).toBe(true);

  gc.fail = false;
  await clock.advanceTo(60_000);
  expect(loop.readiness().ok).toBe(true);
  gc.fail = true;
  await clock.advanceTo(60_000 + 5 * 60_000);
  expect(loop.liveness()).toEqual({ ok: false, detail: 'no successful node controller pass for 300 s (5 reconciler periods of 60 s)' });

  loop.apply({ ...SETTINGS, healthChecks: false });
  expect(loop.liveness()).toEqual({ ok: true, detail: 'ok (health checks disabled: healthChecks Disabled)' });
  expect(loop.readiness().ok).toBe(true);
  loop.apply(SETTINGS);
  expect(loop.liveness().ok).toBe(false);
  await loop.stop();
});
