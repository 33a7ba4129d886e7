import type { Metric } from 'prom-client';
import type { RequestHandler, RequestObserver, WebSocketHandler } from '../web/index.js';
import { CLIENT_CLOSED_REQUEST } from './access-log.js';
import {
  contentTypeOf,
  type MetricJson,
  type MetricsFormat,
  openMetricsText,
} from './metrics-openmetrics.js';
import { collectDefaultMetrics, Gauge, Registry } from './prom-client.js';
import { RequestHistogram } from './request-histogram.js';

/** Route label of requests that matched no route. */
export const UNMATCHED_ROUTE = '__unmatched__';
/** Method label of methods outside the standard ones. */
export const OTHER_METHOD = '_OTHER';

const STANDARD_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
  'CONNECT',
  'TRACE',
]);

/** Latency buckets in seconds: 1 ms to 10 s, dense where web requests usually land. */
export const HTTP_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/**
 * prom-client's default Node.js gauges that end in `_total` (which `promtool check metrics`
 * rejects, since `_total` is for counters). Their values are the sums of the by-type gauges that
 * stay (`nodejs_active_handles`, `nodejs_active_requests`, `nodejs_active_resources`), so they
 * are dropped: query `sum(nodejs_active_handles)` instead.
 */
export const DROPPED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** Options of {@link ServiceMetrics}. */
export interface MetricsOptions {
  /** Count probe and metrics requests too (off by default). */
  readonly countQuietRoutes?: boolean;
  /** Routes (templates) not counted unless `countQuietRoutes` is set. */
  readonly quietRoutes?: ReadonlySet<string>;
}

/**
 * The service's Prometheus registry: prom-client's default process and Node.js metrics, the
 * `http_request_duration_seconds` histogram (labels `method`, `route`, `status_code`), an
 * in-flight gauge and the `websocket_connections` gauge. Register your own metrics on {@link registry}.
 */
export class ServiceMetrics implements RequestObserver {
  readonly registry: Registry;
  readonly httpDuration: RequestHistogram;
  readonly inFlight: Gauge;
  readonly websockets: Gauge;
  private readonly quietRoutes: ReadonlySet<string>;
  private inFlightCount = 0;
  private source: ((format: MetricsFormat) => Promise<string>) | null = null;
  /** Whether every request's trace context is read for exemplars, not only a `traceparent`'s. */
  private everyTrace = false;

  constructor(options: MetricsOptions = {}) {
    this.registry = new Registry();
    collectDefaultMetrics({ register: this.registry });
    for (const name of DROPPED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    this.httpDuration = new RequestHistogram(
      'http_request_duration_seconds',
      'Duration of HTTP requests in seconds, by method, route template and status code.',
      HTTP_BUCKETS,
    );
    // Any object with prom-client's metric shape (name, help, type, get) can be registered.
    this.registry.registerMetric(this.httpDuration as unknown as Metric);
    // A plain counter read at scrape time: two gauge updates per request would cost more than the
    // histogram observation itself.
    const metrics = this;
    this.inFlight = new Gauge({
      name: 'http_requests_in_flight',
      help: 'HTTP requests being handled right now.',
      registers: [this.registry],
      collect() {
        this.set(metrics.inFlightCount);
      },
    });
    this.websockets = new Gauge({
      name: 'websocket_connections',
      help: 'WebSocket connections open right now.',
      registers: [this.registry],
    });
    this.quietRoutes = options.countQuietRoutes ? new Set() : (options.quietRoutes ?? new Set());
  }

  /** The Prometheus text exposition format's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The content type of an exposition in `format`. */
  contentTypeOf(format: MetricsFormat): string {
    return contentTypeOf(format);
  }

  /**
   * Renders the exposition in `format` (default the text format 0.0.4): this process's
   * registry, or, once {@link useSource} was called (in a cluster worker), whatever that source
   * answers for the whole service.
   */
  exposition(format: MetricsFormat = 'text'): Promise<string> {
    return this.source === null ? this.ownExposition(format) : this.source(format);
  }

  /**
   * This process's own registry in `format`: prom-client's text format 0.0.4, or OpenMetrics
   * 1.0 with the request histogram's exemplars.
   */
  async ownExposition(format: MetricsFormat = 'text'): Promise<string> {
    if (format === 'text') return this.registry.metrics();
    return openMetricsText((await this.registry.getMetricsAsJSON()) as MetricJson[]);
  }

  /**
   * Replaces where {@link exposition} comes from (the cluster's aggregated metrics). `source`
   * runs on every scrape of `/metrics` and is async: it resolves with the whole exposition in
   * the format asked for (a rejection is a 500 for that scrape).
   */
  useSource(source: (format: MetricsFormat) => Promise<string>): void {
    this.source = source;
  }

  /**
   * Exemplars from every request whose trace is sampled. By default only a request that came
   * with a `traceparent` can be (its caller's `sampled` flag); with span export on, the sampler
   * also samples traces that start here: `Service` calls this then (the span observer has made
   * every request's trace context already, so reading it costs nothing more).
   */
  exemplarsFromEveryTrace(): void {
    this.everyTrace = true;
  }

  /** Observer: a request began (before `prepare`); synchronous, on every request. */
  requestStarted(handler: RequestHandler<unknown>): void {
    if (!this.isQuiet(handler)) this.inFlightCount++;
  }

  /**
   * Observer: a request's response is complete or its client left (status 499); synchronous, on
   * every request, so it records one histogram observation and nothing else.
   */
  requestFinished(handler: RequestHandler<unknown>): void {
    if (this.isQuiet(handler)) return;
    this.inFlightCount--;
    const method = STANDARD_METHODS.has(handler.method) ? handler.method : OTHER_METHOD;
    const route = handler.route?.pattern ?? UNMATCHED_ROUTE;
    const status = handler.isAborted ? CLIENT_CLOSED_REQUEST : handler.status;
    const now = performance.now();
    const seconds = (now - handler.startTime) / 1000;
    // A sampled trace's id becomes the bucket's exemplar. A request without `traceparent` is
    // sampled only by an exporter's sampler: without one its trace context is not even made.
    let traceId: string | undefined;
    if (this.everyTrace || handler.request.headers.traceparent !== undefined) {
      const trace = handler.traceContext;
      if (trace.sampled) traceId = trace.traceId;
    }
    this.httpDuration.record(route, method, status, seconds, traceId, now);
  }

  /** Observer: a WebSocket handshake succeeded, before the handler's `open`; synchronous. */
  websocketOpened(_handler: WebSocketHandler<unknown>): void {
    this.websockets.inc();
  }

  /** Observer: a WebSocket closed, after the handler's `onClose`; synchronous. */
  websocketClosed(_handler: WebSocketHandler<unknown>): void {
    this.websockets.dec();
  }

  private isQuiet(handler: RequestHandler<unknown>): boolean {
    const route = handler.route;
    return route !== null && this.quietRoutes.has(route.pattern);
  }
}
