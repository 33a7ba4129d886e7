import client, { AggregatorRegistry, type Metric, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { HTTP_BUCKETS } from '../../src/service/metrics.js';
import { RequestHistogram } from '../../src/service/request-histogram.js';

const NAME = 'http_request_duration_seconds';
const HELP = 'Duration of HTTP requests.';

/** The same observations into prom-client's Histogram and into RequestHistogram. */
function pair() {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new client.Histogram({
    name: NAME,
    help: HELP,
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: HTTP_BUCKETS,
    registers: [theirs],
  });
  const histogram = new RequestHistogram(NAME, HELP, HTTP_BUCKETS);
  ours.registerMetric(histogram as unknown as Metric);
  const record = (method: string, route: string, status: number, seconds: number) => {
    reference.observe({ method, route, status_code: String(status) }, seconds);
    histogram.record(route, method, status, seconds);
  };
  return { theirs, ours, histogram, record };
}

/** A deterministic spread of observations over series and buckets (including exact bounds). */
function observations(count: number): [string, string, number, number][] {
  const methods = ['GET', 'POST', 'HEAD', '_OTHER'];
  const routes = ['/', '/api/items/{id}', '__unmatched__', '/q"uote\\back\nline'];
  const statuses = [200, 201, 404, 499, 500];
  const values = [0, 0.0004, 0.001, 0.0025, 0.003, 0.05, 0.7, 10, 30, 31, 1e6];
  const out: [string, string, number, number][] = [];
  for (let i = 0; i < count; i++) {
    out.push([
      methods[i % 4] as string,
      routes[(i * 7) % 4] as string,
      statuses[(i * 3) % 5] as number,
      values[(i * 13) % values.length] as number,
    ]);
  }
  return out;
}

describe('RequestHistogram', () => {
  it('renders the same exposition as prom-client’s Histogram for the same observations', async () => {
    const { theirs, ours, record } = pair();
    for (const [method, route, status, seconds] of observations(5_000)) {
      record(method, route, status, seconds);
    }
    const expected = await theirs.metrics();
    expect(expected).toContain('le="+Inf"');
    expect(await ours.metrics()).toBe(expected);
  });

  it('gives the same JSON (what the cluster aggregates) and aggregates by sum alike', async () => {
    const a = pair();
    const b = pair();
    for (const [method, route, status, seconds] of observations(700)) {
      a.record(method, route, status, seconds);
    }
    for (const [method, route, status, seconds] of observations(300)) {
      b.record(method, route, status, seconds * 2);
    }
    // prom-client adds an `exemplar: null` to each bucket (exemplars are off): not data.
    const withoutExemplars = (metrics: { values: object[] }[]) =>
      metrics.map((m) => ({
        ...m,
        values: m.values.map((v) =>
          Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'exemplar')),
        ),
      }));
    expect(withoutExemplars(await a.ours.getMetricsAsJSON())).toEqual(
      withoutExemplars(await a.theirs.getMetricsAsJSON()),
    );
    const theirs = AggregatorRegistry.aggregate([
      await a.theirs.getMetricsAsJSON(),
      await b.theirs.getMetricsAsJSON(),
    ]);
    const ours = AggregatorRegistry.aggregate([
      await a.ours.getMetricsAsJSON(),
      await b.ours.getMetricsAsJSON(),
    ]);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('observe(labels, value) feeds the same series as record()', async () => {
    const { ours, histogram } = pair();
    histogram.record('/', 'GET', 200, 0.002);
    histogram.observe({ method: 'GET', route: '/', status_code: '200' }, 0.004);
    const text = await ours.metrics();
    expect(text).toContain(`${NAME}_count{method="GET",route="/",status_code="200"} 2`);
    expect(text.match(/_count\{/g)).toHaveLength(1);
  });

  it('refuses unknown labels, non-numeric statuses and non-finite values', () => {
    const { histogram } = pair();
    expect(() =>
      histogram.observe({ method: 'GET', route: '/', status_code: '200', extra: 'x' } as never, 1),
    ).toThrow(/unknown label "extra"/);
    expect(() => histogram.observe({ method: 'GET', route: '/', status_code: 'ok' }, 1)).toThrow(
      /three-digit/,
    );
    expect(() => histogram.record('/', 'GET', 200, Number.NaN)).toThrow(/not finite/);
    expect(() => histogram.record('/', 'GET', 200, Number.POSITIVE_INFINITY)).toThrow(/not finite/);
  });

  it('forgets every series on reset, as the registry’s resetMetrics does', async () => {
    const { ours, histogram } = pair();
    histogram.record('/', 'GET', 200, 0.002);
    ours.resetMetrics();
    expect(await ours.metrics()).not.toContain('_count');
  });

  it('refuses repeated or non-finite buckets', () => {
    expect(() => new RequestHistogram(NAME, HELP, [0.1, 0.1])).toThrow(/distinct finite/);
    expect(() => new RequestHistogram(NAME, HELP, [0.1, Number.POSITIVE_INFINITY])).toThrow(
      /distinct finite/,
    );
  });
});
