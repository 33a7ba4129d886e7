/**
 * The IPC protocol between the primary and its workers. Every message is a plain object whose `t`
 * starts with `tornode:`, so an application's own IPC messages never collide with it.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

import type { MetricsFormat } from '../metrics-openmetrics.js';

/**
 * A worker's metrics as `registry.getMetricsAsJSON()` gives them; the request histogram's bucket
 * values carry their newest exemplar (`exemplar`), which the primary keeps across workers.
 */
export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** The topic of a worker's request for the whole service's exposition. */
export const METRICS_TOPIC = 'metrics';

/** The payload of a {@link METRICS_TOPIC} request: the format the scrape asked for. */
export interface MetricsRequest {
  readonly format: MetricsFormat;
}

/** The format a {@link METRICS_TOPIC} request asks for (the text format 0.0.4 unless it says). */
export function requestedFormat(payload: unknown): MetricsFormat {
  const format = (payload as Partial<MetricsRequest> | null)?.format;
  return format === 'openmetrics' ? 'openmetrics' : 'text';
}

export type PrimaryMessage =
  /** Pod shutdown: readiness fails, then the worker drains and exits. */
  | { t: 'tornode:shutdown'; reason: string }
  /** Rolling restart: the worker drains and exits, without failing readiness. */
  | { t: 'tornode:retire' }
  /** Asks for the worker's metrics. */
  | { t: 'tornode:collect'; id: number }
  /** The answer to a worker's request. */
  | { t: 'tornode:reply'; id: number; ok: boolean; value?: unknown; error?: string }
  /** A message for every worker. */
  | { t: 'tornode:broadcast'; topic: string; payload: unknown };

export type WorkerMessage =
  /** The worker's control listener is attached: the primary's queued control messages may come. */
  | { t: 'tornode:attached' }
  /** The worker listens and is ready. */
  | { t: 'tornode:ready'; port: number }
  /** The answer to `collect`. */
  | { t: 'tornode:metrics'; id: number; metrics: MetricsSnapshot }
  /** The worker's last metrics, sent after it drained, just before it exits. */
  | { t: 'tornode:final'; metrics: MetricsSnapshot }
  /** A request to the primary, answered with `reply`. */
  | { t: 'tornode:request'; id: number; topic: string; payload: unknown };

/**
 * The request a draining worker makes last, before it exits: its answer comes after every
 * connection the primary handed to the worker (see `attachToPrimary`).
 */
export const DRAINED_TOPIC = 'tornode.drained';

/** Whether a message belongs to this protocol. */
export function isProtocolMessage(message: unknown): message is { t: string } {
  return (
    typeof message === 'object' &&
    message !== null &&
    typeof (message as { t?: unknown }).t === 'string' &&
    (message as { t: string }).t.startsWith('tornode:')
  );
}
