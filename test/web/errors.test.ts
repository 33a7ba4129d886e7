import { describe, expect, it } from 'vitest';
import { Finish, HttpError, RequestHandler, type RouteEntry } from '../../src/web/index.js';
import { buildRequest, rawRequest } from '../support/http.js';
import type { LogEntry } from '../support/loggers.js';
import { serveRoutes } from '../support/servers.js';

const calls: string[] = [];

class Ok extends RequestHandler {
  override get(): void {
    this.write('ok');
  }
}

class SyncThrow extends RequestHandler {
  override get(): void {
    this.setHeader('X-Before-Error', 'set');
    this.write('partial output');
    throw new Error('secret sync detail');
  }
}

class AsyncReject extends RequestHandler {
  override async get(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    throw new Error('secret async detail');
  }
}

class ThrowsString extends RequestHandler {
  override get(): void {
    throw 'not an Error';
  }
}

class Unavailable extends RequestHandler {
  override async get(): Promise<void> {
    this.setHeader('X-Before-Error', 'set');
    await Promise.resolve();
    throw new HttpError(503, 'try again later', {
      headers: { 'Retry-After': '30' },
      cause: new Error('database down (internal)'),
    });
  }
}

class Teapot extends RequestHandler {
  override get(): void {
    throw new HttpError(422, 'text too long', {
      type: 'https://example.com/problems/too-long',
      title: 'Text Too Long',
      extensions: { limit: 10, status: 999 },
    });
  }
}

class PrepareHttpError extends RequestHandler {
  override prepare(): void {
    throw new HttpError(403, 'not for you');
  }
  override get(): void {
    calls.push('verb');
  }
}

class PrepareThrows extends RequestHandler {
  override prepare(): void {
    throw new Error('prepare broke');
  }
  override get(): void {
    calls.push('verb');
  }
}

class PrepareRejects extends RequestHandler {
  override async prepare(): Promise<void> {
    await Promise.resolve();
    throw new Error('async prepare broke');
  }
  override get(): void {
    calls.push('verb');
  }
}

class PrepareFinishes extends RequestHandler {
  override async prepare(): Promise<void> {
    await Promise.resolve();
    this.setStatus(401);
    this.finish('stopped in prepare');
  }
  override get(): void {
    calls.push('verb');
    this.write('verb ran');
  }
}

class FinishTwice extends RequestHandler {
  override get(): void {
    this.setHeader('X-First', '1');
    this.finish('first response');
    this.finish('second response');
  }
}

class FinishTwiceAsync extends RequestHandler {
  override async get(): Promise<void> {
    this.finish('first async response');
    await Promise.resolve();
    this.finish('second');
  }
}

class ThrowAfterFlush extends RequestHandler {
  override async get(): Promise<void> {
    this.write('partial-');
    await this.flush();
    this.write('never sent');
    throw new Error('after flush');
  }
}

class CustomErrorPage extends RequestHandler {
  override get(): void {
    throw new HttpError(418, 'short and stout');
  }
  override post(): void {
    throw new Error('internal');
  }
  override writeError(status: number, error: unknown): void {
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    const detail = error instanceof HttpError ? error.detail : 'hidden';
    this.finish(`custom error ${status}: ${detail}`);
  }
}

class WriteErrorNoFinish extends RequestHandler {
  override get(): void {
    throw new HttpError(409, 'conflict');
  }
  override writeError(status: number): void {
    this.setHeader('Content-Type', 'text/plain; charset=utf-8');
    this.write(`error ${status} written, not finished`);
  }
}

class WriteErrorThrows extends RequestHandler {
  override get(): void {
    throw new HttpError(409, 'conflict');
  }
  override writeError(): void {
    this.write('half an error page');
    throw new Error('writeError broke');
  }
}

class ThrowsFinish extends RequestHandler {
  override get(): void {
    this.setStatus(202);
    this.setHeader('X-Kept', 'yes');
    this.write('written before Finish');
    throw new Finish();
  }
  override async post(): Promise<void> {
    await Promise.resolve();
    this.write({ partial: true });
    throw new Finish();
  }
}

class OnFinishThrows extends RequestHandler {
  override get(): void {
    this.write('delivered');
  }
  override onFinish(): void {
    throw new Error('onFinish broke');
  }
}

function routes(): RouteEntry[] {
  return [
    ['/ok', Ok],
    ['/sync', SyncThrow],
    ['/async', AsyncReject],
    ['/string', ThrowsString],
    ['/unavailable', Unavailable],
    ['/teapot', Teapot],
    ['/prepare-http', PrepareHttpError],
    ['/prepare-throws', PrepareThrows],
    ['/prepare-rejects', PrepareRejects],
    ['/prepare-finishes', PrepareFinishes],
    ['/finish-twice', FinishTwice],
    ['/finish-twice-async', FinishTwiceAsync],
    ['/after-flush', ThrowAfterFlush],
    ['/custom', CustomErrorPage],
    ['/write-error-no-finish', WriteErrorNoFinish],
    ['/write-error-throws', WriteErrorThrows],
    ['/finish-exc', ThrowsFinish],
    ['/on-finish', OnFinishThrows],
  ];
}

const errorsOf = (logs: LogEntry[]) => logs.filter((e) => e.level === 'error');

function errOf(entry: LogEntry | undefined): Error {
  const err = entry?.obj.err;
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

describe('unexpected errors in a verb', () => {
  it('a sync throw is a 500 problem without internals, logged, and the server keeps serving', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/sync');
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.headers.get('x-before-error')).toBeNull();
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
    });
    expect(text).not.toContain('secret');
    expect(text).not.toContain('partial output');
    const errors = errorsOf(logs);
    expect(errors).toHaveLength(1);
    expect(errOf(errors[0]).message).toBe('secret sync detail');
    expect(errors[0]?.obj).toMatchObject({ method: 'GET', url: '/sync' });
    const next = await srv.fetch('/ok');
    expect(next.status).toBe(200);
    expect(await next.text()).toBe('ok');
  });

  it('an async rejection is a 500 problem without internals, logged, and the server keeps serving', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/async?x=1');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
    });
    expect(text).not.toContain('secret');
    expect(text).not.toContain('stack');
    const errors = errorsOf(logs);
    expect(errors).toHaveLength(1);
    expect(errOf(errors[0]).message).toBe('secret async detail');
    expect(errors[0]?.obj).toMatchObject({ method: 'GET', url: '/async' });
    expect((await srv.fetch('/ok')).status).toBe(200);
  });

  it('a thrown non-Error value is a 500 too', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/string');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
    });
    expect(errorsOf(logs).map((e) => e.obj.err)).toEqual(['not an Error']);
  });

  it('is logged with the request id when the logger has child()', async () => {
    const { srv, logs } = await serveRoutes(routes(), { requestId: () => 'req-abc' });
    const res = await srv.fetch('/sync');
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe('req-abc');
    await res.body?.cancel();
    expect(errorsOf(logs)[0]?.obj).toMatchObject({ reqId: 'req-abc', url: '/sync' });
  });

  it('with debug: true, the body carries the message as detail', async () => {
    const { srv } = await serveRoutes(routes(), { debug: true });
    const res = await srv.fetch('/sync');
    expect(res.status).toBe(500);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'secret sync detail',
    });
    expect(String(body.stack)).toContain('secret sync detail');
  });
});

describe('HttpError', () => {
  it('answers with its status, detail and headers; the rest is cleared and nothing is logged', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/unavailable');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('30');
    expect(res.headers.get('x-before-error')).toBeNull();
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({
      type: 'about:blank',
      title: 'Service Unavailable',
      status: 503,
      detail: 'try again later',
    });
    expect(text).not.toContain('database');
    expect(errorsOf(logs)).toEqual([]);
  });

  it('carries type, title and extensions, which cannot override status', async () => {
    const { srv } = await serveRoutes(routes());
    const res = await srv.fetch('/teapot');
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      type: 'https://example.com/problems/too-long',
      title: 'Text Too Long',
      status: 422,
      detail: 'text too long',
      limit: 10,
    });
  });
});

describe('errors in prepare', () => {
  it('an HttpError thrown in prepare is answered and the verb is not called', async () => {
    const { srv } = await serveRoutes(routes());
    calls.length = 0;
    const res = await srv.fetch('/prepare-http');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ status: 403, detail: 'not for you' });
    expect(calls).toEqual([]);
  });

  it('a throw or rejection in prepare is a logged 500', async () => {
    const { srv, logs } = await serveRoutes(routes());
    calls.length = 0;
    for (const path of ['/prepare-throws', '/prepare-rejects']) {
      const res = await srv.fetch(path);
      expect(res.status, path).toBe(500);
      expect(await res.json(), path).toEqual({
        type: 'about:blank',
        title: 'Internal Server Error',
        status: 500,
      });
    }
    expect(calls).toEqual([]);
    expect(errorsOf(logs).map((e) => errOf(e).message)).toEqual([
      'prepare broke',
      'async prepare broke',
    ]);
  });

  it('prepare that finishes the request: its response goes out and the verb is not called', async () => {
    const { srv, logs } = await serveRoutes(routes());
    calls.length = 0;
    const res = await srv.fetch('/prepare-finishes');
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('stopped in prepare');
    expect(calls).toEqual([]);
    expect(errorsOf(logs)).toEqual([]);
  });
});

describe('misuse of finish and flush', () => {
  it('finish() twice: the first response is delivered intact, the error logged, serving goes on', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const { response, closedByServer } = await rawRequest(
      srv.port,
      buildRequest('GET', '/finish-twice', { Connection: 'close' }),
    );
    expect(closedByServer).toBe(true);
    expect(response.status).toBe(200);
    expect(response.header('x-first')).toBe('1');
    expect(response.complete).toBe(true);
    expect(response.text()).toBe('first response');
    expect(response.rest.length).toBe(0);
    const async = await srv.fetch('/finish-twice-async');
    expect(async.status).toBe(200);
    expect(await async.text()).toBe('first async response');
    const errors = errorsOf(logs);
    expect(errors.map((e) => errOf(e).message)).toEqual([
      'finish() called twice',
      'finish() called twice',
    ]);
    expect((await srv.fetch('/ok')).status).toBe(200);
  });

  it('a throw after flush() closes the connection mid-body, and is logged', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const { response, closedByServer, timedOut } = await rawRequest(
      srv.port,
      buildRequest('GET', '/after-flush'),
    );
    expect(timedOut).toBe(false);
    expect(closedByServer).toBe(true);
    expect(response.status).toBe(200);
    expect(response.chunked).toBe(true);
    expect(response.complete).toBe(false);
    expect(response.text()).toBe('partial-');
    const errors = errorsOf(logs);
    expect(errors).toHaveLength(1);
    expect(errOf(errors[0]).message).toBe('after flush');
    // fetch sees the truncation as an error, not as a complete body.
    const res = await srv.fetch('/after-flush');
    await expect(res.text()).rejects.toThrow();
    expect((await srv.fetch('/ok')).status).toBe(200);
  });
});

describe('writeError', () => {
  it('an override renders error responses', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/custom');
    expect(res.status).toBe(418);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('custom error 418: short and stout');
    const post = await srv.fetch('/custom', { method: 'POST' });
    expect(post.status).toBe(500);
    expect(await post.text()).toBe('custom error 500: hidden');
    expect(errorsOf(logs).map((e) => errOf(e).message)).toEqual(['internal']);
  });

  it('an override that writes without finishing: what it wrote is sent', async () => {
    const { srv } = await serveRoutes(routes());
    const res = await srv.fetch('/write-error-no-finish');
    expect(res.status).toBe(409);
    expect(await res.text()).toBe('error 409 written, not finished');
  });

  it('an override that throws: the failure is logged and the status still goes out', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/write-error-throws');
    expect(res.status).toBe(409);
    expect(await res.text()).toBe('');
    expect(errorsOf(logs).map((e) => errOf(e).message)).toEqual(['writeError broke']);
    expect((await srv.fetch('/ok')).status).toBe(200);
  });
});

describe('Finish and onFinish', () => {
  it('throwing Finish sends whatever was written, with its status and headers', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/finish-exc');
    expect(res.status).toBe(202);
    expect(res.headers.get('x-kept')).toBe('yes');
    expect(await res.text()).toBe('written before Finish');
    const post = await srv.fetch('/finish-exc', { method: 'POST' });
    expect(post.status).toBe(200);
    expect(post.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await post.json()).toEqual({ partial: true });
    expect(logs).toEqual([]);
  });

  it('an error in onFinish is logged and the response is still delivered', async () => {
    const { srv, logs } = await serveRoutes(routes());
    const res = await srv.fetch('/on-finish');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('delivered');
    expect(errorsOf(logs).map((e) => errOf(e).message)).toEqual(['onFinish broke']);
  });
});
