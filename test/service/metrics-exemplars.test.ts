/**
 * OpenMetrics and exemplars from outside: the built service (dist/main.js) over real sockets, one
 * process and two workers, its `/metrics` on the admin port scraped with the `Accept` headers real
 * Prometheus servers send, then by a real Prometheus with exemplar storage on.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENMETRICS_CONTENT_TYPE } from '../../src/service/metrics-openmetrics.js';
import {
  countOf,
  type OpenMetricsSample,
  PROMETHEUS_ACCEPT,
  parseOpenMetrics,
  promtoolCheck,
  promtoolOpenMetrics,
} from '../support/metrics.js';
import { startOtlpReceiver } from '../support/otlp.js';
import { type ServiceProcess, startService } from '../support/process.js';
import { has } from '../support/programs.js';
import { Prometheus } from '../support/prometheus.js';
import { type Answer, freePort, send } from '../support/socket.js';
import { eventually } from '../support/wait.js';

const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const newTraceId = (): string => randomBytes(16).toString('hex');
const traceparent = (traceId: string, flags: '00' | '01'): string =>
  `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`;

/** One request on a connection of its own (so the cluster spreads them over the workers). */
async function request(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Answer> {
  return send(port, path, { headers, method });
}

/** `/metrics` on the admin port with `accept` (none when `undefined`). */
function scrape(port: number, accept?: string): Promise<Answer> {
  return send(port, '/metrics', { headers: accept === undefined ? {} : { accept } });
}

/** The exemplars of `http_request_duration_seconds` buckets. */
function durationExemplars(samples: readonly OpenMetricsSample[]): OpenMetricsSample[] {
  return samples.filter((s) => s.name === 'http_request_duration_seconds_bucket' && s.exemplar);
}

/** `http_request_duration_seconds_count` summed over the samples whose labels include `labels`. */
function omCount(samples: readonly OpenMetricsSample[], labels: Record<string, string>): number {
  return samples
    .filter((s) => s.name === 'http_request_duration_seconds_count')
    .filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

const traceIdsOf = (samples: readonly OpenMetricsSample[]): string[] =>
  samples.map((s) => s.exemplar?.labels.trace_id as string);

/** A valid OpenMetrics exposition: the specification's rules, and promtool's OpenMetrics parser. */
function expectValidOpenMetrics(answer: Answer): OpenMetricsSample[] {
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toBe(OPENMETRICS_CONTENT_TYPE);
  const document = parseOpenMetrics(answer.body);
  expect(document.problems).toEqual([]);
  if (has('promtool')) expect(promtoolOpenMetrics(answer.body)).toEqual({ status: 0, output: '' });
  return document.samples;
}

/** The worker that served the request of `traceId`, from its access line. */
async function workerOf(service: ServiceProcess, traceId: string): Promise<unknown> {
  const line = await service.waitUntil(
    () => service.logLines.find((l) => l.trace_id === traceId && l.msg === 'request completed'),
    5_000,
    `the access line of ${traceId}`,
  );
  return line.workerId;
}

describe('OpenMetrics negotiation and exemplars, one process', () => {
  let service: ServiceProcess;
  let adminPort = 0;
  const sampled = newTraceId();
  const unsampled = newTraceId();

  beforeAll(async () => {
    adminPort = await freePort();
    service = await startService({ ADMIN_PORT: String(adminPort) }, { shared: true });
    const port = service.port;
    expect((await request(port, '/', { traceparent: traceparent(sampled, '01') })).status).toBe(
      200,
    );
    expect((await request(port, '/', { traceparent: traceparent(unsampled, '00') })).status).toBe(
      200,
    );
    expect((await request(port, '/')).status).toBe(200);
  }, 30_000);

  afterAll(() => service?.stop());

  it.each(Object.entries(PROMETHEUS_ACCEPT))(
    "answers Prometheus's Accept (%s) in OpenMetrics, with the sampled trace alone as exemplar",
    async (_version, accept) => {
      const answer = await scrape(adminPort, accept);
      expect(answer.headers.vary).toBe('Accept');
      const samples = expectValidOpenMetrics(answer);
      const exemplars = durationExemplars(samples);
      expect(traceIdsOf(exemplars)).toEqual([sampled]);
      expect(answer.body).not.toContain(unsampled);
      const [bucket] = exemplars;
      expect(bucket?.labels).toMatchObject({ method: 'GET', route: '/', status_code: '200' });
      // Counted as in the text format: three requests to `/`.
      expect(omCount(samples, { route: '/' })).toBe(3);
      // Counters are OpenMetrics families: `# TYPE x counter`, samples `x_total`.
      expect(answer.body).toContain('# TYPE process_cpu_seconds counter\n');
      expect(answer.body).toMatch(/\nprocess_cpu_seconds_total [0-9.e-]+\n/);
      expect(answer.body.endsWith('# EOF\n')).toBe(true);
    },
  );

  it.each([
    ['no Accept', undefined],
    ['text/plain', 'text/plain'],
    ['*/*', '*/*'],
    ['OpenMetrics refused', 'application/openmetrics-text;q=0, text/plain;q=0.5'],
  ])('answers %s in the text format 0.0.4, without exemplars', async (_what, accept) => {
    const answer = await scrape(adminPort, accept);
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe(TEXT_CONTENT_TYPE);
    expect(answer.body).not.toContain('# EOF');
    expect(answer.body).not.toContain(sampled);
    expect(answer.body).toContain('\nprocess_cpu_seconds_total ');
    expect(answer.body).toContain('\nhttp_request_duration_seconds_bucket{le="1",');
    expect(countOf(answer.body, { route: '/' })).toBe(3);
    if (has('promtool')) expect(promtoolCheck(answer.body)).toEqual({ status: 0, output: '' });
  });
});

describe('OpenMetrics exemplars with span export on', () => {
  it("takes the sampler's decision: traces started here, sampled, leave exemplars", async () => {
    const receiver = await startOtlpReceiver();
    const adminPort = await freePort();
    const service = await startService({
      ADMIN_PORT: String(adminPort),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_BSP_SCHEDULE_DELAY: '50',
      OTEL_TRACES_SAMPLER: 'always_on',
    });
    // No traceparent: the trace starts here, and the sampler samples it.
    expect((await request(service.port, '/')).status).toBe(200);
    const line = await service.waitUntil(
      () => service.logLines.find((l) => l.msg === 'request completed' && l.url === '/'),
      5_000,
      'the access line',
    );
    expect(line.trace_flags).toBe('01');
    const samples = expectValidOpenMetrics(await scrape(adminPort, PROMETHEUS_ACCEPT.v2_49));
    expect(traceIdsOf(durationExemplars(samples))).toEqual([line.trace_id]);
    await receiver.waitFor((spans) => spans.some((s) => s.traceId === line.trace_id));
  }, 30_000);
});

describe('OpenMetrics exemplars with WORKERS=2', () => {
  let service: ServiceProcess;
  let adminPort = 0;

  beforeAll(async () => {
    adminPort = await freePort();
    service = await startService(
      { WORKERS: '2', ADMIN_PORT: String(adminPort) },
      { shared: true, timeoutMs: 15_000 },
    );
  }, 30_000);

  afterAll(() => service?.stop());

  it("shows every worker's exemplars, and sums the counts over both", async () => {
    const port = service.port;
    // Each method its own series (an unmatched path: 404), so no exemplar replaces another.
    const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];
    const sent = new Map<string, string>();
    for (const method of methods) {
      const traceId = newTraceId();
      sent.set(method, traceId);
      const answer = await request(
        port,
        '/no-such-page',
        { traceparent: traceparent(traceId, '01') },
        method,
      );
      expect(answer.status).toBe(404);
    }
    const workers = new Set<unknown>();
    for (const traceId of sent.values()) workers.add(await workerOf(service, traceId));
    expect(workers.size).toBe(2);
    const samples = expectValidOpenMetrics(await scrape(adminPort, PROMETHEUS_ACCEPT.v2_49));
    const exemplars = durationExemplars(samples).filter((s) => s.labels.route === '__unmatched__');
    const byMethod = Object.fromEntries(
      exemplars.map((s) => [s.labels.method, s.exemplar?.labels.trace_id]),
    );
    expect(byMethod).toEqual(Object.fromEntries(sent));
    const text = await scrape(adminPort);
    expect(countOf(text.body, { route: '__unmatched__' })).toBe(methods.length);
  }, 30_000);

  it('keeps the newest exemplar of a bucket, whichever worker has it', async () => {
    const port = service.port;
    const traces: { traceId: string; worker: unknown }[] = [];
    // Fresh connections alternate between the workers, so the newest request of a bucket is
    // now one worker's, now the other's (the other holding an older one of the same bucket).
    const lastWorkers = new Set<unknown>();
    for (let i = 0; i < 10; i++) {
      const traceId = newTraceId();
      expect((await request(port, '/', { traceparent: traceparent(traceId, '01') })).status).toBe(
        200,
      );
      const worker = await workerOf(service, traceId);
      traces.push({ traceId, worker });
      const samples = expectValidOpenMetrics(await scrape(adminPort, PROMETHEUS_ACCEPT.v3));
      const home = durationExemplars(samples).filter(
        (s) => s.labels.route === '/' && s.labels.status_code === '200',
      );
      // The request just answered is the newest of its bucket: its trace is that bucket's.
      expect(traceIdsOf(home)).toContain(traceId);
      const newest = home.find((s) => s.exemplar?.labels.trace_id === traceId);
      for (const other of home) {
        expect(other.exemplar?.timestamp ?? 0).toBeLessThanOrEqual(
          newest?.exemplar?.timestamp ?? 0,
        );
        expect(traces.map((t) => t.traceId)).toContain(other.exemplar?.labels.trace_id);
      }
      lastWorkers.add(worker);
    }
    expect(lastWorkers.size).toBe(2);
    const text = await scrape(adminPort);
    expect(countOf(text.body, { route: '/' })).toBe(traces.length);
  }, 60_000);
});

describe.runIf(has('prometheus'))('a real Prometheus storing the exemplars', () => {
  let service: ServiceProcess;
  let prometheus: Prometheus | undefined;

  beforeAll(async () => {
    const adminPort = await freePort();
    service = await startService(
      { WORKERS: '2', ADMIN_PORT: String(adminPort) },
      { shared: true, timeoutMs: 15_000 },
    );
    prometheus = await Prometheus.start({
      target: `127.0.0.1:${adminPort}`,
      features: ['exemplar-storage'],
    });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await service?.stop();
  }, 20_000);

  it('returns the trace id sent in traceparent from query_exemplars', async () => {
    if (prometheus === undefined) throw new Error('Prometheus did not start');
    const running = prometheus;
    const sampled = newTraceId();
    const unsampled = newTraceId();
    const start = Date.now() / 1000 - 60;
    expect(
      (await request(service.port, '/', { traceparent: traceparent(unsampled, '00') })).status,
    ).toBe(200);
    expect(
      (await request(service.port, '/', { traceparent: traceparent(sampled, '01') })).status,
    ).toBe(200);
    type Exemplars = {
      seriesLabels: Record<string, string>;
      exemplars: { labels: Record<string, string>; value: string; timestamp: number }[];
    }[];
    let found: Exemplars = [];
    await eventually(
      async () => {
        const query = encodeURIComponent('http_request_duration_seconds_bucket');
        const end = Date.now() / 1000 + 60;
        found = await running.api<Exemplars>(
          `/api/v1/query_exemplars?query=${query}&start=${start}&end=${end}`,
        );
        return found.some((s) => s.exemplars.some((e) => e.labels.trace_id === sampled))
          ? true
          : undefined;
      },
      () => `query_exemplars naming ${sampled}: ${JSON.stringify(found)}\n${running.output}`,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const series = found.find((s) => s.exemplars.some((e) => e.labels.trace_id === sampled));
    expect(series?.seriesLabels).toMatchObject({
      __name__: 'http_request_duration_seconds_bucket',
      job: 'tornode',
      method: 'GET',
      route: '/',
      status_code: '200',
    });
    expect(JSON.stringify(found)).not.toContain(unsampled);
    // The OpenMetrics scrape parsed: the target is up, and the counters kept their `_total`.
    expect(await running.single('up{job="tornode"}')).toBe(1);
    expect(
      await running.single('sum(http_request_duration_seconds_count{route="/",status_code="200"})'),
    ).toBe(2);
    expect(await running.single('process_cpu_seconds_total{job="tornode"}')).toBeGreaterThan(0);
  }, 60_000);
});
