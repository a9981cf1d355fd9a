import { PolicyEngine, PolicyEngineOptions, SyncResult } from './engine';
import { PolicyWorld } from './types';

/** A world plus which of its endpoints this node enforces (`namespace/name`). */
export type NodeWorld = PolicyWorld & { readonly localEndpoints: readonly string[] };

export interface PolicyReconcilerOptions extends Omit<PolicyEngineOptions, 'localEndpoints'> {
  /** Changes arriving within this window are applied together. @default 20 ms */
  readonly debounceMs?: number;
  /** Compare the kernel with the applied table this often and repair drift; 0 = never. @default 90 s (Felix's ipsets refresh) */
  readonly resyncSeconds?: number;
  /** Every applied change and every failure. @default ignored */
  readonly onSync?: (result: SyncResult | Error) => void;
}

/**
 * The loop every policy source shares: `changed()` (debounced) recomputes the world and has the
 * engine apply the difference; applies never overlap; a timer runs the engine's resync.
 */
export class PolicyReconciler {
  private readonly engine: PolicyEngine;
  private timer?: NodeJS.Timeout;
  private resyncTimer?: NodeJS.Timeout;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private started = false;
  private resyncSeconds: number;

  constructor(private readonly options: PolicyReconcilerOptions, private readonly worldOf: () => NodeWorld) {
    this.engine = new PolicyEngine(options);
    this.resyncSeconds = options.resyncSeconds ?? 90;
  }

  /** Applies now (the first time, after the sources listed) and starts the resync timer. */
  public async start(): Promise<SyncResult> {
    const result = await this.apply();
    this.started = true;
    this.startResync();
    return result;
  }

  /**
   * Settings that changed while running (FelixConfiguration): a new resync period restarts the
   * timer; a new endpoint-to-host action is applied with the next change, which this schedules.
   */
  public reconfigure(change: { readonly resyncSeconds?: number; readonly endpointToHostAction?: PolicyReconcilerOptions['endpointToHostAction'] }): void {
    if (change.resyncSeconds !== undefined && change.resyncSeconds !== this.resyncSeconds) {
      this.resyncSeconds = change.resyncSeconds;
      if (this.started && !this.stopped) this.startResync();
    }
    if (change.endpointToHostAction !== undefined) {
      this.engine.reconfigure({ endpointToHostAction: change.endpointToHostAction });
      this.changed();
    }
  }

  private startResync(): void {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
    if (this.resyncSeconds <= 0) return;
    this.resyncTimer = setInterval(() => {
      this.running = this.running.then(() => this.engine.resync()).catch((error: Error) => this.options.onSync?.(error));
    }, this.resyncSeconds * 1000);
    this.resyncTimer.unref();
  }

  /** Something changed: apply soon. */
  public changed(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.running.then(() => this.apply()).then((r) => this.options.onSync?.(r), (error: Error) => this.options.onSync?.(error));
    }, this.options.debounceMs ?? 20);
  }

  public async stop(removeTable = false): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.running;
    if (removeTable) await this.engine.remove();
  }

  private apply(): Promise<SyncResult> {
    const { localEndpoints, ...world } = this.worldOf();
    return this.engine.sync(world, localEndpoints);
  }
}
