import { request } from 'node:http';
import client from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DROPPED_DEFAULT_METRICS,
  HTTP_BUCKETS,
  OTHER_METHOD,
  ServiceMetrics,
  UNMATCHED_ROUTE,
} from '../../src/service/metrics.js';
import {
  Application,
  RequestHandler,
  type RouteEntry,
  serve,
  type TestServer,
  url,
} from '../../src/web/index.js';

interface CountSample {
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/** The `_count` samples of the duration histogram. */
async function counts(metrics: ServiceMetrics): Promise<CountSample[]> {
  const data = await metrics.httpDuration.get();
  return data.values
    .filter((v) => v.metricName === 'http_request_duration_seconds_count')
    .map((v) => ({ labels: { ...v.labels } as Record<string, string | number>, value: v.value }));
}

async function countOf(metrics: ServiceMetrics, labels: Record<string, string>): Promise<number> {
  let total = 0;
  for (const sample of await counts(metrics)) {
    if (Object.entries(labels).every(([k, v]) => String(sample.labels[k]) === v)) {
      total += sample.value;
    }
  }
  return total;
}

async function inFlight(metrics: ServiceMetrics): Promise<number> {
  return (await metrics.inFlight.get()).values[0]?.value ?? Number.NaN;
}

describe('ServiceMetrics', () => {
  it('has its own registry with the default process and Node.js metrics', async () => {
    const metrics = new ServiceMetrics();
    expect(metrics.registry).not.toBe(client.register);
    const text = await metrics.exposition();
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_active_handles',
      'nodejs_version_info',
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(text).toMatch(/^# TYPE http_request_duration_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE http_requests_in_flight gauge$/m);
  });

  it('drops the three default gauges named _total', async () => {
    expect(DROPPED_DEFAULT_METRICS).toEqual([
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]);
    const metrics = new ServiceMetrics();
    const text = await metrics.exposition();
    for (const name of DROPPED_DEFAULT_METRICS) {
      expect(metrics.registry.getSingleMetric(name)).toBeUndefined();
      expect(text).not.toContain(name);
    }
    for (const match of text.matchAll(/^# TYPE (\S+_total) (\S+)$/gm)) {
      expect(match[2], match[1]).toBe('counter');
    }
  });

  it('uses the Prometheus text content type', () => {
    expect(new ServiceMetrics().contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('declares the histogram with its labels and buckets', async () => {
    const metrics = new ServiceMetrics();
    metrics.httpDuration.observe({ method: 'GET', route: '/', status_code: '200' }, 0.003);
    const text = await metrics.exposition();
    for (const le of HTTP_BUCKETS) {
      expect(text).toContain(
        `http_request_duration_seconds_bucket{le="${le}",method="GET",route="/",status_code="200"}`,
      );
    }
    expect(text).toContain(
      'http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/",status_code="200"} 1',
    );
    expect(HTTP_BUCKETS).toEqual([...HTTP_BUCKETS].sort((a, b) => a - b));
    expect(HTTP_BUCKETS[0]).toBe(0.001);
  });

  it('registers user metrics on registry, and they appear in the exposition', async () => {
    const metrics = new ServiceMetrics();
    const counter = new client.Counter({
      name: 'chat_messages_posted_total',
      help: 'Messages posted.',
      labelNames: ['room'],
      registers: [metrics.registry],
    });
    const gauge = new client.Gauge({
      name: 'chat_waiting_polls',
      help: 'Polls waiting.',
      registers: [metrics.registry],
    });
    counter.inc({ room: 'main' }, 3);
    gauge.set(2);
    const text = await metrics.exposition();
    expect(text).toContain('# TYPE chat_messages_posted_total counter');
    expect(text).toContain('chat_messages_posted_total{room="main"} 3');
    expect(text).toContain('chat_waiting_polls 2');
    // Not on prom-client's global registry.
    expect(client.register.getSingleMetric('chat_waiting_polls')).toBeUndefined();
  });

  it('can be created twice (each instance is independent)', async () => {
    const a = new ServiceMetrics();
    const b = new ServiceMetrics();
    a.httpDuration.observe({ method: 'GET', route: '/', status_code: '200' }, 0.01);
    expect(await counts(a)).toHaveLength(1);
    expect(await counts(b)).toHaveLength(0);
  });

  it('answers from another source once useSource is called', async () => {
    const metrics = new ServiceMetrics();
    metrics.useSource(async () => 'aggregated 1\n');
    expect(await metrics.exposition()).toBe('aggregated 1\n');
  });
});

describe('ServiceMetrics as an observer of a real application', () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close(1_000)));
  });

  let holdStarted: (() => void) | null = null;
  let release: (() => void) | null = null;

  class Hello extends RequestHandler {
    override get(): void {
      this.finish('hello');
    }
    override post(): void {
      this.setStatus(201);
      this.finish('made');
    }
  }
  class Item extends RequestHandler {
    override get(): void {
      this.finish(`item ${this.pathArgs[0]}`);
    }
  }
  class Boom extends RequestHandler {
    override get(): void {
      throw new Error('kaput');
    }
  }
  class Probe extends RequestHandler {
    override get(): void {
      this.finish('ok');
    }
  }
  class Hold extends RequestHandler {
    override async get(): Promise<void> {
      const signal = this.signal;
      await new Promise<void>((resolve, reject) => {
        release = resolve;
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        holdStarted?.();
      });
      this.finish('released');
    }
  }

  const routes: RouteEntry[] = [
    url('/', Hello),
    url('/items/{id}', Item),
    url('/boom', Boom),
    url('/livez', Probe),
    url('/metrics', Probe),
    url('/hold', Hold),
  ];
  const QUIET = new Set(['/livez', '/metrics']);

  async function start(options: { countQuietRoutes?: boolean } = {}) {
    const metrics = new ServiceMetrics({ quietRoutes: QUIET, ...options });
    let finished = 0;
    let waiters: (() => void)[] = [];
    const app = new Application(routes, { logger: silent });
    app.addObserver(metrics).addObserver({
      // After the metrics observer: once this runs, the request has been counted.
      requestFinished: () => {
        finished++;
        const wake = waiters;
        waiters = [];
        for (const w of wake) w();
      },
    });
    const srv = await serve(app);
    servers.push(srv);
    /** Resolves once `n` requests in all have finished (bounded). */
    const finishedCount = (n: number): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${finished}/${n} finished`)), 3_000);
        const check = (): void => {
          if (finished >= n) {
            clearTimeout(timer);
            resolve();
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    return { metrics, srv, finishedCount };
  }

  const silent = { error() {}, warn() {}, info() {}, debug() {} };

  function raw(port: number, method: string, path: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, agent: false });
      req.once('error', reject);
      req.once('response', (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      });
      req.end();
    });
  }

  it('counts by method, route template and status code', async () => {
    const { metrics, srv, finishedCount } = await start();
    await (await srv.fetch('/')).text();
    await (await srv.fetch('/?x=1')).text();
    await (await srv.fetch('/', { method: 'POST' })).text();
    await (await srv.fetch('/items/1')).text();
    await (await srv.fetch('/items/2')).text();
    await (await srv.fetch('/boom')).text();
    await (await srv.fetch('/', { method: 'DELETE' })).text();
    await finishedCount(7);
    expect(await countOf(metrics, { method: 'GET', route: '/', status_code: '200' })).toBe(2);
    expect(await countOf(metrics, { method: 'POST', route: '/', status_code: '201' })).toBe(1);
    expect(
      await countOf(metrics, { method: 'GET', route: '/items/{id}', status_code: '200' }),
    ).toBe(2);
    expect(await countOf(metrics, { method: 'GET', route: '/boom', status_code: '500' })).toBe(1);
    expect(await countOf(metrics, { method: 'DELETE', route: '/', status_code: '405' })).toBe(1);
    const text = await metrics.exposition();
    expect(text).not.toContain('/items/1');
    expect(text).not.toContain('x=1');
    const sum = (await metrics.httpDuration.get()).values.find(
      (v) => v.metricName === 'http_request_duration_seconds_sum' && v.labels.route === '/boom',
    );
    expect(sum?.value).toBeGreaterThan(0);
    expect(sum?.value).toBeLessThan(3);
  });

  it('labels unknown paths __unmatched__ and other methods _OTHER', async () => {
    const { metrics, srv, finishedCount } = await start();
    await (await srv.fetch('/nope/abc')).text();
    await (await srv.fetch('/also/missing')).text();
    expect(await raw(srv.port, 'PROPFIND', '/')).toBe(405);
    expect(await raw(srv.port, 'PURGE', '/gone')).toBe(404);
    expect(await raw(srv.port, 'PATCH', '/items/9')).toBe(405);
    await finishedCount(5);
    expect(UNMATCHED_ROUTE).toBe('__unmatched__');
    expect(OTHER_METHOD).toBe('_OTHER');
    expect(
      await countOf(metrics, { method: 'GET', route: '__unmatched__', status_code: '404' }),
    ).toBe(2);
    expect(await countOf(metrics, { method: '_OTHER', route: '/', status_code: '405' })).toBe(1);
    expect(
      await countOf(metrics, { method: '_OTHER', route: '__unmatched__', status_code: '404' }),
    ).toBe(1);
    expect(
      await countOf(metrics, { method: 'PATCH', route: '/items/{id}', status_code: '405' }),
    ).toBe(1);
    const methods = new Set((await counts(metrics)).map((s) => s.labels.method));
    expect(methods).not.toContain('PROPFIND');
    expect(methods).not.toContain('PURGE');
  });

  it('does not count quiet routes, unless countQuietRoutes is set', async () => {
    const quiet = await start();
    for (const path of ['/livez', '/metrics', '/livez?verbose', '/metrics']) {
      await (await quiet.srv.fetch(path)).text();
    }
    await (await quiet.srv.fetch('/')).text();
    await quiet.finishedCount(5);
    expect(await counts(quiet.metrics)).toHaveLength(1);
    expect(await countOf(quiet.metrics, { route: '/' })).toBe(1);
    expect(await inFlight(quiet.metrics)).toBe(0);

    const counted = await start({ countQuietRoutes: true });
    await (await counted.srv.fetch('/livez')).text();
    await (await counted.srv.fetch('/metrics')).text();
    await counted.finishedCount(2);
    expect(await countOf(counted.metrics, { route: '/livez' })).toBe(1);
    expect(await countOf(counted.metrics, { route: '/metrics' })).toBe(1);
  });

  it('counts N requests as N', async () => {
    const { metrics, srv, finishedCount } = await start();
    const n = 123;
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        await (await srv.fetch(`/items/${i}`)).text();
      }),
    );
    await finishedCount(n);
    expect(await countOf(metrics, { route: '/items/{id}' })).toBe(n);
    expect(await counts(metrics)).toHaveLength(1);
  });

  it('tracks requests in flight', async () => {
    const { metrics, srv, finishedCount } = await start();
    expect(await inFlight(metrics)).toBe(0);
    const started = new Promise<void>((resolve) => {
      holdStarted = resolve;
    });
    const held = srv.fetch('/hold');
    await started;
    holdStarted = null;
    expect(await inFlight(metrics)).toBe(1);
    release?.();
    const res = await held;
    expect(await res.text()).toBe('released');
    await finishedCount(1);
    expect(await inFlight(metrics)).toBe(0);
    expect(await countOf(metrics, { route: '/hold', status_code: '200' })).toBe(1);
  });

  it('counts a request whose client left as 499 and releases the in-flight gauge', async () => {
    const { metrics, srv, finishedCount } = await start();
    const started = new Promise<void>((resolve) => {
      holdStarted = resolve;
    });
    const req = request({ host: '127.0.0.1', port: srv.port, path: '/hold', agent: false });
    const failed = new Promise<void>((resolve) => req.once('error', () => resolve()));
    req.end();
    await started;
    holdStarted = null;
    expect(await inFlight(metrics)).toBe(1);
    req.destroy();
    await failed;
    await finishedCount(1);
    expect(await inFlight(metrics)).toBe(0);
    expect(await countOf(metrics, { method: 'GET', route: '/hold', status_code: '499' })).toBe(1);
  });
});
