import client, { AggregatorRegistry, type Counter, type Gauge, Registry } from 'prom-client';
import type { MetricsSnapshot } from './messages.js';

/** How long a scrape waits for each worker before leaving it out. */
export const COLLECT_TIMEOUT_MS = 1000;

/**
 * The primary's half of cluster metrics: sums the workers' snapshots into one exposition, and
 * keeps the counters and histograms of workers that are gone so that totals never go backwards.
 *
 * Counters and histograms are summed. Gauges are combined as prom-client's aggregators say:
 * summed by default (in-flight requests, memory), averaged / min / max for event-loop lag, the
 * first for version info, omitted for start times. A gracefully exiting worker sends its final
 * snapshot; for a worker that died without one (SIGKILL, crash), its last scraped snapshot is
 * kept, so only what it counted since the previous scrape is lost.
 */
export class MetricsAggregator {
  readonly registry = new Registry();
  private readonly failures: Counter;
  private readonly workers: Gauge;
  private readonly lastSeen = new Map<number, MetricsSnapshot>();
  private retired: MetricsSnapshot = [];

  constructor() {
    this.failures = new client.Counter({
      name: 'cluster_metrics_aggregation_failures_total',
      help: 'Workers left out of a scrape because they did not answer in time.',
      registers: [this.registry],
    });
    this.workers = new client.Gauge({
      name: 'cluster_workers',
      help: 'Worker processes alive.',
      registers: [this.registry],
    });
  }

  /** Records a scraped snapshot of a live worker. */
  remember(workerId: number, snapshot: MetricsSnapshot): void {
    this.lastSeen.set(workerId, snapshot);
  }

  /**
   * A worker is gone: its final snapshot (or, without one, the last one scraped) joins the retired
   * totals.
   */
  retire(workerId: number, finalSnapshot: MetricsSnapshot | undefined): void {
    const snapshot = finalSnapshot ?? this.lastSeen.get(workerId);
    this.lastSeen.delete(workerId);
    if (snapshot === undefined) return;
    const cumulative = snapshot.filter(isCumulative);
    this.retired = cumulativeOnly(AggregatorRegistry.aggregate([this.retired, cumulative]));
  }

  /** Counts workers left out of a scrape. */
  recordFailures(count: number): void {
    if (count > 0) this.failures.inc(count);
  }

  /** Renders the exposition from the live workers' snapshots plus the retired totals. */
  async render(live: readonly MetricsSnapshot[], aliveWorkers: number): Promise<string> {
    this.workers.set(aliveWorkers);
    const own = await this.registry.getMetricsAsJSON();
    return AggregatorRegistry.aggregate([...live, this.retired, own]).metrics();
  }
}

function cumulativeOnly(registry: Registry): MetricsSnapshot {
  // getMetricsAsJSON of an aggregated registry resolves synchronously-computed values; keep the
  // plain objects so they can be aggregated again later.
  const out: MetricsSnapshot = [];
  for (const metric of registry.getMetricsAsArray()) {
    const value = (metric as unknown as { get: () => MetricsSnapshot[number] }).get();
    if (isCumulative(value)) out.push(value);
  }
  return out;
}

/** Counters and histograms only grow, so a gone worker's values stay in the totals. */
function isCumulative(metric: MetricsSnapshot[number]): boolean {
  // prom-client's typings declare `type` as an enum, but the JSON carries its string name.
  const type = metric.type as unknown as string;
  return type === 'counter' || type === 'histogram';
}
