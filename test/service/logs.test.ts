/**
 * Black-box tests of the contract's "Request ids and logs" section against the built
 * `dist/main.js` (run `npm run build` first).
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  type LogLine,
  type ServiceProcess,
  startService,
  stopGracefully,
} from '../support/process.js';
import { send } from '../support/socket.js';

const PKG = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  name: string;
  version: string;
};

const VALID_ID = /^[A-Za-z0-9._-]{1,128}$/;
const PROBES = ['/livez', '/readyz', '/startupz', '/healthz', '/metrics'];

/** Environment without the downward-API variables, whatever the test runner has. */
const NO_POD = { POD_NAME: undefined, POD_NAMESPACE: undefined, NODE_NAME: undefined };

/** The access log lines (one per finished request). */
function accessLines(service: ServiceProcess): LogLine[] {
  return service.logLines.filter((line) => typeof line.reqId === 'string' && 'statusCode' in line);
}

function lineFor(service: ServiceProcess, reqId: string): Record<string, unknown>[] {
  return accessLines(service).filter((line) => line.reqId === reqId);
}

/** GET `path` with a given request id; waits for its access line and returns both. */
async function tracked(
  service: ServiceProcess,
  path: string,
  reqId: string,
  init: RequestInit = {},
): Promise<{ res: Response; body: string; line: Record<string, unknown> }> {
  const res = await service.fetch(path, {
    ...init,
    headers: { ...(init.headers as Record<string, string>), 'X-Request-Id': reqId },
  });
  const body = await res.text();
  expect(res.headers.get('x-request-id')).toBe(reqId);
  const line = await service.waitForLine((l) => l.reqId === reqId && 'statusCode' in l);
  return { res, body, line };
}

describe('log lines', () => {
  it('are all JSON with service, version and pid, and pod, namespace and node when set', async () => {
    const service = await startService({
      LOG_LEVEL: 'trace',
      POD_NAME: 'chat-7d9f-abcde',
      POD_NAMESPACE: 'prod',
      NODE_NAME: 'node-3',
    });
    const traffic = [
      service.fetch('/'),
      service.fetch('/nope'),
      service.fetch('/', { method: 'DELETE' }),
      service.fetch('/chat/messages', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"text":"hello"}',
      }),
      service.fetch('/chat/messages', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{"text":',
      }),
      ...PROBES.map((path) => service.fetch(path)),
    ];
    for (const res of await Promise.all(traffic)) await res.arrayBuffer();
    await stopGracefully(service);

    expect(service.stdoutLines.length).toBeGreaterThan(traffic.length);
    for (const raw of service.stdoutLines) {
      const parsed: unknown = JSON.parse(raw);
      expect(parsed).toBeTypeOf('object');
      expect(Array.isArray(parsed)).toBe(false);
    }
    expect(service.logLines).toHaveLength(service.stdoutLines.length);
    for (const line of service.logLines) {
      expect(line).toMatchObject({
        service: PKG.name,
        version: PKG.version,
        pid: service.child.pid,
        pod: 'chat-7d9f-abcde',
        namespace: 'prod',
        node: 'node-3',
      });
      expect(line.level).toBeTypeOf('number');
      expect(line.msg).toBeTypeOf('string');
      expect(Number.isNaN(Date.parse(String(line.time)))).toBe(false);
    }
    // Every request got its line.
    expect(accessLines(service)).toHaveLength(traffic.length);
  });

  it('have no pod, namespace or node outside Kubernetes', async () => {
    const service = await startService(NO_POD);
    await (await service.fetch('/')).text();
    await service.waitForLine((l) => l.url === '/');
    for (const line of service.logLines) {
      expect(line).not.toHaveProperty('pod');
      expect(line).not.toHaveProperty('namespace');
      expect(line).not.toHaveProperty('node');
      expect(line).toMatchObject({
        service: PKG.name,
        version: PKG.version,
        pid: service.child.pid,
      });
    }
  });
});

describe('the access line', () => {
  it('is one line per request with reqId, method, url, route, statusCode, responseTime, bytes', async () => {
    const service = await startService();
    const { line, body } = await tracked(service, '/?name=x&secret=query', 'req-home-1');
    expect(line).toMatchObject({
      level: 30,
      reqId: 'req-home-1',
      method: 'GET',
      url: '/',
      route: '/',
      statusCode: 200,
      bytes: Buffer.byteLength(body),
    });
    expect(line.responseTime).toBeTypeOf('number');
    expect(line.responseTime as number).toBeGreaterThanOrEqual(0);
    expect(line.responseTime as number).toBeLessThan(5_000);
    expect(JSON.stringify(line)).not.toContain('secret=query');

    // Exactly one line for it, even after more traffic.
    await tracked(service, '/', 'req-home-2');
    expect(lineFor(service, 'req-home-1')).toHaveLength(1);
    expect(lineFor(service, 'req-home-2')).toHaveLength(1);
  });

  it('carries the route template, and null for an unknown path', async () => {
    const service = await startService();
    const post = await tracked(service, '/chat/messages?x=1', 'req-post', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{"text":"hi"}',
    });
    expect(post.line).toMatchObject({
      method: 'POST',
      url: '/chat/messages',
      route: '/chat/messages',
      statusCode: 201,
      level: 30,
    });
    const missing = await tracked(service, '/no/such/path?q=1', 'req-404');
    expect(missing.line).toMatchObject({
      url: '/no/such/path',
      route: null,
      statusCode: 404,
      level: 40,
    });
  });

  it('is info below 400 and warn for 4xx', async () => {
    const service = await startService();
    const cases: [string, RequestInit, number, number][] = [
      ['/', {}, 200, 30],
      ['/', { method: 'HEAD' }, 200, 30],
      ['/', { method: 'OPTIONS' }, 204, 30],
      ['/chat/messages?after=abc', {}, 400, 40],
      ['/chat/messages?timeout=soon&after=1', {}, 400, 40],
      ['/', { method: 'DELETE' }, 405, 40],
      ['/nope', {}, 404, 40],
      [
        '/chat/messages',
        { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hi' },
        415,
        40,
      ],
      [
        '/chat/messages',
        { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"text":""}' },
        422,
        40,
      ],
    ];
    let i = 0;
    for (const [path, init, status, level] of cases) {
      const id = `levels-${i++}`;
      const { res, line } = await tracked(service, path, id, init);
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(status);
      expect(line.statusCode).toBe(status);
      expect(line.level, `${init.method ?? 'GET'} ${path}`).toBe(level);
    }
    const head = lineFor(service, 'levels-1')[0];
    expect(head).toMatchObject({ method: 'HEAD', bytes: 0 });
  });

  it('leaves out probe and /metrics requests at LOG_LEVEL=info', async () => {
    const service = await startService({ LOG_LEVEL: 'info' });
    for (const path of [...PROBES, '/livez?verbose', '/readyz?x=1']) {
      const res = await service.fetch(path);
      await res.arrayBuffer();
      expect(res.status).toBe(200);
    }
    await (await service.fetch('/')).text();
    await stopGracefully(service);
    const urls = accessLines(service).map((line) => line.url);
    expect(urls).toEqual(['/']);
    for (const line of service.logLines) {
      expect(PROBES).not.toContain(line.url);
      expect(line.level as number).toBeGreaterThanOrEqual(30);
    }
  });

  it('logs probe and /metrics requests at debug (20) with LOG_LEVEL=debug', async () => {
    const service = await startService({ LOG_LEVEL: 'debug' });
    for (const path of PROBES) await (await service.fetch(path)).arrayBuffer();
    await (await service.fetch('/livez', { method: 'HEAD' })).arrayBuffer();
    await (await service.fetch('/')).text();
    const lines = await service.waitForLines(
      (l) => 'statusCode' in l && typeof l.url === 'string',
      PROBES.length + 2,
    );
    for (const line of lines) {
      if (PROBES.includes(line.url as string)) {
        expect(line.level, String(line.url)).toBe(20);
        expect(line.route).toBe(line.url);
      } else {
        expect(line.level).toBe(30);
      }
    }
    expect(lines.filter((l) => l.level === 20)).toHaveLength(PROBES.length + 1);
  });

  it('logs a long poll whose client went away as aborted', async () => {
    const service = await startService();
    const latest = (await (await service.fetch('/chat/messages')).json()) as {
      messages: { id: number }[];
    };
    const after = latest.messages.at(-1)?.id ?? 0;
    const poll = request({
      host: '127.0.0.1',
      port: service.port,
      path: `/chat/messages?after=${after}&timeout=20`,
      headers: { 'X-Request-Id': 'poll-that-leaves' },
      agent: false,
    });
    const failed = new Promise<Error>((resolve) => poll.once('error', resolve));
    let answered = false;
    poll.once('response', () => {
      answered = true;
    });
    await new Promise<void>((resolve) => poll.end(resolve));
    // The poll is held once the service counts it in flight.
    const deadline = performance.now() + 5_000;
    for (;;) {
      const metrics = await (await service.fetch('/metrics')).text();
      if (/^http_requests_in_flight 1$/m.test(metrics)) break;
      if (performance.now() > deadline) throw new Error(`poll never in flight\n${metrics}`);
    }
    expect(lineFor(service, 'poll-that-leaves')).toEqual([]);
    poll.destroy();
    await failed;
    expect(answered).toBe(false);
    const line = await service.waitForLine((l) => l.reqId === 'poll-that-leaves');
    expect(line).toMatchObject({
      aborted: true,
      method: 'GET',
      url: '/chat/messages',
      route: '/chat/messages',
      statusCode: 499,
      bytes: 0,
    });
    expect(line.level as number).toBeGreaterThanOrEqual(40);
    expect(String(line.msg)).toMatch(/abort/);
    expect(line.responseTime).toBeTypeOf('number');
  });
});

describe('X-Request-Id', () => {
  const valid = [
    'a',
    'Z',
    '0',
    'abc.DEF_123-xyz',
    '...',
    '_-_',
    '7f9c3b2e-1d4a-4c8e-9b6f-0a1b2c3d4e5f',
    'x'.repeat(128),
    'A1._-'.repeat(25).slice(0, 128),
  ];

  it.each(valid)('echoes the valid id %j and logs it', async (id) => {
    const service = await startService();
    const answer = await send(service.port, '/', { headers: { 'X-Request-Id': id } });
    expect(answer.headers['x-request-id']).toBe(id);
    const line = await service.waitForLine((l) => l.url === '/' && 'statusCode' in l);
    expect(line.reqId).toBe(id);
  });

  const invalid: [string, string][] = [
    ['129 characters', 'x'.repeat(129)],
    ['a space', 'has space'],
    ['a tab', 'a\tb'],
    ['a slash', 'a/b'],
    ['a colon', 'a:b'],
    ['quotes', '"quoted"'],
    ['latin-1', 'caf\u00e9'],
    ['UTF-8 bytes', Buffer.from('日本語-id', 'utf8').toString('latin1')],
    ['a JSON injection', '","level":60,"x":"'],
    ['an empty value', ''],
  ];

  it.each(invalid)('replaces an id with %s by a new valid one', async (_what, id) => {
    const service = await startService();
    const answer = await send(service.port, '/', { headers: { 'X-Request-Id': id } });
    const echoed = answer.headers['x-request-id'];
    expect(echoed).toBeTypeOf('string');
    expect(echoed).not.toBe(id);
    expect(echoed).toMatch(VALID_ID);
    const line = await service.waitForLine((l) => l.url === '/' && 'statusCode' in l);
    expect(line.reqId).toBe(echoed);
    expect(line.level).toBe(30);
  });

  it('replaces a repeated header (the values are joined, with a space)', async () => {
    const service = await startService();
    const answer = await new Promise<string | undefined>((resolve, reject) => {
      const req = request({
        host: '127.0.0.1',
        port: service.port,
        path: '/',
        agent: false,
      });
      req.setHeader('X-Request-Id', ['first', 'second']); // two header lines
      req.once('error', reject);
      req.once('response', (res) => {
        res.resume();
        resolve(res.headers['x-request-id'] as string | undefined);
      });
      req.end();
    });
    expect(answer).toMatch(VALID_ID);
    expect(answer).not.toBe('first');
    expect(answer).not.toBe('second');
  });

  it('is generated when absent, on every kind of response, and matches the access line', async () => {
    const service = await startService({ LOG_LEVEL: 'debug' });
    const requests: [string, RequestInit][] = [
      ['/', {}],
      ['/', { method: 'HEAD' }],
      ['/nope', {}],
      ['/', { method: 'PUT' }],
      ['/chat/messages?after=x', {}],
      ['/livez', {}],
      ['/readyz?verbose', {}],
      ['/metrics', {}],
    ];
    const ids: string[] = [];
    for (const [path, init] of requests) {
      const res = await service.fetch(path, init);
      await res.arrayBuffer();
      const id = res.headers.get('x-request-id');
      expect(id, `${init.method ?? 'GET'} ${path}`).toMatch(VALID_ID);
      ids.push(id as string);
    }
    expect(new Set(ids).size).toBe(ids.length);
    const lines = await service.waitForLines((l) => 'statusCode' in l, requests.length);
    expect(lines.map((l) => l.reqId)).toEqual(ids);
  });

  it('generated ids are unique within a process and across two processes', async () => {
    const [one, two] = await Promise.all([startService(), startService()]);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      const collect = async (service: ServiceProcess): Promise<string[]> => {
        const answers = await Promise.all(
          Array.from({ length: 200 }, () => send(service.port, '/', { agent })),
        );
        return answers.map((a) => a.headers['x-request-id'] as string);
      };
      const [idsOne, idsTwo] = await Promise.all([collect(one), collect(two)]);
      for (const id of [...idsOne, ...idsTwo]) expect(id).toMatch(VALID_ID);
      expect(new Set(idsOne).size).toBe(200);
      expect(new Set(idsTwo).size).toBe(200);
      expect(new Set([...idsOne, ...idsTwo]).size).toBe(400);
      // And the access lines carry the same ids.
      const loggedOne = await one.waitForLines((l) => 'statusCode' in l, 200);
      expect(new Set(loggedOne.map((l) => l.reqId))).toEqual(new Set(idsOne));
      const loggedTwo = await two.waitForLines((l) => 'statusCode' in l, 200);
      expect(new Set(loggedTwo.map((l) => l.reqId))).toEqual(new Set(idsTwo));
    } finally {
      agent.destroy();
    }
  });
});

describe('secrets', () => {
  it('authorization, cookie and proxy-authorization never reach a log line', async () => {
    const service = await startService({ LOG_LEVEL: 'trace' });
    const secrets = {
      authorization: 'Bearer SECRET-AUTH-4f1c2a',
      cookie: 'session=SECRET-COOKIE-9b8e7d; theme=dark',
      'proxy-authorization': 'Basic SECRET-PROXY-77aa11',
    };
    const secretValues = ['SECRET-AUTH-4f1c2a', 'SECRET-COOKIE-9b8e7d', 'SECRET-PROXY-77aa11'];
    const json = { ...secrets, 'Content-Type': 'application/json' };
    const requests: [string, RequestInit][] = [
      ['/', { headers: secrets }],
      ['/nope', { headers: secrets }],
      ['/', { method: 'DELETE', headers: secrets }],
      ['/chat/messages', { method: 'POST', headers: json, body: '{"text":"x"}' }],
      ['/chat/messages', { method: 'POST', headers: json, body: '{"text":' }],
      ['/chat/messages', { method: 'POST', headers: json, body: '{"text":""}' }],
      ['/chat/messages?after=oops', { headers: secrets }],
      ['/livez', { headers: secrets }],
      ['/metrics', { headers: secrets }],
    ];
    for (const [path, init] of requests) await (await service.fetch(path, init)).arrayBuffer();
    // Capitalised names, as many clients send them.
    await send(service.port, '/', {
      headers: {
        Authorization: 'Bearer SECRET-AUTH-4f1c2a',
        Cookie: 'a=SECRET-COOKIE-9b8e7d',
        'Proxy-Authorization': 'Basic SECRET-PROXY-77aa11',
      },
    });
    await stopGracefully(service);
    expect(accessLines(service)).toHaveLength(requests.length + 1);
    const everything = `${service.stdoutLines.join('\n')}\n${service.stderr}`;
    for (const secret of secretValues) expect(everything).not.toContain(secret);
  });
});
