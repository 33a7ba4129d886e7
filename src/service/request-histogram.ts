import type { MetricValueWithName } from 'prom-client';

type Label = 'method' | 'route' | 'status_code';
type Labels = Record<Label, string>;
/** An OpenMetrics exemplar, in prom-client's shape: the trace of one observation in a bucket. */
export interface BucketExemplar {
  readonly labelSet: { readonly trace_id: string };
  readonly value: number;
  /** Seconds since the epoch (with milliseconds). */
  readonly timestamp: number;
}
type Value = MetricValueWithName<string> & { sharedLabels?: Labels; exemplar?: BucketExemplar };

/** What prom-client's `Histogram.get()` returns. */
export interface HistogramData {
  readonly name: string;
  readonly help: string;
  readonly type: 'histogram';
  readonly aggregator: 'sum';
  readonly values: Value[];
}

interface Series {
  readonly labels: Labels;
  /** Observations per bucket (not cumulative), the last one for values above every bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  /** The newest sampled trace per bucket (same indexes as `counts`); `null` until the first. */
  exemplars: Exemplars | null;
}

/**
 * The last sampled observation of each bucket: trace id, value and when (`performance.now()`
 * milliseconds: the clock the request's duration was taken from, so no second clock read).
 */
interface Exemplars {
  readonly traceIds: (string | undefined)[];
  readonly values: Float64Array;
  readonly times: Float64Array;
}

const LABEL_NAMES: readonly Label[] = ['method', 'route', 'status_code'];

/**
 * The `http_request_duration_seconds` histogram: a Prometheus histogram over `method`, `route`
 * and `status_code` that records a request in a few tens of nanoseconds. prom-client's
 * `Histogram.observe` builds, validates and hashes the label set on every call (about 1 µs, some
 * 4 % of a hello-world request); here a series is found through two map lookups (route, then
 * method and status as one number). It plugs into a prom-client `Registry` like
 * any metric (text exposition, `getMetricsAsJSON`, cluster aggregation by sum), with the same
 * output as prom-client's histogram.
 */
export class RequestHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = LABEL_NAMES;
  /** Upper bounds, ascending (without `+Inf`). */
  readonly buckets: readonly number[];
  private series = new Map<string, Map<number, Series>>();
  /** Every series in the order it appeared (prom-client's exposition order). */
  private ordered: Series[] = [];
  /** A number per method name, so that method and status find a series as one map key. */
  private readonly methods = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
  ) {
    const sorted = [...buckets].sort((a, b) => a - b);
    if (sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) {
      throw new RangeError(`${name}: buckets must be distinct finite numbers`);
    }
    this.buckets = Object.freeze(sorted);
  }

  /**
   * Records one request (`status` is the response's three-digit status code). With `traceId`
   * (a sampled trace's id) the observation also becomes its bucket's exemplar, replacing the
   * previous one: three writes, no allocation once the series has had one. `now` is when it
   * ended, as `performance.now()` said (read when not given).
   */
  record(
    route: string,
    method: string,
    status: number,
    seconds: number,
    traceId?: string,
    now?: number,
  ): void {
    let byKey = this.series.get(route);
    if (byKey === undefined) {
      byKey = new Map();
      this.series.set(route, byKey);
    }
    let methodIndex = this.methods.get(method);
    if (methodIndex === undefined) {
      methodIndex = this.methods.size;
      this.methods.set(method, methodIndex);
    }
    const key = methodIndex * 1000 + status;
    let series = byKey.get(key);
    if (series === undefined) {
      series = {
        labels: { method, route, status_code: String(status) },
        counts: new Float64Array(this.buckets.length + 1),
        sum: 0,
        count: 0,
        exemplars: null,
      };
      byKey.set(key, series);
      this.ordered.push(series);
    }
    if (!Number.isFinite(seconds))
      throw new TypeError(`${this.name}: value ${seconds} is not finite`);
    const bounds = this.buckets;
    let i = 0;
    while (i < bounds.length && seconds > (bounds[i] as number)) i++;
    series.counts[i] = (series.counts[i] as number) + 1;
    series.sum += seconds;
    series.count += 1;
    if (traceId !== undefined) this.keepExemplar(series, i, seconds, traceId, now);
  }

  /** Makes a sampled request the exemplar of bucket `i` (out of `record`, to keep it small). */
  private keepExemplar(
    series: Series,
    i: number,
    seconds: number,
    traceId: string,
    now: number | undefined,
  ): void {
    let exemplars = series.exemplars;
    if (exemplars === null) {
      const n = this.buckets.length + 1;
      exemplars = {
        traceIds: new Array<string | undefined>(n).fill(undefined),
        values: new Float64Array(n),
        times: new Float64Array(n),
      };
      series.exemplars = exemplars;
    }
    exemplars.traceIds[i] = traceId;
    exemplars.values[i] = seconds;
    exemplars.times[i] = now ?? performance.now();
  }

  /**
   * prom-client's `observe(labels, value)`, for callers outside the hot path (tests, tools);
   * `traceId` as in {@link record}.
   */
  observe(labels: Labels, value: number, traceId?: string): void {
    for (const name of Object.keys(labels)) {
      if (!LABEL_NAMES.includes(name as Label)) {
        throw new Error(`${this.name}: unknown label ${JSON.stringify(name)}`);
      }
    }
    if (!/^[1-9][0-9]{2}$/.test(labels.status_code)) {
      throw new RangeError(
        `${this.name}: status_code must be a three-digit status, got ${JSON.stringify(labels.status_code)}`,
      );
    }
    if (traceId !== undefined && !/^[0-9a-f]{32}$/.test(traceId)) {
      throw new RangeError(`${this.name}: trace id must be 32 lowercase hex digits`);
    }
    this.record(labels.route, labels.method, Number(labels.status_code), value, traceId);
  }

  /** Forgets every series (prom-client's `reset`). */
  reset(): void {
    this.series = new Map();
    this.ordered = [];
  }

  /**
   * The metric with its values, as prom-client's `Histogram.get()` gives it; a bucket whose
   * observations include a sampled trace carries the newest as its `exemplar` (the OpenMetrics
   * exposition shows it, the text format 0.0.4 has none).
   */
  async get(): Promise<HistogramData> {
    return this.data(false);
  }

  /** The same for the text exposition (series labels shared between a series' lines). */
  async getForPromString(): Promise<HistogramData> {
    return this.data(true);
  }

  private data(shared: boolean): HistogramData {
    const { name, help, type } = this;
    return { name, help, type, aggregator: 'sum', values: this.values(shared) };
  }

  /**
   * The bucket `i`'s exemplar, if a sampled request landed there; `epoch` turns
   * `performance.now()` into the wall clock (taken at rendering, so the monotonic clock's drift
   * from it only counts since the observation).
   */
  private exemplar(series: Series, i: number, epoch: number): BucketExemplar | undefined {
    const traceId = series.exemplars?.traceIds[i];
    if (traceId === undefined) return undefined;
    const { values, times } = series.exemplars as Exemplars;
    return {
      labelSet: { trace_id: traceId },
      value: values[i] as number,
      timestamp: Math.round((times[i] as number) + epoch) / 1000,
    };
  }

  private values(shared: boolean): Value[] {
    const out: Value[] = [];
    const epoch = Date.now() - performance.now();
    const bucketName = `${this.name}_bucket`;
    const merge = (extra: Record<string, string | number>, labels: Labels) =>
      shared ? extra : { ...extra, ...labels };
    for (const series of this.ordered) {
      const labels = series.labels;
      const sharedLabels = shared ? labels : undefined;
      let cumulative = 0;
      // The text exposition (shared labels) has no exemplars: only `get()` gives them.
      const exemplar = (i: number) => {
        const found = shared ? undefined : this.exemplar(series, i, epoch);
        return found && { exemplar: found };
      };
      this.buckets.forEach((bound, i) => {
        cumulative += series.counts[i] as number;
        out.push({
          labels: merge({ le: bound }, labels),
          value: cumulative,
          metricName: bucketName,
          ...(sharedLabels && { sharedLabels }),
          ...exemplar(i),
        });
      });
      out.push(
        {
          labels: merge({ le: '+Inf' }, labels),
          value: series.count,
          metricName: bucketName,
          ...(sharedLabels && { sharedLabels }),
          ...exemplar(this.buckets.length),
        },
        {
          labels: merge({}, labels),
          value: series.sum,
          metricName: `${this.name}_sum`,
          ...(sharedLabels && { sharedLabels }),
        },
        {
          labels: merge({}, labels),
          value: series.count,
          metricName: `${this.name}_count`,
          ...(sharedLabels && { sharedLabels }),
        },
      );
    }
    return out;
  }
}
