import { type IncomingMessage, request } from 'node:http';
import fc from 'fast-check';
import type { Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLog, CLIENT_CLOSED_REQUEST, jsonString } from '../../src/service/access-log.js';
import { LOG_LEVELS } from '../../src/service/config.js';
import {
  createLogger,
  type LoggerOptions,
  lineCensor,
  REDACTED_HEADERS,
  requestIdGenerator,
  requestSerializer,
} from '../../src/service/logging.js';
import {
  Application,
  HttpError,
  RequestHandler,
  type RouteEntry,
  serve,
  type TestServer,
  TraceContext,
  url,
} from '../../src/web/index.js';

type Line = Record<string, unknown>;

/** A destination that keeps every line written to it, and lets a test wait for one. */
function capture() {
  const raw: string[] = [];
  const lines: Line[] = [];
  let waiters: (() => void)[] = [];
  return {
    raw,
    lines,
    destination: {
      write(line: string): void {
        raw.push(line);
        lines.push(JSON.parse(line) as Line);
        const wake = waiters;
        waiters = [];
        for (const w of wake) w();
      },
    },
    /** The first line matching `predicate`, now or later (at most `timeoutMs`). */
    waitFor(predicate: (line: Line) => boolean, timeoutMs = 3_000): Promise<Line> {
      return new Promise<Line>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching line in ${timeoutMs} ms:\n${raw.join('')}`)),
          timeoutMs,
        );
        const attempt = (): void => {
          const found = lines.find(predicate);
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          } else {
            waiters.push(attempt);
          }
        };
        attempt();
      });
    },
  };
}

/** The `index`th captured line (fails the test when there is none). */
/** What the access log reads of a fake handler's trace context. */
function traced(trace: TraceContext) {
  return { traceContext: trace, traceLogFields: () => trace.logFields };
}

function line(out: { lines: Line[] }, index: number): Line {
  const found = out.lines[index];
  if (found === undefined) throw new Error(`no line ${index}: ${JSON.stringify(out.lines)}`);
  return found;
}

function logger(options: Partial<LoggerOptions> = {}) {
  const out = capture();
  const log = createLogger({
    level: 'trace',
    format: 'json',
    service: 'svc',
    version: '1.2.3',
    env: {},
    destination: out.destination,
    ...options,
  });
  return { log, out };
}

const SECRETS = {
  authorization: 'Bearer SECRET-A-111',
  cookie: 'sid=SECRET-C-222',
  'set-cookie': ['sid=SECRET-S-333; HttpOnly', 'other=SECRET-S-444'],
  'proxy-authorization': 'Basic SECRET-P-555',
};
const SECRET_VALUES = [
  'SECRET-A-111',
  'SECRET-C-222',
  'SECRET-S-333',
  'SECRET-S-444',
  'SECRET-P-555',
];
const headers = () => ({ ...SECRETS, accept: 'text/html', 'x-kept': 'visible' });

function expectNoSecrets(text: string): void {
  for (const secret of SECRET_VALUES) expect(text).not.toContain(secret);
}

function expectRedacted(h: unknown): void {
  expect(h).toMatchObject({
    authorization: '[Redacted]',
    cookie: '[Redacted]',
    'set-cookie': '[Redacted]',
    'proxy-authorization': '[Redacted]',
    accept: 'text/html',
    'x-kept': 'visible',
  });
}

describe('createLogger', () => {
  it('writes JSON lines with service, version and pid', () => {
    const { log, out } = logger();
    log.info({ a: 1 }, 'hello');
    expect(out.raw).toHaveLength(1);
    expect(out.raw[0]?.endsWith('\n')).toBe(true);
    expect(out.lines[0]).toMatchObject({
      level: 30,
      service: 'svc',
      version: '1.2.3',
      pid: process.pid,
      a: 1,
      msg: 'hello',
    });
    expect(Number.isNaN(Date.parse(String(out.lines[0]?.time)))).toBe(false);
    expect(out.lines[0]).not.toHaveProperty('hostname');
  });

  it('adds pod, namespace and node from the downward-API variables', () => {
    const { log, out } = logger({
      env: { POD_NAME: 'web-1', POD_NAMESPACE: 'prod', NODE_NAME: 'node-a' },
    });
    log.info('one');
    log.child({ reqId: 'r' }).warn('two');
    for (const line of out.lines) {
      expect(line).toMatchObject({ pod: 'web-1', namespace: 'prod', node: 'node-a' });
    }
    expect(out.lines).toHaveLength(2);
  });

  it('leaves them out when the variables are unset or empty', () => {
    const { log, out } = logger({ env: { POD_NAME: '', NODE_NAME: undefined } });
    log.info('x');
    expect(out.lines[0]).not.toHaveProperty('pod');
    expect(out.lines[0]).not.toHaveProperty('namespace');
    expect(out.lines[0]).not.toHaveProperty('node');
  });

  it('adds the extra base fields', () => {
    const { log, out } = logger({ base: { workerId: 3 } });
    log.info('x');
    expect(out.lines[0]).toMatchObject({ workerId: 3, service: 'svc', pid: process.pid });
  });

  it.each(LOG_LEVELS.filter((l) => l !== 'silent'))('honours level %s', (level) => {
    const { log, out } = logger({ level });
    for (const l of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) log[l](l);
    const threshold = log.levels.values[level] as number;
    expect(out.lines.length).toBeGreaterThan(0);
    for (const line of out.lines) expect(line.level as number).toBeGreaterThanOrEqual(threshold);
    expect(out.lines.map((l) => l.msg)).toContain(level);
  });

  it('writes nothing at level silent', () => {
    const { log, out } = logger({ level: 'silent' });
    log.fatal('x');
    log.error('y');
    expect(out.raw).toEqual([]);
  });

  it('writes JSON to a given destination even with format pretty', () => {
    const { log, out } = logger({ format: 'pretty' });
    log.info('x');
    expect(out.lines[0]).toMatchObject({ msg: 'x', level: 30 });
  });

  it('serialises errors with type, message and stack', () => {
    const { log, out } = logger();
    log.error({ err: new TypeError('bad thing') }, 'failed');
    expect(out.lines[0]?.err).toMatchObject({ type: 'TypeError', message: 'bad thing' });
    expect(String((line(out, 0).err as Line).stack)).toContain('TypeError: bad thing');
  });
});

describe('redaction', () => {
  function logged(obj: object): { line: Line; text: string } {
    const { log, out } = logger();
    log.info(obj, 'msg');
    expect(out.raw).toHaveLength(1);
    return { line: out.lines[0] as Line, text: out.raw[0] as string };
  }

  it('covers the four sensitive headers', () => {
    expect([...REDACTED_HEADERS].sort()).toEqual(
      ['authorization', 'cookie', 'proxy-authorization', 'set-cookie'].sort(),
    );
  });

  it('redacts {headers}', () => {
    const { line, text } = logged({ headers: headers() });
    expectRedacted(line.headers);
    expectNoSecrets(text);
  });

  it('redacts {res: {headers}} and {req: {headers}} (one level down)', () => {
    const { line, text } = logged({ res: { statusCode: 200, headers: headers() } });
    expectRedacted((line.res as Line).headers);
    expect((line.res as Line).statusCode).toBe(200);
    expectNoSecrets(text);
    const req = logged({ req: { method: 'GET', url: '/x', headers: headers() } });
    expectRedacted((req.line.req as Line).headers);
    expectNoSecrets(req.text);
  });

  it('redacts headers two levels down', () => {
    const { line, text } = logged({ upstream: { response: { headers: headers() } } });
    expectRedacted(((line.upstream as Line).response as Line).headers);
    expectNoSecrets(text);
  });

  it('redacts headers three levels down (an axios error: err.response.config.headers)', () => {
    const error = Object.assign(new Error('Request failed with status code 401'), {
      config: { method: 'get', url: 'https://api', headers: headers() },
      response: {
        status: 401,
        headers: headers(),
        config: { headers: headers() },
      },
    });
    const { log, out } = logger();
    log.error({ err: error }, 'upstream failed');
    const err = out.lines[0]?.err as Line;
    expect(err.message).toBe('Request failed with status code 401');
    expectRedacted((err.config as Line).headers);
    expectRedacted((err.response as Line).headers);
    expectRedacted(((err.response as Line).config as Line).headers);
    expect((err.response as Line).status).toBe(401);
    expectNoSecrets(out.raw.join(''));
  });

  it('redacts an err carrying config.headers or response.headers', () => {
    const withConfig = Object.assign(new Error('a'), { config: { headers: headers() } });
    const withResponse = Object.assign(new Error('b'), { response: { headers: headers() } });
    const { log, out } = logger();
    log.error({ err: withConfig }, 'x');
    log.error({ err: withResponse }, 'y');
    log.error(withConfig, 'z'); // an error as the first argument lands on `err` too
    expectRedacted(((line(out, 0).err as Line).config as Line).headers);
    expectRedacted(((line(out, 1).err as Line).response as Line).headers);
    expectRedacted(((line(out, 2).err as Line).config as Line).headers);
    expectNoSecrets(out.raw.join(''));
  });

  it('redacts header names in any case', () => {
    const mixed = {
      Authorization: 'Bearer SECRET-A-111',
      Cookie: 'sid=SECRET-C-222',
      'Set-Cookie': ['sid=SECRET-S-333'],
      'PROXY-AUTHORIZATION': 'Basic SECRET-P-555',
      Accept: 'text/html',
    };
    const { line, text } = logged({ headers: mixed, res: { headers: { ...mixed } } });
    expect(line.headers).toMatchObject({
      Authorization: '[Redacted]',
      Cookie: '[Redacted]',
      'Set-Cookie': '[Redacted]',
      'PROXY-AUTHORIZATION': '[Redacted]',
      Accept: 'text/html',
    });
    expectNoSecrets(text);
  });

  it('redacts in arrays of objects and in child bindings', () => {
    const { log, out } = logger();
    log.info({ calls: [{ headers: headers() }, { headers: headers() }] }, 'batch');
    log.child({ headers: headers() }).info('child');
    log
      .child({ req: { headers: headers() } })
      .child({ extra: 1 })
      .info({ ok: true }, 'grandchild');
    expect(out.raw).toHaveLength(3);
    for (const call of (out.lines[0] as Line).calls as Line[]) expectRedacted(call.headers);
    expectRedacted(out.lines[1]?.headers);
    expectNoSecrets(out.raw.join(''));
  });

  it('redacts the values in raw header lists and raw header text', () => {
    const { text } = logged({
      request: {
        rawHeaders: [
          'Host',
          'x',
          'Authorization',
          'Bearer SECRET-A-111',
          'Cookie',
          'sid=SECRET-C-222',
        ],
        _header: 'GET / HTTP/1.1\r\nAuthorization: Bearer SECRET-A-111\r\nHost: x\r\n\r\n',
      },
    });
    expectNoSecrets(text);
    expect(text).toContain('Host');
  });

  it('leaves other fields alone', () => {
    const { line } = logged({
      headers: { accept: 'a' },
      count: 3,
      nested: { deep: { x: [1, 2] } },
    });
    expect(line).toMatchObject({
      headers: { accept: 'a' },
      count: 3,
      nested: { deep: { x: [1, 2] } },
    });
  });

  it('does not change the logged object', () => {
    const obj = { headers: headers() };
    logged(obj);
    expect(obj.headers.authorization).toBe('Bearer SECRET-A-111');
  });

  it('redacts the extra redactHeaders, in any case', () => {
    const { log, out } = logger({ redactHeaders: ['X-Api-Key', 'x-session-token'] });
    log.info(
      {
        headers: { 'x-api-key': 'SECRET-K-1', 'X-Session-Token': 'SECRET-T-2', accept: 'ok' },
        res: { headers: { 'X-API-KEY': 'SECRET-K-3' } },
        req: { headers: { 'x-api-key': 'SECRET-K-4', authorization: 'SECRET-A-111' } },
      },
      'x',
    );
    const text = out.raw.join('');
    for (const secret of ['SECRET-K-1', 'SECRET-T-2', 'SECRET-K-3', 'SECRET-K-4']) {
      expect(text).not.toContain(secret);
    }
    expectNoSecrets(text);
    expect((line(out, 0).headers as Line).accept).toBe('ok');
  });

  it('still redacts the standard four when redactHeaders is given', () => {
    const { log, out } = logger({ redactHeaders: ['x-other'] });
    log.info({ headers: headers() }, 'x');
    expectRedacted(out.lines[0]?.headers);
  });
});

describe('lineCensor', () => {
  const censor = lineCensor(REDACTED_HEADERS);

  it('passes a line that mentions no sensitive name through untouched', () => {
    const line = '{"level":30,"reqId":"a-1","url":"/","msg":"request completed"}\n';
    expect(censor(line)).toBe(line);
  });

  it('keeps a line that only mentions a name in a value as it was', () => {
    const line = '{"level":30,"msg":"cookie consent shown","n":1}\n';
    expect(censor(line)).toBe(line);
  });

  it('censors values under the names and keeps the line ending', () => {
    const out = censor('{"a":{"Cookie":"x=SECRET-C-222"},"b":[1,"two"]}\r\n');
    expect(out.endsWith('\r\n')).toBe(true);
    expect(JSON.parse(out)).toEqual({ a: { Cookie: '[Redacted]' }, b: [1, 'two'] });
  });
});

describe('the req serializer', () => {
  it('keeps method, url and headers, with the sensitive ones redacted', () => {
    const serialize = requestSerializer(new Set(REDACTED_HEADERS));
    const fake = {
      method: 'POST',
      url: '/login?next=/',
      headers: headers(),
      rawHeaders: ['Authorization', 'Bearer SECRET-A-111'],
      socket: { remoteAddress: '10.0.0.1' },
    } as unknown as IncomingMessage;
    const out = serialize(fake);
    expect(Object.keys(out).sort()).toEqual(['headers', 'method', 'url']);
    expect(out).toMatchObject({ method: 'POST', url: '/login?next=/' });
    expectRedacted(out.headers);
    expectNoSecrets(JSON.stringify(out));
  });

  it('serialises a real IncomingMessage logged as req', async () => {
    const { log, out } = logger();
    class Echo extends RequestHandler {
      override get(): void {
        log.info({ req: this.request }, 'incoming');
        this.finish('ok');
      }
    }
    const srv = await serve(new Application([['/echo', Echo]]));
    try {
      const res = await srv.fetch('/echo?x=1', {
        headers: { Authorization: 'Bearer SECRET-A-111', Cookie: 'sid=SECRET-C-222' },
      });
      await res.text();
    } finally {
      await srv.close();
    }
    const req = out.lines.find((l) => l.msg === 'incoming')?.req as Line;
    expect(req).toMatchObject({ method: 'GET', url: '/echo?x=1' });
    expect(req.headers).toMatchObject({ authorization: '[Redacted]', cookie: '[Redacted]' });
    expect(req).not.toHaveProperty('rawHeaders');
    expectNoSecrets(out.raw.join(''));
  });
});

describe('requestIdGenerator', () => {
  const fakeRequest = (id?: string | string[]): IncomingMessage =>
    ({ headers: id === undefined ? {} : { 'x-request-id': id } }) as unknown as IncomingMessage;
  const VALID = /^[A-Za-z0-9._-]{1,128}$/;

  it.each([
    'a',
    '0',
    'abc.DEF_123-xyz',
    '7f9c3b2e-1d4a-4c8e-9b6f-0a1b2c3d4e5f',
    'x'.repeat(128),
    '._-',
  ])('keeps the valid id %j', (id) => {
    expect(requestIdGenerator()(fakeRequest(id))).toBe(id);
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'x'.repeat(129)],
    ['a space', 'a b'],
    ['a newline', 'a\nb'],
    ['unicode', 'idé'],
    ['emoji', 'id-😀'],
    ['a slash', 'a/b'],
    ['JSON', '{"a":1}'],
    ['a list joined by node', 'one, two'],
  ])('replaces an id with %s', (_what, id) => {
    const next = requestIdGenerator();
    const replaced = next(fakeRequest(id));
    expect(replaced).not.toBe(id);
    expect(replaced).toMatch(VALID);
  });

  it('replaces a non-string header', () => {
    const replaced = requestIdGenerator()(fakeRequest(['a', 'b']));
    expect(replaced).toMatch(VALID);
    expect(replaced).not.toBe('a');
  });

  it('generates valid ids unique over 100,000 calls', () => {
    const next = requestIdGenerator();
    const ids = new Set<string>();
    const req = fakeRequest();
    for (let i = 0; i < 100_000; i++) {
      const id = next(req);
      if (i % 997 === 0) expect(id).toMatch(VALID);
      ids.add(id);
    }
    expect(ids.size).toBe(100_000);
  });

  it('generates ids unique across two generators (two processes or workers)', () => {
    const a = requestIdGenerator();
    const b = requestIdGenerator();
    const ids = new Set<string>();
    const req = fakeRequest();
    for (let i = 0; i < 50_000; i++) {
      ids.add(a(req));
      ids.add(b(req));
    }
    expect(ids.size).toBe(100_000);
  });

  it('gives each generator its own random prefix', () => {
    const prefixes = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const id = requestIdGenerator()(fakeRequest());
      prefixes.add(id.slice(0, id.lastIndexOf('-')));
    }
    expect(prefixes.size).toBe(200);
  });
});

describe('AccessLog with a real application', () => {
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close(1_000)));
  });

  let holdStarted: (() => void) | null = null;

  class Hello extends RequestHandler {
    override get(): void {
      this.finish('hello world');
    }
    override post(): void {
      this.setStatus(201);
      this.finish({ ok: true });
    }
  }
  class Item extends RequestHandler {
    override get(): void {
      this.finish(`item ${this.pathArgs[0]}`);
    }
  }
  class Redirect extends RequestHandler {
    override get(): void {
      this.setStatus(302);
      this.setHeader('Location', '/');
      this.finish();
    }
  }
  class Bad extends RequestHandler {
    override get(): void {
      throw new HttpError(400, 'nope');
    }
  }
  class Boom extends RequestHandler {
    override get(): void {
      throw new Error('kaput');
    }
  }
  class Unavailable extends RequestHandler {
    override get(): void {
      this.setStatus(503);
      this.finish('down');
    }
  }
  class Probe extends RequestHandler {
    override get(): void {
      this.finish('ok');
    }
  }
  class FailingProbe extends RequestHandler {
    override get(): void {
      this.setStatus(503);
      this.finish('fail');
    }
  }
  class Later extends RequestHandler {
    override get(): void {
      this.finish('done');
      setTimeout(() => this.log.info({ traceparent: this.traceparent() }, 'later'), 20);
    }
  }
  class Hold extends RequestHandler {
    override async get(): Promise<void> {
      const signal = this.signal;
      holdStarted?.();
      await new Promise<void>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
    }
  }

  const routes: RouteEntry[] = [
    url('/', Hello),
    url('/items/{id}', Item),
    url('/redirect', Redirect),
    url('/bad', Bad),
    url('/boom', Boom),
    url('/unavailable', Unavailable),
    url('/livez', Probe),
    url('/readyz', FailingProbe),
    url('/hold', Hold),
    url('/later', Later),
  ];

  async function start(level: LoggerOptions['level'] = 'info') {
    const { log, out } = logger({ level });
    const app = new Application(routes, { logger: log, requestId: requestIdGenerator() });
    app.addObserver(new AccessLog(log, new Set(['/livez', '/readyz'])));
    const srv = await serve(app);
    servers.push(srv);
    return { srv, out, log };
  }

  async function call(
    srv: TestServer,
    out: ReturnType<typeof capture>,
    path: string,
    init: RequestInit = {},
  ): Promise<{ res: Response; body: string; line: Line }> {
    const res = await srv.fetch(path, init);
    const body = await res.text();
    const id = res.headers.get('x-request-id');
    expect(id).toBeTruthy();
    const line = await out.waitFor((l) => l.reqId === id && 'statusCode' in l);
    return { res, body, line };
  }

  it('writes one line per request with the documented fields', async () => {
    const { srv, out } = await start();
    const { res, body, line } = await call(srv, out, '/items/42?secret=1');
    expect(res.status).toBe(200);
    expect(line).toMatchObject({
      level: 30,
      method: 'GET',
      url: '/items/42',
      route: '/items/{id}',
      statusCode: 200,
      bytes: Buffer.byteLength(body),
      msg: 'request completed',
      service: 'svc',
    });
    expect(line.reqId).toBe(res.headers.get('x-request-id'));
    expect(line.responseTime).toBeTypeOf('number');
    expect(line.responseTime as number).toBeGreaterThanOrEqual(0);
    expect(line.responseTime as number).toBeLessThan(3_000);
    expect(line).not.toHaveProperty('aborted');
    expect(line).not.toHaveProperty('err');
    await call(srv, out, '/');
    expect(out.lines.filter((l) => l.url === '/items/42')).toHaveLength(1);
  });

  it.each([
    ['GET', '/', 200, 30],
    ['POST', '/', 201, 30],
    ['HEAD', '/', 200, 30],
    ['OPTIONS', '/', 204, 30],
    ['GET', '/redirect', 302, 30],
    ['GET', '/bad', 400, 40],
    ['GET', '/missing', 404, 40],
    ['DELETE', '/', 405, 40],
    ['GET', '/boom', 500, 50],
    ['GET', '/unavailable', 503, 50],
  ])('%s %s: status %i at level %i', async (method, path, status, level) => {
    const { srv, out } = await start();
    const { res, line } = await call(srv, out, path, { method, redirect: 'manual' });
    expect(res.status).toBe(status);
    expect(line.statusCode).toBe(status);
    expect(line.level).toBe(level);
    expect(line.method).toBe(method);
  });

  it('carries the trace context: continued from traceparent, or new', async () => {
    const { srv, out } = await start();
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const continued = await call(srv, out, '/', { headers: { traceparent } });
    expect(continued.line).toMatchObject({
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      trace_flags: '01',
    });
    expect(continued.line.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(continued.line.span_id).not.toBe('00f067aa0ba902b7');
    for (const bad of ['00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01', 'x']) {
      const fresh = await call(srv, out, '/boom', { headers: { traceparent: bad } });
      expect(fresh.line.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(fresh.line.trace_id).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(fresh.line).toMatchObject({ trace_flags: '00', statusCode: 500 });
    }
  });

  it('gives a new trace’s ids to the handler that asks for them after its access line', async () => {
    const { srv, out } = await start();
    const { line } = await call(srv, out, '/later');
    const later = await out.waitFor((l) => l.msg === 'later' && l.reqId === line.reqId);
    expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(later).toMatchObject({
      trace_id: line.trace_id,
      span_id: line.span_id,
      trace_flags: '00',
      traceparent: `00-${line.trace_id}-${line.span_id}-00`,
    });
  });

  it('gives route null for an unknown path and bytes 0 for HEAD', async () => {
    const { srv, out } = await start();
    const missing = await call(srv, out, '/missing/thing?q=1');
    expect(missing.line).toMatchObject({ route: null, url: '/missing/thing', statusCode: 404 });
    const head = await call(srv, out, '/', { method: 'HEAD' });
    expect(head.line.bytes).toBe(0);
  });

  it('attaches the error to a 500 line, not to 4xx lines', async () => {
    const { srv, out } = await start();
    const boom = await call(srv, out, '/boom');
    expect((boom.line.err as Line).message).toBe('kaput');
    const bad = await call(srv, out, '/bad');
    expect(bad.line).not.toHaveProperty('err');
  });

  it('logs quiet routes at debug whatever their status, and not at all at info', async () => {
    const quiet = await start('info');
    await quiet.srv.fetch('/livez').then((r) => r.text());
    await quiet.srv.fetch('/readyz').then((r) => r.text());
    await call(quiet.srv, quiet.out, '/'); // a later line: the probes' would be written by now
    expect(quiet.out.lines.filter((l) => l.url === '/livez' || l.url === '/readyz')).toEqual([]);

    const debug = await start('debug');
    const live = await call(debug.srv, debug.out, '/livez');
    expect(live.line).toMatchObject({ level: 20, route: '/livez', statusCode: 200 });
    const ready = await call(debug.srv, debug.out, '/readyz');
    expect(ready.line).toMatchObject({ level: 20, route: '/readyz', statusCode: 503 });
  });

  it('logs a request whose client went away as aborted, status 499', async () => {
    const { srv, out } = await start();
    const started = new Promise<void>((resolve) => {
      holdStarted = resolve;
    });
    const req = request({ host: '127.0.0.1', port: srv.port, path: '/hold', agent: false });
    const failed = new Promise<void>((resolve) => req.once('error', () => resolve()));
    req.end();
    await started;
    holdStarted = null;
    req.destroy();
    await failed;
    const line = await out.waitFor((l) => l.url === '/hold');
    expect(line).toMatchObject({
      aborted: true,
      statusCode: CLIENT_CLOSED_REQUEST,
      route: '/hold',
      level: 40,
      msg: 'request aborted',
      bytes: 0,
    });
    expect(line).not.toHaveProperty('err');
    expect(out.lines.filter((l) => l.url === '/hold')).toHaveLength(1);
  });

  it('skips the work when the level is off', () => {
    const writes: string[] = [];
    const log = createLogger({
      level: 'error',
      format: 'json',
      service: 's',
      version: 'v',
      env: {},
      destination: { write: (s: string) => writes.push(s) },
    });
    const access = new AccessLog(log, new Set());
    const fake = (status: number) =>
      ({
        route: null,
        isAborted: false,
        status,
        requestId: 'id',
        ...traced(TraceContext.fromHeaders({})),
        method: 'GET',
        path: '/',
        startTime: performance.now(),
        bytesWritten: 0,
        error: undefined,
      }) as unknown as RequestHandler<unknown>;
    access.requestFinished(fake(200));
    access.requestFinished(fake(404));
    expect(writes).toEqual([]);
    access.requestFinished(fake(500));
    expect(writes).toHaveLength(1);
    expect(JSON.parse(writes[0] as string)).toMatchObject({ level: 50, statusCode: 500 });
  });

  it('never lets a request header reach the access line', async () => {
    const { srv, out, log } = await start('trace');
    expect((log as Logger).level).toBe('trace');
    await call(srv, out, '/', {
      headers: {
        Authorization: 'Bearer SECRET-A-111',
        Cookie: 'sid=SECRET-C-222',
        'Proxy-Authorization': 'Basic SECRET-P-555',
      },
    });
    await call(srv, out, '/boom', { headers: { Authorization: 'Bearer SECRET-A-111' } });
    expectNoSecrets(out.raw.join(''));
  });
});

describe('the access line written without pino’s serialiser', () => {
  const fake = (fields: Partial<Record<string, unknown>>) =>
    ({
      route: { pattern: '/items/{id}' },
      isAborted: false,
      status: 200,
      requestId: 'abc-1',
      ...traced(
        TraceContext.fromHeaders({
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        }),
      ),
      method: 'GET',
      path: '/items/42',
      startTime: performance.now(),
      bytesWritten: 13,
      error: undefined,
      ...fields,
    }) as unknown as RequestHandler<unknown>;

  /** The line pino renders for the same fields on the same logger, time aside. */
  function compare(fields: Partial<Record<string, unknown>>, base?: Record<string, unknown>) {
    const { log, out } = logger(base ? { base } : {});
    new AccessLog(log, new Set()).requestFinished(fake(fields));
    const direct = out.raw[0] as string;
    const parsed = JSON.parse(direct) as Line;
    const { level, time, pid, service, version, msg, ...rest } = parsed;
    for (const key of Object.keys(base ?? {})) delete rest[key];
    log[level === 30 ? 'info' : level === 40 ? 'warn' : 'error'](rest, msg as string);
    const untimed = (line: string) => line.replace(/"time":"[^"]*"/, '"time":""');
    expect(untimed(direct)).toBe(untimed(out.raw[1] as string));
    return parsed;
  }

  it('is byte for byte the line pino writes, base fields included', () => {
    const line = compare({}, { worker: 3, role: 'worker' });
    expect(line).toMatchObject({ worker: 3, role: 'worker', route: '/items/{id}', bytes: 13 });
  });

  it('matches pino for an unmatched route, a 404, an aborted request and odd paths', () => {
    compare({ route: null, status: 404, path: '/nope' });
    expect(compare({ isAborted: true })).toMatchObject({ aborted: true, statusCode: 499 });
    compare({ path: '/a"b\\c/é/%00/\u0001/😀' });
  });

  it('escapes a lone surrogate (pino writes it raw, which UTF-8 cannot carry)', () => {
    const { log, out } = logger();
    new AccessLog(log, new Set()).requestFinished(fake({ path: '/\ud800lone' }));
    expect(out.raw[0]).toContain('"url":"/\\ud800lone"');
    expect(JSON.parse(out.raw[0] as string).url).toBe('/\ud800lone');
  });

  it('escapes any string exactly as JSON.stringify does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        expect(jsonString(value)).toBe(JSON.stringify(value));
      }),
      { numRuns: 5_000 },
    );
  });
});
