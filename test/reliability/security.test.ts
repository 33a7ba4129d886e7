/**
 * Security defaults of the built service and the reliability fixture: `X-Content-Type-Options:
 * nosniff` on every kind of response, no `Server` or `X-Powered-By` header and no version anywhere
 * in the headers, header injection through `setHeader` refused, and secrets redacted from error
 * log lines as well as access lines. Run `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawResponse } from '../support/http.js';
import { LEVEL, type ServiceProcess, startService } from '../support/process.js';
import { ask, expectProblem, expectServing, startFixture } from './support.js';

let main: ServiceProcess;
let fixture: ServiceProcess;

beforeAll(async () => {
  [main, fixture] = await Promise.all([
    startService({ LOG_LEVEL: 'debug', MAX_BODY_BYTES: '1024' }, { shared: true }),
    startFixture({ LOG_LEVEL: 'debug' }, true),
  ]);
}, 20_000);

afterAll(async () => {
  await Promise.all([main?.stop(), fixture?.stop()]);
});

const VERSION = /\b(?:v?\d+\.\d+\.\d+|node|tornode)\b/i;

/** Every kind of answer the service gives: success, redirect-free errors, probes, raw refusals. */
function requests(): [string, () => ServiceProcess, string][] {
  const json = (body: string) =>
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return [
    ['200 GET /', () => main, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['200 HEAD /', () => main, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['204 OPTIONS /', () => main, 'OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n'],
    [
      '201 POST /chat/messages',
      () => main,
      `POST /chat/messages HTTP/1.1\r\nHost: x\r\n${json('{"text":"hi"}')}`,
    ],
    [
      '204 long poll',
      () => main,
      'GET /chat/messages?after=999999&timeout=0 HTTP/1.1\r\nHost: x\r\n\r\n',
    ],
    ['400 malformed JSON', () => main, `POST /chat/messages HTTP/1.1\r\nHost: x\r\n${json('{')}`],
    ['404', () => main, 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['405', () => main, 'DELETE / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['413', () => main, 'POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n'],
    ['415', () => main, 'POST /chat/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'],
    ['422', () => main, `POST /chat/messages HTTP/1.1\r\nHost: x\r\n${json('{"text":""}')}`],
    ['/livez', () => main, 'GET /livez HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['/readyz', () => main, 'GET /readyz?verbose HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['/metrics', () => main, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['400 raw (malformed request line)', () => main, 'NOT HTTP\r\n\r\n'],
    ['400 raw (missing Host)', () => main, 'GET / HTTP/1.1\r\n\r\n'],
    ['431 raw', () => main, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`],
    ['500 from a handler', () => fixture, 'GET /fault/sync HTTP/1.1\r\nHost: x\r\n\r\n'],
  ];
}

describe('security headers', () => {
  it.each(requests())(
    '%s: nosniff, no Server, no X-Powered-By, no version in any header',
    async (_name, child, request) => {
      const head = request.replace(/^([^\r]*\r\n)/, '$1Connection: close\r\n');
      const res: RawResponse = await ask(child().port, head);
      expect(res.header('x-content-type-options'), JSON.stringify(res.headerList)).toBe('nosniff');
      expect(res.header('server')).toBeUndefined();
      expect(res.header('x-powered-by')).toBeUndefined();
      for (const [name, value] of res.headerList) {
        if (name === 'date' || name === 'x-request-id' || name === 'content-length') continue;
        // (`version=0.0.4` in the metrics content type is the exposition format's version.)
        expect(`${name}: ${value.replace('version=0.0.4', '')}`).not.toMatch(VERSION);
      }
    },
  );
});

describe('header injection through setHeader', () => {
  it.each([
    ['CRLF in a value', 'X-Echo', 'a\r\nSet-Cookie: injected=1'],
    ['LF in a value', 'X-Echo', 'a\nSet-Cookie: injected=1'],
    ['CR in a value', 'X-Echo', 'a\rSet-Cookie: injected=1'],
    ['NUL in a value', 'X-Echo', 'a\0b'],
    ['CRLF in a name', 'X-Echo\r\nSet-Cookie: injected=1\r\nX-B', 'v'],
    ['another control character in a value', 'X-Echo', 'a\x01b'],
    ['a space in a name', 'X Echo', 'v'],
  ])(
    '%s: refused with a logged 500, and nothing injected reaches the client',
    async (_name, name, value) => {
      const query = `name=${encodeURIComponent(name)}&value=${encodeURIComponent(value)}`;
      const reqId = `inject-${Math.random().toString(36).slice(2)}`;
      const res = await ask(
        fixture.port,
        `GET /fault/header?${query} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${reqId}\r\nConnection: close\r\n\r\n`,
      );
      expectProblem(res, 500);
      expect(res.header('set-cookie')).toBeUndefined();
      expect(res.header('x-echo')).toBeUndefined();
      const raw = res.afterHead.toString('latin1') + JSON.stringify(res.headerList);
      expect(raw).not.toContain('injected');
      await fixture.waitForLine(
        (l) => l.reqId === reqId && l.msg === 'uncaught error in handler',
        3_000,
        'the refusal logged',
      );
    },
  );

  it('a clean value goes through', async () => {
    const res = await ask(
      fixture.port,
      'GET /fault/header?name=X-Echo&value=fine HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(res.status).toBe(200);
    expect(res.header('x-echo')).toBe('fine');
  });
});

describe('redaction', () => {
  const secrets = {
    authorization: 'Bearer s3cr3t-auth-token-0001',
    cookie: 'session=s3cr3t-cookie-0002',
    'proxy-authorization': 'Basic s3cr3t-proxy-0003',
  };

  it('secrets in request headers never reach a log line, error lines included', async () => {
    const reqId = `secret-${Math.random().toString(36).slice(2)}`;
    const headers = Object.entries(secrets)
      .map(([n, v]) => `${n}: ${v}\r\n`)
      .join('');
    // The handler throws an error carrying the request's headers three ways (an object, an
    // axios-like config, the raw list) and an Authorization line in its message.
    const res = await ask(
      fixture.port,
      `GET /fault/secret HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${reqId}\r\n${headers}Connection: close\r\n\r\n`,
    );
    expectProblem(res, 500);
    // Also on an access line at debug level, and on a 4xx.
    const notFound = await ask(
      main.port,
      `GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${reqId}-404\r\n${headers}Connection: close\r\n\r\n`,
    );
    expect(notFound.status).toBe(404);
    await fixture.waitForLines((l) => l.reqId === reqId, 2, 3_000, 'the error and access lines');
    const error = fixture.logLines.find(
      (l) => l.reqId === reqId && l.msg === 'uncaught error in handler',
    );
    expect(error?.level).toBe(LEVEL.error);
    const errText = JSON.stringify(error);
    expect(errText).toContain('[Redacted]');
    expect(errText).toContain('upstream refused us');
    const access = fixture.logLines.find((l) => l.reqId === reqId && l.statusCode === 500);
    expect(access?.level).toBe(LEVEL.error);
    expect(JSON.stringify(access)).toContain('[Redacted]');
    for (const child of [fixture, main]) {
      const everything = child.stdoutLines.join('\n') + child.stderr;
      for (const secret of Object.values(secrets)) {
        const token = secret.split(/[ =]/).pop() as string;
        expect(everything).not.toContain(token);
      }
    }
    await expectServing(fixture.port);
  });
});
