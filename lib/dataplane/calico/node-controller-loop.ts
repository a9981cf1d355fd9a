import { Clock, systemClock } from '../bgp/session/clock';
import { GcResult } from './controllers';
import { KubeControllersSettings } from './kube-controllers-config';

/** What the loop drives: one GC pass, and the leak grace period it applies. */
export interface NodeControllerPass {
  run(now?: number): Promise<GcResult>;
  leakGracePeriodMs: number;
}

export interface NodeControllerLoopOptions {
  readonly gc: NodeControllerPass;
  /** The settings at start-up (KubeControllersConfigFollower.start()). */
  readonly settings: KubeControllersSettings;
  /** @default the system clock */
  readonly clock?: Clock;
  readonly onPass?: (result: GcResult) => void;
  readonly onError?: (error: Error) => void;
}

export interface HealthAnswer {
  readonly ok: boolean;
  readonly detail: string;
}

/** Liveness allows this many periods without a successful pass. */
const LIVE_PERIODS = 5;

/**
 * The node controller's schedule and health, following KubeControllersConfiguration live: a pass
 * every `reconcilerPeriod` (measured from the start of the last one), the leak grace period set on
 * the collector before each, nothing while the node controller is disabled. A change of period
 * re-arms the pending timer at once (a shorter period can make the next pass due now); no restart.
 * Health as kube-controllers: with `healthChecks` Enabled, ready once a pass succeeded and live
 * unless passes have failed for five periods; with Disabled, no checks — both answer ok once started.
 */
export class NodeControllerLoop {
  private settings: KubeControllersSettings;
  private readonly clock: Clock;
  private timer?: unknown;
  private lastStart?: number;
  private lastOk?: number;
  private running?: Promise<void>;
  private started = false;
  private stopped = false;

  constructor(private readonly options: NodeControllerLoopOptions) {
    this.settings = options.settings;
    this.clock = options.clock ?? systemClock;
    options.gc.leakGracePeriodMs = this.settings.leakGracePeriodSeconds * 1000;
  }

  get periodMs(): number {
    return this.settings.reconcilerPeriodSeconds * 1000;
  }

  /** Runs the first pass (when the node controller is enabled) and schedules the next. */
  async start(): Promise<void> {
    this.started = true;
    if (this.settings.nodeController) await this.pass();
    else this.schedule();
  }

  /** New settings in force: the next pass uses them; the timer is re-armed for a new period. */
  apply(settings: KubeControllersSettings): void {
    this.settings = settings;
    this.options.gc.leakGracePeriodMs = settings.leakGracePeriodSeconds * 1000;
    if (this.started && !this.running) this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clear();
    await this.running;
  }

  liveness(): HealthAnswer {
    if (!this.settings.healthChecks) return { ok: true, detail: 'ok (health checks disabled: healthChecks Disabled)' };
    if (!this.settings.nodeController || this.lastOk === undefined) return { ok: true, detail: 'ok' };
    const since = this.clock.now() - this.lastOk;
    return since < LIVE_PERIODS * this.periodMs ? { ok: true, detail: 'ok' }
      : { ok: false, detail: `no successful node controller pass for ${Math.round(since / 1000)} s (${LIVE_PERIODS} reconciler periods of ${this.settings.reconcilerPeriodSeconds} s)` };
  }

  readiness(): HealthAnswer {
    if (!this.started) return { ok: false, detail: 'not ready: starting' };
    if (!this.settings.healthChecks) return { ok: true, detail: 'ok (health checks disabled: healthChecks Disabled)' };
    if (!this.settings.nodeController) return { ok: true, detail: 'ok (node controller disabled)' };
    return this.lastOk !== undefined ? { ok: true, detail: 'ok' } : { ok: false, detail: 'not ready: no node controller pass has completed' };
  }

  private clear(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.clear();
    if (this.stopped || !this.settings.nodeController) return;
    const due = this.lastStart === undefined ? this.clock.now() : this.lastStart + this.periodMs;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.pass();
    }, Math.max(0, due - this.clock.now()));
  }

  private pass(): Promise<void> {
    const run = (async () => {
      this.lastStart = this.clock.now();
      try {
        const result = await this.options.gc.run(this.lastStart);
        this.lastOk = this.clock.now();
        this.options.onPass?.(result);
      } catch (error) {
        this.options.onError?.(error as Error);
      }
    })();
    this.running = run.finally(() => {
      this.running = undefined;
      this.schedule();
    });
    return this.running;
  }
}
