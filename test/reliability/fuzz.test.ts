/**
 * A fuzz loop against running services: thousands of random but well-framed requests (random
 * methods, paths with good and bad percent-encoding, query strings, headers, cookies, bodies of
 * every content type, with Content-Length or chunked) over keep-alive connections. No answer may
 * be a 5xx, every 4xx is problem details, nothing internal leaks, the process never crashes, and
 * its RSS stays within a bound. The seed is printed; `RELIABILITY_FUZZ_SEED=N` replays a run.
 * Run `npm run build` first.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RawResponse } from '../support/http.js';
import { LEVEL, type ServiceProcess, startService } from '../support/process.js';
import { RawClient } from '../support/socket.js';
import { expectNoLeak, expectServing, FIXTURE, mib, report, rssBytes, SOAK } from './support.js';

const SEED = Number(process.env.RELIABILITY_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const REQUESTS = SOAK ? 50_000 : 5_000;
const CONNECTIONS = 8;

interface FuzzRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer | null;
  readonly chunks: number;
}

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PATH_CHARS =
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
/** Headers the fuzzer leaves alone: they decide the framing, which must stay valid. */
const FRAMING = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'host',
  'expect',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
]);

const hex = fc.constantFrom(...'0123456789abcdefABCDEF');
const pctByte = fc.tuple(hex, hex).map(([a, b]) => `%${a}${b}`);
const urlChar = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PATH_CHARS) },
  { weight: 2, arbitrary: pctByte },
  {
    weight: 1,
    arbitrary: fc.constantFrom('%', '%z', '%zz', '%%', '%F0%9F%98', '%C0%AF', '%ED%A0%80'),
  },
);
const segment = fc.string({ unit: urlChar, maxLength: 12 });

function pathArbitrary(known: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...known) },
    {
      weight: 2,
      arbitrary: fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom(...known), segment)
        .map(([base, extra]) => `${base.replace(/\/$/, '')}/${extra}`),
    },
  );
}

const queryName = fc.oneof(
  fc.constantFrom(
    'after',
    'timeout',
    'verbose',
    'text',
    'a',
    '__proto__',
    'constructor',
    'toString',
    '__proto__[x]',
  ),
  fc.string({ unit: urlChar, maxLength: 8 }),
);
const queryValue = fc.oneof(
  fc.integer({ min: -5, max: 100 }).map(String),
  fc.constantFrom('', '0', '1e3', 'NaN', '-0', ' 1', '99999999999999999999'),
  fc.string({ unit: urlChar, maxLength: 16 }),
);
const query = fc.option(
  fc
    .array(fc.tuple(queryName, fc.option(queryValue)), { maxLength: 6 })
    .map((pairs) => pairs.map(([n, v]) => (v === null ? n : `${n}=${v}`)).join('&')),
);

const headerName = fc
  .oneof(
    fc.constantFrom(
      'Content-Type',
      'Cookie',
      'Authorization',
      'X-Request-Id',
      'Accept',
      'Accept-Encoding',
      'If-None-Match',
      'Range',
      'Origin',
      'X-Forwarded-For',
      'Content-Encoding',
      'User-Agent',
    ),
    fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 }),
  )
  .filter((name) => !FRAMING.has(name.toLowerCase()));
const headerValue = fc
  .string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 40,
  })
  .map((v) => v.trim());
const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/merge-patch+json',
  'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=utf-8',
  'multipart/form-data; boundary=x',
  'text/plain',
  'application/octet-stream',
  '',
);

const body = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.record({ text: fc.string({ maxLength: 40 }) }).map((v) => Buffer.from(JSON.stringify(v))),
  fc
    .array(fc.tuple(queryName, queryValue), { maxLength: 6 })
    .map((pairs) => Buffer.from(pairs.map(([n, v]) => `${n}=${v}`).join('&'))),
  fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes)),
  fc
    .string({
      unit: fc.constantFrom('[', ']', '{', '}', '"', ':', ',', '1', 'a', '\\', '__proto__'),
      maxLength: 80,
    })
    .map((s) => Buffer.from(s)),
  fc.integer({ min: 1, max: 3000 }).map((d) => Buffer.from('['.repeat(d) + ']'.repeat(d))),
);

function requestArbitrary(known: readonly string[]): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      method: fc.constantFrom(
        'GET',
        'GET',
        'GET',
        'HEAD',
        'POST',
        'POST',
        'PUT',
        'PATCH',
        'DELETE',
        'OPTIONS',
        'PROPFIND',
        'TRACE',
      ),
      path: pathArbitrary(known),
      query,
      headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 6 }),
      contentType: fc.option(contentType),
      body: fc.option(body, { freq: 2 }),
      chunks: fc.integer({ min: 0, max: 4 }),
    })
    .map(({ method, path, query: q, headers, contentType: type, body: b, chunks }) => {
      let target = q === null ? path : `${path}?${q}`;
      // Long polls answer at once: the fuzzer must not wait 25 s on each.
      if (path.startsWith('/chat/messages')) target += `${q === null ? '?' : '&'}timeout=0`;
      const all = [...headers];
      if (type !== null && type !== '') all.push(['Content-Type', type]);
      return { method, target, headers: all, body: b, chunks };
    });
}

function serialize(request: FuzzRequest): Buffer {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, 'Host: fuzz'];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  const parts: Buffer[] = [];
  if (request.body === null) {
    parts.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
  } else if (request.chunks === 0) {
    lines.push(`Content-Length: ${request.body.length}`);
    parts.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), request.body);
  } else {
    lines.push('Transfer-Encoding: chunked');
    parts.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
    const size = Math.max(1, Math.ceil(request.body.length / request.chunks));
    for (let i = 0; i < request.body.length; i += size) {
      const piece = request.body.subarray(i, i + size);
      parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from('0\r\n\r\n'));
  }
  return Buffer.concat(parts);
}

interface Target {
  readonly name: string;
  readonly start: () => Promise<ServiceProcess>;
  readonly paths: readonly string[];
}

const TARGETS: Target[] = [
  {
    name: 'dist/main.js',
    // A small body limit, so that 413s (and the lingering close after them) are fuzzed too.
    start: () => startService({ LOG_LEVEL: 'error', MAX_BODY_BYTES: '512' }),
    paths: [
      '/',
      '/chat/messages',
      '/livez',
      '/readyz',
      '/healthz',
      '/startupz',
      '/metrics',
      '/nope',
      '/chat/',
      '/chat',
    ],
  },
  {
    name: 'the reliability fixture',
    start: () => startService({ LOG_LEVEL: 'error', MAX_BODY_BYTES: '512' }, { script: FIXTURE }),
    paths: ['/', '/echo', '/form', '/users/x', '/users/%C3%A9', '/pollution', '/livez', '/nope'],
  },
];

describe.each(TARGETS)('fuzzing $name', (target) => {
  it(`${REQUESTS.toLocaleString('en')} random well-framed requests: no 5xx, no crash, bounded memory (seed printed)`, {
    timeout: SOAK ? 600_000 : 60_000,
  }, async () => {
    const service = await target.start();
    const pid = service.child.pid as number;
    const requests = fc.sample(requestArbitrary(target.paths), { seed: SEED, numRuns: REQUESTS });
    const statuses: Record<number, number> = {};
    const problems: string[] = [];
    let next = 0;
    let reconnects = 0;
    let measuring = false;
    let rssMid = 0;
    const describeRequest = (r: FuzzRequest) =>
      `${JSON.stringify(serialize(r).toString('latin1').slice(0, 300))} (seed ${SEED})`;

    const lane = async (): Promise<void> => {
      let client = await RawClient.connect(service.port);
      try {
        while (next < requests.length && problems.length < 10) {
          const request = requests[next++] as FuzzRequest;
          if (measuring && rssMid === 0 && next >= requests.length / 2) rssMid = rssBytes(pid);
          client.send(serialize(request));
          let res: RawResponse;
          try {
            res = await client.readResponse(10_000, request.method);
          } catch (error) {
            problems.push(
              `no response: ${(error as Error).message} to ${describeRequest(request)}`,
            );
            break;
          }
          statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          if (res.status >= 500) problems.push(`${res.status} for ${describeRequest(request)}`);
          if (res.status >= 400 && res.headers['content-type'] !== 'application/problem+json') {
            problems.push(`${res.status} without problem details for ${describeRequest(request)}`);
          }
          if (res.headers['x-content-type-options'] !== 'nosniff') {
            problems.push(`no nosniff for ${describeRequest(request)}`);
          }
          if (res.status >= 400)
            expectNoLeak(res.body.toString('latin1'), describeRequest(request));
          if (res.headers.connection === 'close' || client.closed || client.ended) {
            client.destroy();
            client = await RawClient.connect(service.port);
            reconnects++;
          }
        }
      } finally {
        client.destroy();
      }
    };

    // Warm up on the last 2,000 requests first, so that RSS is compared from a steady state.
    const warmup = Math.min(2_000, requests.length);
    next = requests.length - warmup;
    // A failed (re)connect rejects a lane: say with which seed, near which request, and whether
    // the service still runs, so that the run can be replayed.
    const lanes = () =>
      Promise.all(Array.from({ length: CONNECTIONS }, lane)).catch((error: Error) => {
        const near = requests[Math.max(0, next - 1)] as FuzzRequest;
        throw new Error(
          `${error.message} near request ${next - 1}: ${describeRequest(near)}; service running: ${service.isRunning}; last log lines: ${JSON.stringify(service.logLines.slice(-5))}`,
        );
      });
    await lanes();
    const rssStart = rssBytes(pid);
    measuring = true;
    next = 0;
    const started = performance.now();
    await lanes();
    const rssEnd = rssBytes(pid);

    const figures = {
      seed: SEED,
      requests: requests.length,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      statuses,
      reconnects,
      rssStartMiB: mib(rssStart),
      rssMidMiB: mib(rssMid),
      rssEndMiB: mib(rssEnd),
    };
    report(`fuzz ${target.name}`, figures);
    expect(problems, JSON.stringify(figures)).toEqual([]);
    expect(service.isRunning).toBe(true);
    await expectServing(service.port, target.paths[0]);
    expect(service.logLines.filter((l) => (l.level as number) >= LEVEL.fatal)).toEqual([]);
    // RSS also grows while V8 sizes its heap (and reconnects leave lingering sockets for a second),
    // so "no unbounded growth" is checked on the second half of the run, where a leak would keep
    // growing; the whole run gets a generous bound against runaway growth.
    expect(rssEnd - rssMid, JSON.stringify(figures)).toBeLessThan(30 * 1024 * 1024);
    expect(rssEnd - rssStart, JSON.stringify(figures)).toBeLessThan(150 * 1024 * 1024);
    // Every request got an answer.
    expect(Object.values(statuses).reduce((a, b) => a + b, 0)).toBe(REQUESTS + warmup);
  });
});
