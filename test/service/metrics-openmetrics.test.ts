import client, { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ServiceMetrics } from '../../src/service/metrics.js';
import {
  attachExemplars,
  canonicalNumber,
  collectExemplars,
  type ExemplarMap,
  type MetricJson,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  openMetricsText,
} from '../../src/service/metrics-openmetrics.js';
import {
  PROMETHEUS_ACCEPT,
  parseOpenMetrics,
  promtoolCheck,
  promtoolOpenMetrics,
} from '../support/metrics.js';
import { has } from '../support/programs.js';

const TRACE_A = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACE_B = '0af7651916cd43dd8448eb211c80319c';
const labels = { method: 'GET', route: '/items/{id}', status_code: '200' };

/** A registry with one metric of each kind prom-client has, labels that need escaping. */
function registryWithEverything(): Registry {
  const registry = new Registry();
  new client.Counter({
    name: 'jobs_total',
    help: 'Jobs "done", with a \\ and\na new line.',
    labelNames: ['kind'],
    registers: [registry],
  }).inc({ kind: 'a"b\\c\nd' }, 3);
  new client.Gauge({ name: 'queue_length', help: 'Waiting.', registers: [registry] }).set(2);
  new client.Histogram({
    name: 'job_duration_seconds',
    help: 'Job duration.',
    buckets: [0.001, 0.5, 1, 10, 1e6],
    registers: [registry],
  }).observe(0.7);
  new client.Summary({
    name: 'payload_bytes',
    help: 'Payload sizes.',
    percentiles: [0.5, 0.99],
    registers: [registry],
  }).observe(100);
  return registry;
}

describe('negotiateFormat', () => {
  it.each([
    ['Prometheus 2.x', PROMETHEUS_ACCEPT.v2, 'openmetrics'],
    ['Prometheus 2.49+', PROMETHEUS_ACCEPT.v2_49, 'openmetrics'],
    ['Prometheus 3.x', PROMETHEUS_ACCEPT.v3, 'openmetrics'],
    ['no Accept', undefined, 'text'],
    ['text/plain', 'text/plain', 'text'],
    ['the 0.0.4 type', 'text/plain; version=0.0.4', 'text'],
    ['*/*', '*/*', 'text'],
    ['OpenMetrics without version', 'application/openmetrics-text', 'openmetrics'],
    [
      'OpenMetrics 1.0.0, spaces and case',
      ' Application/OpenMetrics-Text ; Version=1.0.0',
      'openmetrics',
    ],
    ['only OpenMetrics 0.0.1 (not served)', 'application/openmetrics-text;version=0.0.1', 'text'],
    ['OpenMetrics refused with q=0', 'application/openmetrics-text;q=0', 'text'],
    ['text preferred by q', 'application/openmetrics-text;q=0.2,text/plain;q=0.9', 'text'],
    [
      'OpenMetrics preferred by q',
      'text/plain;q=0.2,application/openmetrics-text;q=0.9',
      'openmetrics',
    ],
    ['a tie: text/plain named too', 'text/plain, application/openmetrics-text', 'text'],
    ['a tie: named beats */*', '*/*, application/openmetrics-text', 'openmetrics'],
    ['text/plain refused', 'text/plain;q=0, application/openmetrics-text;q=0.1', 'openmetrics'],
    ['a broken q is ignored', 'application/openmetrics-text;q=2, text/plain', 'text'],
    ['unacceptable everything', 'application/json', 'text'],
    ['garbage', ';;,,=;q', 'text'],
  ])('%s: %s', (_what, accept, format) => {
    expect(negotiateFormat(accept)).toBe(format);
  });
});

describe('canonicalNumber', () => {
  it("renders le values as OpenMetrics' canonical numbers (Go's %g, .0 on integers)", () => {
    const values = [0, 0.001, 0.0025, 0.01, 0.1, 0.95, 1, 1.7, 10, 30, 1e-10, 1e-5, 1e-4, 1e5, 1e6];
    expect(values.map(canonicalNumber)).toEqual([
      '0.0',
      '0.001',
      '0.0025',
      '0.01',
      '0.1',
      '0.95',
      '1.0',
      '1.7',
      '10.0',
      '30.0',
      '1e-10',
      '1e-05',
      '0.0001',
      '100000.0',
      '1e+06',
    ]);
    expect(['+Inf', '2.5', '10'].map(canonicalNumber)).toEqual(['+Inf', '2.5', '10.0']);
  });
});

describe('openMetricsText', () => {
  it('renders every metric kind as valid OpenMetrics: families, units, escaping, # EOF', async () => {
    const registry = registryWithEverything();
    const text = openMetricsText((await registry.getMetricsAsJSON()) as MetricJson[]);
    const document = parseOpenMetrics(text);
    expect(document.problems).toEqual([]);
    expect(text.endsWith('\n# EOF\n')).toBe(true);
    expect(text).toContain('# TYPE jobs counter\n');
    expect(text).toContain('# HELP jobs Jobs \\"done\\", with a \\\\ and\\na new line.\n');
    expect(text).toContain('jobs_total{kind="a\\"b\\\\c\\nd"} 3\n');
    expect(text).toContain(
      '# TYPE job_duration_seconds histogram\n# UNIT job_duration_seconds seconds\n',
    );
    expect(text).toContain('job_duration_seconds_bucket{le="1.0"} 1\n');
    expect(text).toContain('job_duration_seconds_bucket{le="1e+06"} 1\n');
    expect(text).toContain('# UNIT payload_bytes bytes\n');
    expect(text).toContain('payload_bytes{quantile="0.5"} 100\n');
    expect(document.types.get('queue_length')).toBe('gauge');
    // The same registry's 0.0.4 text is untouched by having rendered OpenMetrics (prom-client's
    // own OpenMetrics mode renames counters in place).
    expect(await registry.metrics()).toContain('jobs_total{kind=');
    if (has('promtool')) expect(promtoolOpenMetrics(text)).toEqual({ status: 0, output: '' });
  });

  it('puts exemplars on histogram buckets (at most 128 characters of labels), not elsewhere', () => {
    const metrics = [
      {
        name: 'h_seconds',
        help: 'H.',
        type: 'histogram' as never,
        aggregator: 'sum',
        values: [
          {
            labels: { le: 0.5 },
            value: 1,
            metricName: 'h_seconds_bucket',
            exemplar: { labelSet: { trace_id: TRACE_A }, value: 0.25, timestamp: 1700000000.5 },
          },
          {
            labels: { le: '+Inf' },
            value: 2,
            metricName: 'h_seconds_bucket',
            exemplar: { labelSet: { trace_id: 'x'.repeat(121) }, value: 3, timestamp: 1 },
          },
          { labels: {}, value: 2, metricName: 'h_seconds_count' },
          {
            labels: {},
            value: 3.25,
            metricName: 'h_seconds_sum',
            exemplar: { labelSet: { trace_id: TRACE_B }, value: 1 },
          },
        ],
      },
    ] as unknown as MetricJson[];
    const text = openMetricsText(metrics);
    expect(text).toContain(
      `h_seconds_bucket{le="0.5"} 1 # {trace_id="${TRACE_A}"} 0.25 1700000000.5\n`,
    );
    expect(text).toContain('h_seconds_bucket{le="+Inf"} 2\n');
    expect(text).toContain('h_seconds_sum 3.25\n');
    expect(parseOpenMetrics(text).problems).toEqual([]);
    if (has('promtool')) expect(promtoolOpenMetrics(text)).toEqual({ status: 0, output: '' });
  });

  it('keeps the newest exemplar of each sample over several snapshots', () => {
    const bucket = (trace: string, timestamp: number): MetricJson =>
      ({
        name: 'h_seconds',
        help: 'H.',
        type: 'histogram' as never,
        aggregator: 'sum',
        values: [
          {
            labels: { route: '/', le: 0.5 },
            value: 1,
            metricName: 'h_seconds_bucket',
            exemplar: { labelSet: { trace_id: trace }, value: 0.1, timestamp },
          },
        ],
      }) as unknown as MetricJson;
    const exemplars: ExemplarMap = new Map();
    collectExemplars(exemplars, [bucket(TRACE_A, 20)]);
    collectExemplars(exemplars, [bucket(TRACE_B, 10)]);
    // Label order does not matter.
    const target: MetricJson[] = [
      {
        ...bucket(TRACE_A, 0),
        values: [{ labels: { le: 0.5, route: '/' }, value: 2, metricName: 'h_seconds_bucket' }],
      },
    ];
    attachExemplars(target, exemplars);
    expect(target[0]?.values[0]?.exemplar?.labelSet.trace_id).toBe(TRACE_A);
    collectExemplars(exemplars, [bucket(TRACE_B, 30)]);
    attachExemplars(target, exemplars);
    expect(target[0]?.values[0]?.exemplar?.labelSet.trace_id).toBe(TRACE_B);
  });
});

describe('ServiceMetrics exposition formats', () => {
  it('gives the text format 0.0.4 byte for byte whatever exemplars the histogram holds', async () => {
    const traced = new ServiceMetrics();
    const plain = new ServiceMetrics();
    for (const [seconds, trace] of [
      [0.0004, TRACE_A],
      [0.2, TRACE_B],
      [0.2, undefined],
      [42, TRACE_A],
    ] as const) {
      traced.httpDuration.observe(labels, seconds, trace);
      plain.httpDuration.observe(labels, seconds);
    }
    const name = 'http_request_duration_seconds';
    const text = await traced.registry.getSingleMetricAsString(name);
    expect(text).toBe(await plain.registry.getSingleMetricAsString(name));
    expect(text).not.toContain(TRACE_A);
    expect(await traced.exposition('text')).not.toContain('# {');
    expect(traced.contentTypeOf('text')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(traced.contentTypeOf('openmetrics')).toBe(OPENMETRICS_CONTENT_TYPE);
  });

  it('gives OpenMetrics with the newest sampled trace of each bucket as its exemplar', async () => {
    const metrics = new ServiceMetrics();
    metrics.httpDuration.observe(labels, 0.0004, TRACE_A);
    metrics.httpDuration.observe(labels, 0.0006, TRACE_B);
    metrics.httpDuration.observe(labels, 0.0007);
    metrics.httpDuration.observe(labels, 0.3, TRACE_A);
    const text = await metrics.exposition('openmetrics');
    const document = parseOpenMetrics(text);
    expect(document.problems).toEqual([]);
    const exemplars = document.samples
      .filter((s) => s.name === 'http_request_duration_seconds_bucket' && s.exemplar)
      .map((s) => [s.labels.le, s.exemplar?.labels.trace_id, s.exemplar?.value]);
    expect(exemplars).toEqual([
      ['0.001', TRACE_B, 0.0006],
      ['0.5', TRACE_A, 0.3],
    ]);
    const seconds = Date.now() / 1000;
    for (const sample of document.samples.filter((s) => s.exemplar)) {
      expect(Math.abs((sample.exemplar?.timestamp ?? 0) - seconds)).toBeLessThan(60);
    }
    expect(() => metrics.httpDuration.observe(labels, 1, 'NOT-HEX')).toThrow(RangeError);
    if (has('promtool')) expect(promtoolOpenMetrics(text)).toEqual({ status: 0, output: '' });
  });
});

describe('the OpenMetrics checks themselves', () => {
  const valid = [
    '# TYPE jobs counter',
    '# HELP jobs Jobs.',
    'jobs_total 1',
    '# TYPE h_seconds histogram',
    '# UNIT h_seconds seconds',
    `h_seconds_bucket{le="1.0"} 1 # {trace_id="${TRACE_A}"} 0.5 1700000000.1`,
    'h_seconds_bucket{le="+Inf"} 1',
    'h_seconds_count 1',
    'h_seconds_sum 0.5',
    '# EOF',
    '',
  ].join('\n');

  it('accept a valid document and reject broken ones', () => {
    expect(parseOpenMetrics(valid).problems).toEqual([]);
    const broken = (from: string, to: string) => parseOpenMetrics(valid.replace(from, to)).problems;
    expect(broken('# EOF\n', '')).toContain('no # EOF at the end');
    expect(broken('# TYPE jobs counter', '# TYPE jobs_total counter')).not.toEqual([]);
    expect(broken('le="1.0"', 'le="1"')).toContain('le="1" is not canonical');
    expect(broken(TRACE_A, 'x'.repeat(130))).toContain('exemplar labels of 138 characters');
    expect(broken('} 0.5 1700000000.1', '} 2 1700000000.1')).toContain(
      'exemplar 2 outside bucket le=1.0',
    );
    expect(broken('# HELP jobs Jobs.', '# HELP jobs "Jobs".')).toContain(
      'unescaped " in HELP of jobs',
    );
  });

  it.runIf(has('promtool'))(
    "promtool's OpenMetrics parser rejects a broken document; `check metrics` cannot read OpenMetrics",
    () => {
      expect(promtoolOpenMetrics(valid)).toEqual({ status: 0, output: '' });
      // A 0.0.4 parser would not miss the end marker: this is the OpenMetrics one.
      const noEof = promtoolOpenMetrics(valid.replace('# EOF\n', ''));
      expect(noEof.status).not.toBe(0);
      expect(noEof.output).toContain('# EOF');
      const badUnit = promtoolOpenMetrics(
        valid.replace('# UNIT h_seconds seconds', '# UNIT h_seconds bytes'),
      );
      expect(badUnit.output).toContain('unit not a suffix');
      // `promtool check metrics` reads the text format 0.0.4 alone: an exemplar is an error to it.
      const check = promtoolCheck(valid);
      expect(check.status).not.toBe(0);
      expect(check.output).toContain('expected integer as timestamp');
    },
  );
});
