import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The agent's Prometheus metrics, in a registry of their own (served on /metrics). */
export class AgentMetrics {
  public readonly registry = new Registry();
  public readonly leases = new Gauge({ name: 'flannel_leases', help: 'Subnet leases known (own included)', registers: [this.registry] });
  public readonly routes = new Gauge({ name: 'flannel_routes', help: 'Routes to peer subnets the agent keeps programmed', registers: [this.registry] });
  public readonly refusedPeers = new Gauge({ name: 'flannel_refused_peers', help: 'Peers the backend cannot program (e.g. host-gw peers not on-link)', registers: [this.registry] });
  public readonly leaseExpiry = new Gauge({ name: 'flannel_lease_expiration_timestamp_seconds', help: 'When this node\'s lease expires unless renewed (0: never)', registers: [this.registry] });
  public readonly reconcileDuration = new Histogram({
    name: 'flannel_reconcile_duration_seconds',
    help: 'Duration of one reconcile pass (diff and apply)',
    labelNames: ['trigger'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  public readonly changes = new Counter({ name: 'flannel_kernel_changes_total', help: 'Kernel changes applied, by kind', labelNames: ['op'], registers: [this.registry] });
  public readonly errors = new Counter({ name: 'flannel_errors_total', help: 'Errors, by where they happened', labelNames: ['source'], registers: [this.registry] });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }
}
