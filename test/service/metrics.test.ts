/**
 * Black-box tests of the contract's Metrics section (one process) against the built `dist/main.js`
 * (run `npm run build` first). The tests that run `promtool` are skipped without it (failed under CI).
 */
import { Agent, METHODS, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  countOf,
  durationCounts,
  parseExposition,
  promtoolCheck,
  waitInFlight,
} from '../support/metrics.js';
import { type ServiceProcess, startService } from '../support/process.js';
import { has } from '../support/programs.js';
import { send } from '../support/socket.js';

const STANDARD_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'];
const PROBES = ['/livez', '/readyz', '/startupz', '/healthz', '/metrics'];
const APP_ROUTES = new Set(['/', '/chat/messages']);

async function scrape(service: ServiceProcess): Promise<string> {
  const res = await service.fetch('/metrics');
  expect(res.status).toBe(200);
  return res.text();
}

/** Requests on keep-alive connections, at most `concurrency` at a time. */
async function load(
  port: number,
  total: number,
  concurrency: number,
  next: (i: number) => { method: string; path: string },
): Promise<Map<number, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses = new Map<number, number>();
  let issued = 0;
  try {
    const worker = async (): Promise<void> => {
      while (issued < total) {
        const { method, path } = next(issued++);
        const answer = await send(port, path, { method, agent });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    agent.destroy();
  }
  return statuses;
}

describe('/metrics', () => {
  it('answers in the Prometheus text format', async () => {
    const service = await startService();
    const res = await service.fetch('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toMatch(/^# HELP /m);
    expect(() => parseExposition(text)).not.toThrow();
  });

  it.runIf(has('promtool'))(
    'passes promtool check metrics, after all kinds of traffic',
    async () => {
      const service = await startService();
      const traffic: [string, RequestInit][] = [
        ['/', {}],
        ['/', { method: 'HEAD' }],
        ['/nope', {}],
        ['/', { method: 'DELETE' }],
        [
          '/chat/messages',
          { method: 'POST', body: '{"text":"x"}', headers: { 'content-type': 'application/json' } },
        ],
        ['/chat/messages?after=x', {}],
      ];
      for (const [path, init] of traffic) await (await service.fetch(path, init)).arrayBuffer();
      await send(service.port, '/x', { method: 'PROPFIND' });
      const text = await scrape(service);
      expect(countOf(text)).toBe(traffic.length + 1);
      const result = promtoolCheck(text);
      expect(result.output).toBe('');
      expect(result.status).toBe(0);
    },
  );

  it.runIf(has('promtool'))(
    'promtool check fails for a bad exposition (the check itself works)',
    async () => {
      const bad = '# TYPE broken_total gauge\nbroken_total 1\n';
      const result = promtoolCheck(bad);
      expect(result.output).toContain('should not have "_total" suffix');
      expect(result.status).not.toBe(0);
    },
  );

  it('has the default process and Node.js metrics, without the _total gauges', async () => {
    const service = await startService();
    const text = await scrape(service);
    const names = new Set(parseExposition(text).map((s) => s.name));
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_version_info',
      'nodejs_active_handles',
    ]) {
      expect(names, name).toContain(name);
    }
    expect(text).toMatch(/^# TYPE process_cpu_seconds_total counter$/m);
    expect(text).toMatch(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
    for (const dropped of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ]) {
      expect(text).not.toContain(dropped);
    }
    // Every name ending in _total is a counter.
    for (const match of text.matchAll(/^# TYPE (\S+_total) (\S+)$/gm)) {
      expect(match[2], match[1]).toBe('counter');
    }
  });

  it('has http_requests_in_flight, counting a held long poll', async () => {
    const service = await startService();
    const before = parseExposition(await scrape(service)).find(
      (s) => s.name === 'http_requests_in_flight',
    );
    expect(before?.value).toBe(0);
    expect(await scrape(service)).toMatch(/^# TYPE http_requests_in_flight gauge$/m);

    const poll = request({
      host: '127.0.0.1',
      port: service.port,
      path: '/chat/messages?after=0&timeout=20',
      agent: false,
    });
    const answered = new Promise<number>((resolve, reject) => {
      poll.once('error', reject);
      poll.once('response', (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      });
    });
    poll.end();
    expect(await waitInFlight(service.port, 1)).toBe(1);
    // A message ends the poll; the gauge goes back to 0.
    const post = await service.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"text":"wake up"}',
    });
    expect(post.status).toBe(201);
    expect(await answered).toBe(200);
    const text = await scrape(service);
    expect(parseExposition(text).find((s) => s.name === 'http_requests_in_flight')?.value).toBe(0);
    expect(countOf(text, { method: 'GET', route: '/chat/messages', status_code: '200' })).toBe(1);
  });
});

describe('http_request_duration_seconds', () => {
  it('is a histogram with method, route and status_code labels', async () => {
    const service = await startService();
    await (await service.fetch('/')).text();
    const text = await scrape(service);
    expect(text).toMatch(/^# TYPE http_request_duration_seconds histogram$/m);
    const samples = parseExposition(text).filter((s) =>
      s.name.startsWith('http_request_duration_seconds'),
    );
    const buckets = samples.filter((s) => s.name === 'http_request_duration_seconds_bucket');
    expect(buckets.length).toBeGreaterThan(1);
    for (const sample of samples) {
      const keys = Object.keys(sample.labels).filter((k) => k !== 'le');
      expect(keys.sort()).toEqual(['method', 'route', 'status_code']);
    }
    const inf = buckets.find((b) => b.labels.le === '+Inf');
    expect(inf?.value).toBe(1);
    expect(inf?.labels).toMatchObject({ method: 'GET', route: '/', status_code: '200' });
    const sum = samples.find((s) => s.name === 'http_request_duration_seconds_sum');
    expect(sum?.value).toBeGreaterThan(0);
    expect(sum?.value).toBeLessThan(5);
  });

  it('counts exactly N requests as _count N', async () => {
    const service = await startService();
    const n = 37;
    for (let i = 0; i < n; i++) await (await service.fetch(`/?i=${i}`)).text();
    const text = await scrape(service);
    expect(countOf(text, { method: 'GET', route: '/', status_code: '200' })).toBe(n);
    expect(countOf(text)).toBe(n);
    const inf = parseExposition(text).find(
      (s) =>
        s.name === 'http_request_duration_seconds_bucket' &&
        s.labels.route === '/' &&
        s.labels.le === '+Inf',
    );
    expect(inf?.value).toBe(n);
  });

  it('labels the route template, __unmatched__ for unknown paths and _OTHER for other methods', async () => {
    const service = await startService();
    await (
      await service.fetch('/chat/messages?x=1', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"text":"hi"}',
      })
    ).text();
    await (await service.fetch('/chat/messages?after=abc')).text();
    await (await service.fetch('/no/such/page-12345')).text();
    await (await service.fetch('/other/unknown')).text();
    await (await service.fetch('/', { method: 'DELETE' })).text();
    expect((await send(service.port, '/', { method: 'PROPFIND' })).status).toBe(405);
    expect((await send(service.port, '/nowhere', { method: 'PURGE' })).status).toBe(404);
    const text = await scrape(service);
    expect(countOf(text, { method: 'POST', route: '/chat/messages', status_code: '201' })).toBe(1);
    expect(countOf(text, { method: 'GET', route: '/chat/messages', status_code: '400' })).toBe(1);
    expect(countOf(text, { method: 'GET', route: '__unmatched__', status_code: '404' })).toBe(2);
    expect(countOf(text, { method: 'DELETE', route: '/', status_code: '405' })).toBe(1);
    expect(countOf(text, { method: '_OTHER', route: '/', status_code: '405' })).toBe(1);
    expect(countOf(text, { method: '_OTHER', route: '__unmatched__', status_code: '404' })).toBe(1);
    expect(text).not.toContain('PROPFIND');
    expect(text).not.toContain('PURGE');
    expect(text).not.toContain('page-12345');
    expect(text).not.toContain('/other/unknown');
    expect(text).not.toContain('after=');
  });

  it('does not count probe and /metrics requests', async () => {
    const service = await startService();
    for (let round = 0; round < 3; round++) {
      for (const path of [...PROBES, '/livez?verbose', '/readyz?verbose']) {
        await (await service.fetch(path)).arrayBuffer();
        await (await service.fetch(path, { method: 'HEAD' })).arrayBuffer();
      }
    }
    await (await service.fetch('/')).text();
    const text = await scrape(service);
    const routes = new Set(durationCounts(text).map((s) => s.labels.route));
    expect([...routes]).toEqual(['/']);
    expect(countOf(text)).toBe(1);
    for (const probe of PROBES) expect(text).not.toContain(`route="${probe}"`);
  });

  it('counts a request whose client left as 499', async () => {
    const service = await startService();
    const poll = request({
      host: '127.0.0.1',
      port: service.port,
      path: '/chat/messages?after=0&timeout=20',
      agent: false,
    });
    const gone = new Promise<void>((resolve) => poll.once('error', () => resolve()));
    poll.end();
    expect(await waitInFlight(service.port, 1)).toBe(1);
    poll.destroy();
    await gone;
    let text = '';
    for (let i = 0; i < 200; i++) {
      text = await scrape(service);
      if (countOf(text) > 0) break;
    }
    expect(countOf(text, { method: 'GET', route: '/chat/messages', status_code: '499' })).toBe(1);
    expect(parseExposition(text).find((s) => s.name === 'http_requests_in_flight')?.value).toBe(0);
  });

  it.runIf(has('promtool'))(
    'keeps a small fixed set of series under 10,000 requests to random paths and methods',
    async () => {
      const service = await startService();
      const methods = [
        ...STANDARD_METHODS,
        ...METHODS.filter((m) => !STANDARD_METHODS.includes(m) && m !== 'CONNECT'),
      ];
      expect(methods.length).toBeGreaterThan(20);
      const fixedPaths = ['/', '/chat/messages', '/?q=1', '/chat/messages?x=y', '/chat/'];
      let seed = 12345;
      const random = (n: number): number => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      const total = 10_000;
      const started = performance.now();
      const statuses = await load(service.port, total, 16, (i) => {
        const method = methods[random(methods.length)] as string;
        const path =
          i % 4 === 0
            ? (fixedPaths[random(fixedPaths.length)] as string)
            : `/${random(1e9).toString(36)}/${i}${i % 3 === 0 ? `?x=${i}` : ''}`;
        return { method, path };
      });
      const elapsed = performance.now() - started;
      const text = await scrape(service);
      const series = durationCounts(text);
      const labelSets = new Set(series.map((s) => JSON.stringify(s.labels)));
      // Routes: three templates and __unmatched__; methods: 8 standard and _OTHER; a few statuses.
      expect(labelSets.size).toBeLessThanOrEqual(50);
      expect(labelSets.size).toBe(series.length);
      for (const sample of series) {
        expect(['/', '/chat/messages', '/chat/', '__unmatched__']).toContain(sample.labels.route);
        expect([...STANDARD_METHODS, '_OTHER']).toContain(sample.labels.method);
        expect(sample.labels.status_code).toMatch(/^[1-5]\d\d$/);
      }
      expect(new Set(series.map((s) => s.labels.method))).toContain('_OTHER');
      expect(new Set(series.map((s) => s.labels.route))).toContain('__unmatched__');
      // Every one of the requests was counted (the service answered them all).
      const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
      expect(answered).toBe(total);
      expect(countOf(text)).toBe(total);
      // The exposition stays small and valid.
      expect(text.length).toBeLessThan(100_000);
      const check = promtoolCheck(text);
      expect(check.output).toBe('');
      expect(check.status).toBe(0);
      expect(elapsed).toBeLessThan(60_000);
      for (const route of APP_ROUTES) expect(countOf(text, { route })).toBeGreaterThan(0);
    },
    90_000,
  );
});
