import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MessagesHandler } from '../../src/app/chat-handlers.js';
import { ChatRoom } from '../../src/app/chat-room.js';
import { HttpError, RequestAborted, RequestHandler, url } from '../../src/web/index.js';
import { exchange } from '../support/http.js';
import { serveRoutes } from '../support/servers.js';
import { RawClient } from '../support/socket.js';
import { deferred, within } from '../support/wait.js';

describe('handler lifecycle order', () => {
  interface Options {
    readonly tag: string;
  }

  function recordingHandler(calls: string[], asyncPrepare: boolean) {
    return class extends RequestHandler<Options> {
      private tag = 'unset';

      override initialize(options: Options): void {
        this.tag = options.tag;
        calls.push(`initialize:${JSON.stringify(options)}`);
      }

      override setDefaultHeaders(): void {
        calls.push('setDefaultHeaders');
        this.setHeader('X-Default', 'yes');
      }

      override prepare(): void | Promise<void> {
        calls.push('prepare');
        if (!asyncPrepare) return;
        return (async () => {
          await new Promise<void>((resolve) => setImmediate(resolve));
          calls.push('prepare:resolved');
        })();
      }

      override get(): void {
        calls.push(`get:${this.tag}`);
        this.write(`tag=${this.tag}`);
      }

      override onFinish(): void {
        calls.push('onFinish');
      }
    };
  }

  it('runs setDefaultHeaders, initialize (with the route options), sync prepare, verb, onFinish', async () => {
    const calls: string[] = [];
    const { srv, logger } = await serveRoutes([
      url('/sync', recordingHandler(calls, false), { tag: 'sync-options' }),
    ]);
    const res = await srv.fetch('/sync');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-default')).toBe('yes');
    expect(await res.text()).toBe('tag=sync-options');
    expect(calls).toEqual([
      'setDefaultHeaders',
      'initialize:{"tag":"sync-options"}',
      'prepare',
      'get:sync-options',
      'onFinish',
    ]);
    expect(logger.errors()).toEqual([]);
  });

  it('waits for an async prepare before calling the verb', async () => {
    const calls: string[] = [];
    const { srv } = await serveRoutes([
      url('/async', recordingHandler(calls, true), { tag: 'async-options' }),
    ]);
    const res = await srv.fetch('/async');
    expect(await res.text()).toBe('tag=async-options');
    expect(calls).toEqual([
      'setDefaultHeaders',
      'initialize:{"tag":"async-options"}',
      'prepare',
      'prepare:resolved',
      'get:async-options',
      'onFinish',
    ]);
  });

  it('skips the verb when prepare finishes the request (sync or async)', async () => {
    const calls: string[] = [];
    class SyncFinish extends RequestHandler {
      override prepare(): void {
        calls.push('sync:prepare');
        this.setStatus(202);
        this.finish('from prepare');
      }
      override get(): void {
        calls.push('sync:get');
      }
      override onFinish(): void {
        calls.push('sync:onFinish');
      }
    }
    class AsyncFinish extends RequestHandler {
      override async prepare(): Promise<void> {
        calls.push('async:prepare');
        await Promise.resolve();
        this.finish('from async prepare');
      }
      override get(): void {
        calls.push('async:get');
      }
    }
    class Refuses extends RequestHandler {
      override prepare(): void {
        throw new HttpError(403, 'nope');
      }
      override get(): void {
        calls.push('refuses:get');
      }
    }
    const { srv, logger } = await serveRoutes([
      ['/sync', SyncFinish],
      ['/async', AsyncFinish],
      ['/refuses', Refuses],
    ]);

    const sync = await srv.fetch('/sync');
    expect(sync.status).toBe(202);
    expect(await sync.text()).toBe('from prepare');
    const asyncRes = await srv.fetch('/async');
    expect(asyncRes.status).toBe(200);
    expect(await asyncRes.text()).toBe('from async prepare');
    const refused = await srv.fetch('/refuses');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    await refused.text();

    expect(calls).toEqual(['sync:prepare', 'sync:onFinish', 'async:prepare']);
    expect(logger.errors()).toEqual([]);
  });

  it('keeps what initialize stored in fields declared on the subclass', async () => {
    interface Db {
      readonly name: string;
    }
    interface DbOptions {
      readonly db: Db;
      readonly x: number;
    }
    class FieldsHandler extends RequestHandler<DbOptions> {
      private db!: Db;
      private x = 1;
      private seen: string[] = ['initialiser'];
      private readonly untouched = 'default';

      override initialize(options: DbOptions): void {
        this.db = options.db;
        this.x = options.x;
        this.seen.push('initialize');
      }

      override get(): void {
        this.write({ db: this.db.name, x: this.x, seen: this.seen, untouched: this.untouched });
      }
    }
    const db: Db = { name: 'primary' };
    const { srv } = await serveRoutes([url('/fields', FieldsHandler, { db, x: 42 })]);
    const res = await srv.fetch('/fields');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      db: 'primary',
      x: 42,
      seen: ['initialiser', 'initialize'],
      untouched: 'default',
    });
  });

  it('creates a new handler instance for each request', async () => {
    const instances: RequestHandler<unknown>[] = [];
    class CountingHandler extends RequestHandler {
      private count = 0;
      override get(): void {
        instances.push(this as RequestHandler<unknown>);
        this.count += 1;
        this.write(String(this.count));
      }
    }
    const { srv } = await serveRoutes([['/count', CountingHandler]]);
    // Sequential requests on one keep-alive connection, then concurrent ones.
    const client = await RawClient.connect(srv.port);
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) {
      client.get('/count');
      bodies.push((await client.readResponse()).body.toString());
    }
    client.destroy();
    const concurrent = await Promise.all(
      Array.from({ length: 3 }, async () => (await srv.fetch('/count')).text()),
    );
    expect([...bodies, ...concurrent]).toEqual(['1', '1', '1', '1', '1', '1']);
    expect(instances).toHaveLength(6);
    expect(new Set(instances).size).toBe(6);
  });
});

describe('client disconnect', () => {
  it('aborts the signal with kind disconnect, runs onConnectionClose and not onFinish', async () => {
    const waiting = deferred();
    const aborted = deferred<unknown>();
    const closed = deferred();
    const calls: string[] = [];
    class LongPoll extends RequestHandler {
      override async get(): Promise<void> {
        const signal = this.signal;
        const reason = await new Promise<unknown>((resolve) => {
          signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
          waiting.resolve();
        });
        calls.push('get:woke');
        aborted.resolve(reason);
      }
      override onConnectionClose(): void {
        calls.push('onConnectionClose');
        closed.resolve();
      }
      override onFinish(): void {
        calls.push('onFinish');
      }
    }
    class Ping extends RequestHandler {
      override get(): void {
        this.write('pong');
      }
    }
    const { srv, logger } = await serveRoutes([
      ['/poll', LongPoll],
      ['/ping', Ping],
    ]);
    const client = await RawClient.connect(srv.port);
    client.get('/poll');
    await within(waiting.promise, 5_000, 'the handler to wait');
    client.destroy();

    const reason = await within(aborted.promise, 5_000, 'the signal to abort');
    await within(closed.promise, 5_000, 'onConnectionClose');
    expect(reason).toBeInstanceOf(RequestAborted);
    expect((reason as RequestAborted).kind).toBe('disconnect');

    // The server keeps serving; by the time it has answered another request, the aborted
    // handler's verb has long returned, so onFinish would have run if it were going to.
    const res = await srv.fetch('/ping');
    expect(await res.text()).toBe('pong');
    expect(calls).toEqual(['onConnectionClose', 'get:woke']);
    expect(logger.errors()).toEqual([]);
  });

  it('releases a chat long poll when its client leaves', async () => {
    const room = new ChatRoom();
    const { app, srv, logger } = await serveRoutes([
      url('/chat/messages', MessagesHandler, { room }),
    ]);
    const started = deferred();
    const finished = deferred<boolean>();
    app.addObserver({
      requestStarted: () => started.resolve(),
      requestFinished: (h) => finished.resolve(h.isAborted),
    });
    const client = await RawClient.connect(srv.port);
    client.get('/chat/messages?after=0&timeout=20');
    // The observer runs just before the handler, which registers its waiter synchronously.
    await within(started.promise, 5_000, 'the poll to start');
    expect(room.waiting).toBe(1);
    client.destroy();
    expect(await within(finished.promise, 5_000, 'the poll to end')).toBe(true);
    expect(room.waiting).toBe(0);

    const posted = await srv.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'still here' }),
    });
    expect(posted.status).toBe(201);
    await posted.text();
    expect(logger.errors()).toEqual([]);
  });
});

describe('back-pressure', () => {
  const CHUNK = 1024 * 1024;
  const TOTAL = 48;

  function chunkFor(i: number): Buffer {
    return Buffer.alloc(CHUNK, i % 251);
  }

  it('stalls flush() while the client does not read, and resumes when it does', async () => {
    let flushed = 0;
    const firstFlush = deferred();
    const done = deferred();
    class Streamer extends RequestHandler {
      override async get(): Promise<void> {
        this.setHeader('Content-Type', 'application/octet-stream');
        for (let i = 0; i < TOTAL; i++) {
          this.write(chunkFor(i));
          await this.flush();
          flushed++;
          firstFlush.resolve();
        }
        done.resolve();
      }
    }
    const { srv, logger } = await serveRoutes([['/stream', Streamer]]);
    const client = await RawClient.connect(srv.port);
    client.socket.pause();
    client.get('/stream');
    await within(firstFlush.promise, 5_000, 'the first flush');

    // Proving that something stops needs a wait with nothing happening: let the server fill the
    // socket buffers, then check that the count no longer moves.
    let previous = -1;
    for (let i = 0; i < 50 && flushed !== previous; i++) {
      previous = flushed;
      await delay(100);
    }
    const stalledAt = flushed;
    expect(stalledAt).toBe(previous);
    expect(stalledAt).toBeLessThan(TOTAL / 2);
    await delay(200);
    expect(flushed).toBe(stalledAt);

    client.socket.resume();
    await within(done.promise, 10_000, 'the stream to finish once the client reads');
    expect(flushed).toBe(TOTAL);
    await client.until(() => client.tail(5) === '0\r\n\r\n', 10_000, 'the end of the body');
    const res = await client.readResponse();
    expect(res.status).toBe(200);
    expect(res.chunked).toBe(true);
    expect(res.headers['content-length']).toBeUndefined();
    expect(res.body.length).toBe(TOTAL * CHUNK);
    for (let i = 0; i < TOTAL; i++) {
      const part = res.body.subarray(i * CHUNK, (i + 1) * CHUNK);
      expect(part.equals(chunkFor(i)), `chunk ${i} intact`).toBe(true);
    }
    expect(logger.errors()).toEqual([]);
    client.destroy();
  });

  it('rejects the pending flush and stops the handler when the client leaves mid-stream', async () => {
    let flushed = 0;
    const started = deferred();
    const rejected = deferred<unknown>();
    const finished = deferred<string>();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    class Streamer extends RequestHandler {
      override async get(): Promise<void> {
        try {
          for (let i = 0; i < 1_000; i++) {
            this.write(chunkFor(i));
            try {
              await this.flush();
            } catch (error) {
              rejected.resolve(error);
              throw error;
            }
            flushed++;
            started.resolve();
          }
          finished.resolve('completed');
        } catch (error) {
          finished.resolve('stopped');
          throw error;
        }
      }
      override onFinish(): void {
        finished.resolve('onFinish');
      }
    }
    try {
      const { srv, logger } = await serveRoutes([['/stream', Streamer]]);
      const client = await RawClient.connect(srv.port);
      client.get('/stream');
      await within(started.promise, 5_000, 'the stream to start');
      await client.until(() => client.received > 2 * CHUNK, 5_000, 'some of the body');
      client.destroy();

      const error = await within(rejected.promise, 5_000, 'the flush to reject');
      expect(error).toBeInstanceOf(RequestAborted);
      expect((error as RequestAborted).kind).toBe('disconnect');
      expect(await within(finished.promise, 5_000, 'the handler to stop')).toBe('stopped');
      expect(flushed).toBeLessThan(1_000);
      const flushedAtStop = flushed;

      const res = await srv.fetch('/nowhere');
      expect(res.status).toBe(404);
      await res.text();
      expect(flushed).toBe(flushedAtStop);
      expect(unhandled).toEqual([]);
      expect(logger.errors()).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('observers', () => {
  interface Seen {
    readonly phase: 'started' | 'finished';
    readonly pattern: string | null;
    readonly path: string;
    readonly status: number;
    readonly error: unknown;
    readonly aborted: boolean;
  }

  function recorder() {
    const seen: Seen[] = [];
    const waiters = new Set<() => void>();
    const record = (phase: Seen['phase'], h: RequestHandler<unknown>): void => {
      seen.push({
        phase,
        pattern: h.route?.pattern ?? null,
        path: h.path,
        status: h.status,
        error: h.error,
        aborted: h.isAborted,
      });
      for (const w of waiters) w();
    };
    return {
      seen,
      observer: {
        requestStarted: (h: RequestHandler<unknown>) => record('started', h),
        requestFinished: (h: RequestHandler<unknown>) => record('finished', h),
      },
      finishedFor: (path: string) => seen.filter((s) => s.phase === 'finished' && s.path === path),
      async until(condition: () => boolean): Promise<void> {
        if (condition()) return;
        const { promise, resolve } = deferred();
        const check = (): void => {
          if (condition()) resolve();
        };
        waiters.add(check);
        try {
          await within(promise, 5_000, 'observer calls');
        } finally {
          waiters.delete(check);
        }
      },
    };
  }

  it('sees each request start and finish once, with route pattern, status, error and abort', async () => {
    const waiting = deferred();
    const boom = new Error('boom');
    class Item extends RequestHandler {
      override get(id: string): void {
        this.write(`item ${id}`);
      }
    }
    class Boom extends RequestHandler {
      override get(): void {
        throw boom;
      }
    }
    class Poll extends RequestHandler {
      override async get(): Promise<void> {
        const signal = this.signal;
        await new Promise((resolve) => {
          signal.addEventListener('abort', resolve, { once: true });
          waiting.resolve();
        });
      }
    }
    const rec = recorder();
    const { app, srv, logger } = await serveRoutes([
      ['/items/{id}', Item],
      ['/boom', Boom],
      ['/poll', Poll],
    ]);
    app.addObserver(rec.observer);

    expect(await (await srv.fetch('/items/7')).text()).toBe('item 7');
    const failed = await srv.fetch('/boom');
    expect(failed.status).toBe(500);
    await failed.text();
    const missing = await srv.fetch('/missing');
    expect(missing.status).toBe(404);
    await missing.text();
    const client = await RawClient.connect(srv.port);
    client.get('/poll');
    await within(waiting.promise, 5_000, 'the poll to wait');
    client.destroy();

    await rec.until(() => rec.seen.filter((s) => s.phase === 'finished').length >= 4);
    // A request that is not there yet would show up as a fifth call: serve one more and compare.
    expect(await (await srv.fetch('/items/8')).text()).toBe('item 8');
    await rec.until(() => rec.finishedFor('/items/8').length === 1);

    const started = rec.seen.filter((s) => s.phase === 'started');
    expect(started.map((s) => [s.path, s.pattern])).toEqual([
      ['/items/7', '/items/{id}'],
      ['/boom', '/boom'],
      ['/missing', null],
      ['/poll', '/poll'],
      ['/items/8', '/items/{id}'],
    ]);
    const finished = (path: string) => {
      const calls = rec.finishedFor(path);
      expect(calls, `one requestFinished for ${path}`).toHaveLength(1);
      return calls[0] as Seen;
    };
    expect(finished('/items/7')).toMatchObject({
      pattern: '/items/{id}',
      status: 200,
      error: undefined,
      aborted: false,
    });
    expect(finished('/boom')).toMatchObject({
      pattern: '/boom',
      status: 500,
      error: boom,
      aborted: false,
    });
    expect(finished('/missing')).toMatchObject({ pattern: null, status: 404, aborted: false });
    expect(finished('/missing').error).toBeInstanceOf(HttpError);
    expect(finished('/poll')).toMatchObject({ pattern: '/poll', aborted: true });
    expect(rec.seen).toHaveLength(10);
    // Only the 500 is logged.
    expect(logger.errors().map((e) => e.msg)).toEqual(['uncaught error in handler']);
  });

  it('keeps serving when an observer throws, and still calls the other observers', async () => {
    class Hello extends RequestHandler {
      override get(): void {
        this.write('hello');
      }
    }
    const rec = recorder();
    const { app, srv, logger } = await serveRoutes([['/hello', Hello]]);
    app.addObserver({
      requestStarted: () => {
        throw new Error('start observer broke');
      },
      requestFinished: () => {
        throw new Error('finish observer broke');
      },
    });
    app.addObserver(rec.observer);

    for (let i = 0; i < 2; i++) {
      const res = await srv.fetch('/hello');
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('hello');
    }
    await rec.until(() => rec.finishedFor('/hello').length === 2);
    expect(rec.seen.map((s) => [s.phase, s.status])).toEqual([
      ['started', 200],
      ['finished', 200],
      ['started', 200],
      ['finished', 200],
    ]);
    expect(logger.errors().map((e) => e.msg)).toEqual([
      'request observer failed',
      'request observer failed',
      'request observer failed',
      'request observer failed',
    ]);
  });

  it('tells observers of a response finished in the listener at once, with no close listener', async () => {
    const listeners: number[] = [];
    const observed: boolean[] = [];
    class Hello extends RequestHandler {
      override get(): void {
        this.finish('hello');
        queueMicrotask(() => listeners.push(this.response.listenerCount('close')));
      }
    }
    const { app, srv } = await serveRoutes([['/hello', Hello]]);
    app.addObserver({ requestFinished: (h) => observed.push(h.isAborted) });
    const res = await srv.fetch('/hello');
    expect(await res.text()).toBe('hello');
    expect(observed).toEqual([false]);
    expect(listeners).toEqual([0]);
  });

  it('reports a large response the client stops reading and drops as aborted', async () => {
    const big = 'x'.repeat(32 * 1024 * 1024); // more than the loopback socket buffers hold
    class Big extends RequestHandler {
      override get(): void {
        this.finish(big);
      }
    }
    const rec = recorder();
    const { app, srv } = await serveRoutes([['/big', Big]]);
    app.addObserver(rec.observer);
    const socket = connect(srv.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.pause();
    socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    await rec.until(() => rec.seen.some((s) => s.phase === 'started'));
    await delay(100);
    expect(rec.finishedFor('/big')).toEqual([]); // still being written
    socket.destroy();
    await rec.until(() => rec.finishedFor('/big').length === 1);
    expect(rec.finishedFor('/big')[0]).toMatchObject({ status: 200, aborted: true });
  });

  it('tells observers of a pipelined response once it has had its turn', async () => {
    const release = deferred();
    class Slow extends RequestHandler {
      override async get(): Promise<void> {
        await release.promise;
        this.finish('slow');
      }
    }
    class Fast extends RequestHandler {
      override get(): void {
        this.finish('fast');
      }
    }
    const rec = recorder();
    const { app, srv } = await serveRoutes([
      ['/slow', Slow],
      ['/fast', Fast],
    ]);
    app.addObserver(rec.observer);
    const reply = exchange(
      srv.port,
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    await delay(100);
    // /fast is finished but waits behind /slow: not complete yet.
    expect(rec.finishedFor('/fast')).toEqual([]);
    release.resolve();
    const { data } = await reply;
    const text = data.toString('latin1');
    expect(text.indexOf('slow')).toBeGreaterThan(0);
    expect(text.indexOf('fast')).toBeGreaterThan(text.indexOf('slow'));
    await rec.until(() => rec.finishedFor('/fast').length === 1);
    expect(rec.finishedFor('/slow')).toHaveLength(1);
    expect(rec.finishedFor('/fast')[0]).toMatchObject({ status: 200, aborted: false });
  });
});

describe('onShutdown', () => {
  /** A poll that waits until released; onShutdown answers 204. */
  function pollHandler(calls: string[], gate?: Promise<void>) {
    return class extends RequestHandler {
      private release: (() => void) | null = null;

      override async prepare(): Promise<void> {
        calls.push('prepare');
        await gate;
      }

      override get(): Promise<void> {
        calls.push('get');
        return new Promise((resolve) => {
          this.release = () => {
            this.setStatus(204);
            resolve();
          };
        });
      }

      override onShutdown(): void {
        calls.push(`onShutdown finished=${this.isFinished}`);
        this.release?.();
      }
    };
  }

  it('runs once when the server starts draining while the verb holds the request', async () => {
    const calls: string[] = [];
    const { app, srv } = await serveRoutes([['/poll', pollHandler(calls)]]);
    const pending = srv.fetch('/poll');
    const deadline = Date.now() + 5_000;
    while (!calls.includes('get') && Date.now() < deadline) await delay(5);
    app.beginDraining();
    app.beginDraining();
    const res = await pending;
    expect(res.status).toBe(204);
    expect(calls).toEqual(['prepare', 'get', 'onShutdown finished=false']);
  });

  it('waits for the verb when draining starts before it ran', async () => {
    const calls: string[] = [];
    const gate = deferred();
    const { app, srv } = await serveRoutes([['/poll', pollHandler(calls, gate.promise)]]);
    const pending = srv.fetch('/poll');
    const deadline = Date.now() + 5_000;
    while (!calls.includes('prepare') && Date.now() < deadline) await delay(5);
    app.beginDraining(); // prepare is still waiting: no verb to tell yet
    expect(calls).toEqual(['prepare']);
    gate.resolve();
    expect((await pending).status).toBe(204);
    expect(calls).toEqual(['prepare', 'get', 'onShutdown finished=false']);
  });

  it('runs right after the verb for a request that arrives while draining', async () => {
    const calls: string[] = [];
    const { app, srv } = await serveRoutes([['/poll', pollHandler(calls)]]);
    app.beginDraining();
    expect((await srv.fetch('/poll')).status).toBe(204);
    expect(calls).toEqual(['prepare', 'get', 'onShutdown finished=false']);
  });

  it('does not run for requests finished before the drain, nor after the client left', async () => {
    const calls: string[] = [];
    class Quick extends RequestHandler {
      override get(): void {
        this.finish('done');
      }

      override onShutdown(): void {
        calls.push('quick');
      }
    }
    const { app, srv } = await serveRoutes([
      ['/quick', Quick],
      ['/poll', pollHandler(calls)],
    ]);
    expect(await (await srv.fetch('/quick')).text()).toBe('done');
    const client = await RawClient.connect(srv.port);
    client.get('/poll');
    const deadline = Date.now() + 5_000;
    while (!calls.includes('get') && Date.now() < deadline) await delay(5);
    client.destroy();
    await client.whenClosed;
    await delay(50);
    app.beginDraining();
    await delay(20);
    expect(calls).toEqual(['prepare', 'get']);
  });

  it('logs an onShutdown that throws and still answers', async () => {
    class Broken extends RequestHandler {
      override get(): Promise<void> {
        return delay(50).then(() => this.finish('late'));
      }

      override onShutdown(): void {
        throw new Error('shutdown hook broke');
      }
    }
    const { app, srv, logger } = await serveRoutes([['/broken', Broken]]);
    const pending = srv.fetch('/broken');
    await delay(20);
    app.beginDraining();
    const res = await pending;
    expect(await res.text()).toBe('late');
    const errors = logger.errors();
    expect(errors.map((e) => e.msg)).toEqual(['uncaught error in handler']);
    const logged = errors[0]?.obj as { err?: Error } | undefined;
    expect(logged?.err?.message).toBe('shutdown hook broke');
  });
});
