import {
  attachExemplars,
  collectExemplars,
  type ExemplarMap,
  type MetricJson,
  type MetricsFormat,
  openMetricsText,
} from '../metrics-openmetrics.js';
import { aggregatorRegistry, Counter, Gauge, Registry } from '../prom-client.js';
import type { MetricsSnapshot } from './messages.js';

/** How long a scrape waits for each worker before using its last snapshot instead. */
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
 *
 * Snapshots are kept by worker id, one per worker: a live worker that misses a scrape's deadline
 * (stopped, overloaded) contributes its last snapshot, counted in `cluster_worker_scrape_stale`,
 * so sums never go down while it lives; a worker that exited is in the retired totals only, never
 * also among the live ones, even when its exit races a scrape.
 *
 * Exemplars (OpenMetrics): prom-client's aggregation drops them, so each bucket gets the newest
 * exemplar any snapshot (live, or of a worker that is gone) holds for it.
 */
export class MetricsAggregator {
  readonly registry = new Registry();
  private readonly failures: Counter;
  private readonly workers: Gauge;
  private readonly stale: Gauge;
  private readonly restartFailures: Counter;
  private readonly lastSeen = new Map<number, MetricsSnapshot>();
  private readonly retiredIds = new Set<number>();
  private retired: MetricsSnapshot = [];
  /** The newest exemplar of each sample among the workers that are gone. */
  private readonly retiredExemplars: ExemplarMap = new Map();

  constructor() {
    this.failures = new Counter({
      name: 'cluster_metrics_aggregation_failures_total',
      help: 'Workers left out of a scrape because they did not answer in time.',
      registers: [this.registry],
    });
    this.workers = new Gauge({
      name: 'cluster_workers',
      help: 'Worker processes alive.',
      registers: [this.registry],
    });
    this.stale = new Gauge({
      name: 'cluster_worker_scrape_stale',
      help: 'Workers that missed the last scrape: their previous snapshot was used.',
      registers: [this.registry],
    });
    this.restartFailures = new Counter({
      name: 'cluster_rolling_restart_failures_total',
      help: 'Rolling restarts stopped because a new worker failed to start.',
      registers: [this.registry],
    });
  }

  /** Records a scraped snapshot of a live worker (ignored once the worker has exited). */
  remember(workerId: number, snapshot: MetricsSnapshot): void {
    if (!this.retiredIds.has(workerId)) this.lastSeen.set(workerId, snapshot);
  }

  /** Counts a rolling restart that failed. */
  restartFailed(): void {
    this.restartFailures.inc();
  }

  /**
   * A worker is gone: its final snapshot (or, without one, the last one scraped) joins the retired
   * totals.
   */
  retire(workerId: number, finalSnapshot: MetricsSnapshot | undefined): void {
    const snapshot = finalSnapshot ?? this.lastSeen.get(workerId);
    this.lastSeen.delete(workerId);
    this.retiredIds.add(workerId);
    if (snapshot === undefined) return;
    collectExemplars(this.retiredExemplars, snapshot as MetricJson[]);
    const cumulative = snapshot.filter(isCumulative);
    this.retired = cumulativeOnly(aggregatorRegistry().aggregate([this.retired, cumulative]));
  }

  /** Counts workers left out of a scrape. */
  recordFailures(count: number): void {
    if (count > 0) this.failures.inc(count);
  }

  /**
   * The latest snapshot of each live worker, one per worker id, and how many of `missed` (workers
   * that did not answer this scrape in time) it holds an older one of.
   */
  latest(missed: ReadonlySet<number>): { snapshots: MetricsSnapshot[]; stale: number } {
    const stale = [...missed].filter((id) => this.lastSeen.has(id)).length;
    return { snapshots: [...this.lastSeen.values()], stale };
  }

  /**
   * Renders the exposition from the live workers' snapshots plus the retired totals: the text
   * format 0.0.4, or OpenMetrics with the newest exemplar of each bucket.
   */
  async render(
    live: readonly MetricsSnapshot[],
    aliveWorkers: number,
    stale = 0,
    format: MetricsFormat = 'text',
  ): Promise<string> {
    this.workers.set(aliveWorkers);
    this.stale.set(stale);
    const own = await this.registry.getMetricsAsJSON();
    const aggregated = aggregatorRegistry().aggregate([...live, this.retired, own]);
    if (format === 'text') return aggregated.metrics();
    // The aggregated registry's metrics are plain objects whose `get` returns them.
    const metrics = aggregated
      .getMetricsAsArray()
      .map((metric) => (metric as unknown as { get: () => MetricJson }).get());
    const exemplars: ExemplarMap = new Map(this.retiredExemplars);
    for (const snapshot of live) collectExemplars(exemplars, snapshot as MetricJson[]);
    attachExemplars(metrics, exemplars);
    return openMetricsText(metrics);
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
