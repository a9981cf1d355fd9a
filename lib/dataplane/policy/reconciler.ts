import { PolicyEngine, PolicyEngineOptions, SyncResult } from './engine';
import { PolicyWorld } from './types';

/** A world plus which of its endpoints this node enforces (`namespace/name`). */
export type NodeWorld = PolicyWorld & { readonly localEndpoints: readonly string[] };

export interface PolicyReconcilerOptions extends Omit<PolicyEngineOptions, 'localEndpoints'> {
  /** Changes arriving within this window are applied together. @default 20 ms */
  readonly debounceMs?: number;
  /** Compare the kernel with the applied table this often and repair drift. @default 90 s (Felix's ipsets refresh) */
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

  constructor(private readonly options: PolicyReconcilerOptions, private readonly worldOf: () => NodeWorld) {
    this.engine = new PolicyEngine(options);
  }

  /** Applies now (the first time, after the sources listed) and starts the resync timer. */
  public async start(): Promise<SyncResult> {
    const result = await this.apply();
    this.resyncTimer = setInterval(() => {
      this.running = this.running.then(() => this.engine.resync()).catch((error: Error) => this.options.onSync?.(error));
    }, (this.options.resyncSeconds ?? 90) * 1000);
    this.resyncTimer.unref();
    return result;
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
