/**
 * The primary's side of cluster metrics: asks every live worker for its snapshot when a worker
 * serves `/metrics`, and keeps the last metrics of workers that leave.
 */
import type { Worker } from 'node:cluster';
import type { MetricsFormat } from '../metrics-openmetrics.js';
import type { MetricsSnapshot } from './messages.js';
import { sendTo } from './messaging.js';
import { COLLECT_TIMEOUT_MS, MetricsAggregator } from './metrics-aggregator.js';

type Receiver = (snapshot: MetricsSnapshot, workerId: number) => void;

/** Scrapes of the workers, summed by a {@link MetricsAggregator}. */
export class MetricsCollection {
  private readonly aggregator = new MetricsAggregator();
  private nextId = 1;
  /** Scrapes in progress, by id: what to do with each worker's answer. */
  private readonly scrapes = new Map<number, Receiver>();
  /** Final snapshots of workers that drained and are about to exit. */
  private readonly finals = new Map<number, MetricsSnapshot>();

  /** A worker answered scrape `id` (late answers, after the deadline, are dropped). */
  received(workerId: number, id: number, snapshot: MetricsSnapshot): void {
    this.scrapes.get(id)?.(snapshot, workerId);
  }

  /** A worker sent its last metrics before exiting. */
  final(workerId: number, snapshot: MetricsSnapshot): void {
    this.finals.set(workerId, snapshot);
  }

  /** A worker exited: its final (or last scraped) counts stay in the totals. */
  retire(workerId: number): void {
    this.aggregator.retire(workerId, this.finals.get(workerId));
    this.finals.delete(workerId);
  }

  /** Counts a rolling restart that failed. */
  restartFailed(): void {
    this.aggregator.restartFailed();
  }

  /**
   * Asks each of `workers` for its metrics (each within {@link COLLECT_TIMEOUT_MS}; for the silent
   * ones, counted as failures, their previous snapshot is used) and renders the sum with the
   * retired totals, in `format` (OpenMetrics with the newest exemplar of each bucket over the
   * workers).
   */
  async collect(
    workers: readonly Worker[],
    aliveWorkers: number,
    format: MetricsFormat = 'text',
  ): Promise<string> {
    const id = this.nextId++;
    const missed = new Set(workers.map((worker) => worker.id));
    await new Promise<void>((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.scrapes.delete(id);
        resolve();
      };
      const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
      if (missed.size === 0) {
        finish();
        return;
      }
      this.scrapes.set(id, (snapshot, workerId) => {
        if (!missed.delete(workerId)) return;
        this.aggregator.remember(workerId, snapshot);
        if (missed.size === 0) finish();
      });
      for (const worker of workers) sendTo(worker, { t: 'tornode:collect', id });
    });
    this.aggregator.recordFailures(missed.size);
    const { snapshots, stale } = this.aggregator.latest(missed);
    return this.aggregator.render(snapshots, aliveWorkers, stale, format);
  }
}
