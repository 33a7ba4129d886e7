/**
 * Span export over OTLP/HTTP with the OpenTelemetry SDK. Loaded by `Service` (dynamic import) only
 * when `OTEL_EXPORTER_OTLP_ENDPOINT` is set: without it, none of the SDK is loaded.
 */
import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import type { TracingConfig } from '../config.js';
import { Counter, type Registry } from '../prom-client.js';
import { RequestIds, SpanObserver } from './spans.js';

/** Finished spans waiting for export at most; beyond it a span is dropped and counted. */
const MAX_QUEUE = 2048;
const MAX_BATCH = 512;
/** `ExportResultCode.SUCCESS` of `@opentelemetry/core`. */
const EXPORT_SUCCESS = 0;

/** What {@link startExport} needs from the service. */
export interface ExportOptions {
  readonly config: TracingConfig;
  readonly serviceName: string;
  readonly serviceVersion: string;
  /** The longest one export request (and the flush at shutdown) may take. */
  readonly timeoutMs: number;
  /** Where `otel_spans_dropped_total` (queue full, or the collector failed) is registered. */
  readonly registry: Registry;
}

/** A running export: its observer for the application, and the flush for shutdown. */
export interface SpanExport {
  readonly observer: SpanObserver;
  /**
   * Exports what is pending and stops; resolves by `timeoutMs` (or a little before `timeLeftMs`,
   * the shutdown hook's time) at the latest, never rejects.
   */
  shutdown(timeLeftMs?: number): Promise<void>;
}

function samplerOf(config: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    default:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The exporter, counting the spans handed to it and the ones the collector did not take. */
class CountingExporter implements SpanExporter {
  /** Spans accepted by {@link BoundedProcessor} and not yet through an export. */
  pending = 0;

  constructor(
    private readonly inner: SpanExporter,
    private readonly dropped: (count: number) => void,
  ) {}

  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.inner.export(spans, (result) => {
      this.pending -= spans.length;
      if (result.code !== EXPORT_SUCCESS) this.dropped(spans.length);
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * The batch processor behind a gate: a slow or unreachable collector costs at most
 * {@link MAX_QUEUE} spans of memory; past that, spans are dropped and counted.
 */
class BoundedProcessor implements SpanProcessor {
  constructor(
    private readonly batches: BatchSpanProcessor,
    private readonly exporter: CountingExporter,
    private readonly dropped: (count: number) => void,
  ) {}

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & 1) === 0) return;
    if (this.exporter.pending >= MAX_QUEUE) {
      this.dropped(1);
      return;
    }
    this.exporter.pending++;
    this.batches.onEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.batches.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.batches.shutdown();
  }
}

/** Starts span export as `options.config` says. */
export async function startExport(options: ExportOptions): Promise<SpanExport> {
  const { config, timeoutMs } = options;
  const exporterOptions = {
    url: config.url,
    headers: { ...config.headers },
    timeoutMillis: timeoutMs,
  };
  const exporter: SpanExporter =
    config.protocol === 'http/json'
      ? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(
          exporterOptions,
        )
      : new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(
          exporterOptions,
        );
  const counter = new Counter({
    name: 'otel_spans_dropped_total',
    help: 'Finished spans dropped: export queue full, or the collector did not take them',
    registers: [options.registry],
  });
  const dropped = (count: number) => counter.inc(count);
  const counting = new CountingExporter(exporter, dropped);
  const batches = new BatchSpanProcessor(counting, {
    maxQueueSize: MAX_QUEUE,
    maxExportBatchSize: MAX_BATCH,
    scheduledDelayMillis: config.scheduleDelayMs,
    exportTimeoutMillis: timeoutMs,
  });
  const bounded = new BoundedProcessor(batches, counting, dropped);
  const ids = new RequestIds();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: config.serviceName ?? options.serviceName,
      [ATTR_SERVICE_VERSION]: options.serviceVersion,
      'service.instance.id': randomUUID(),
    }),
    sampler: samplerOf(config),
    idGenerator: ids,
    spanProcessors: [bounded],
  });
  const tracer = provider.getTracer('tornode');
  // Handlers that use the OpenTelemetry API themselves get this provider.
  trace.setGlobalTracerProvider(provider);
  return {
    observer: new SpanObserver(tracer, ids),
    async shutdown(timeLeftMs = timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      // Give up on the flush a little before the shutdown hook's own time is up, so that an
      // unreachable collector costs spans, never the exit code.
      const waitMs = Math.max(0, Math.min(timeoutMs, timeLeftMs - 50));
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
        timer.unref();
      });
      await Promise.race([provider.shutdown().catch(() => undefined), late]);
      clearTimeout(timer);
    },
  };
}
