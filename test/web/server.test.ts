import { Agent, request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { MessagesHandler } from '../../src/app/chat-handlers.js';
import { ChatRoom } from '../../src/app/chat-room.js';
import {
  type CloseResult,
  RequestAborted,
  RequestHandler,
  type RouteEntry,
  type ServerOptions,
  type TestServer,
  url,
} from '../../src/web/index.js';
import { type Served, serveRoutes } from '../support/servers.js';
import { RawClient, tryConnect } from '../support/socket.js';
import { deferred, within } from '../support/wait.js';

const clients: RawClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.destroy();
});

/** Serves `routes` with the server `options` until the end of the test. */
function start(routes: RouteEntry[], options: ServerOptions = {}): Promise<Served> {
  return serveRoutes(routes, {}, { server: options });
}

async function connect(srv: TestServer): Promise<RawClient> {
  const client = await RawClient.connect(srv.port);
  clients.push(client);
  return client;
}

/** A handler that answers once the test opens its gate; `entered` resolves when it is waiting. */
function gated() {
  const entered = deferred();
  const gate = deferred();
  class Gated extends RequestHandler {
    override async get(): Promise<void> {
      entered.resolve();
      await gate.promise;
      this.write('released');
    }
  }
  return { Gated, entered: entered.promise, open: () => gate.resolve() };
}

class Hello extends RequestHandler {
  override get(): void {
    this.write('hello');
  }
}

describe('HttpServer.close', () => {
  it('answers a long poll waiting on its signal at once, and resolves with forced false', async () => {
    const waiting = deferred();
    const reasons: unknown[] = [];
    class LongPoll extends RequestHandler {
      override async get(): Promise<void> {
        const signal = this.signal;
        await new Promise((resolve) => {
          signal.addEventListener('abort', resolve, { once: true });
          waiting.resolve();
        });
        reasons.push(signal.reason);
        if (signal.reason instanceof RequestAborted && signal.reason.kind === 'shutdown') {
          this.setStatus(204);
        }
      }
    }
    const { srv, logger } = await start([['/poll', LongPoll]], { keepAliveTimeoutMs: 60_000 });
    const client = await connect(srv);
    client.get('/poll');
    await within(waiting.promise, 5_000, 'the poll to wait');

    const closing = srv.server.close(10_000);
    expect(srv.server.draining).toBe(true);
    const res = await client.readResponse(2_000);
    expect(res.status).toBe(204);
    expect(res.headers.connection).toBe('close');
    expect(reasons).toHaveLength(1);
    expect((reasons[0] as RequestAborted).kind).toBe('shutdown');
    await within(client.whenClosed, 2_000, 'the client socket to close');
    expect(await within(closing, 2_000, 'close to resolve')).toEqual({ forced: false });
    expect(logger.errors()).toEqual([]);
  });

  it('ends a chat long poll with 204 when the server shuts down', async () => {
    const room = new ChatRoom();
    const started = deferred();
    const { app, srv } = await start([url('/chat/messages', MessagesHandler, { room })]);
    app.addObserver({ requestStarted: () => started.resolve() });
    const client = await connect(srv);
    client.get('/chat/messages?after=0&timeout=25');
    await within(started.promise, 5_000, 'the poll to start');
    expect(room.waiting).toBe(1);

    const closing = srv.server.close(10_000);
    const res = await client.readResponse(2_000);
    expect(res.status).toBe(204);
    expect(room.waiting).toBe(0);
    expect(await within(closing, 2_000, 'close to resolve')).toEqual({ forced: false });
  });

  it('refuses new connections once close has begun, rather than accepting and resetting them', async () => {
    const { Gated, entered, open } = gated();
    const { srv } = await start([['/slow', Gated]]);
    const client = await connect(srv);
    client.get('/slow');
    await within(entered, 5_000, 'the request to arrive');

    const closing = srv.server.close(10_000);
    expect(await tryConnect(srv.port)).toBe('ECONNREFUSED');
    expect(await tryConnect(srv.port)).toBe('ECONNREFUSED');

    open();
    const res = await client.readResponse();
    expect(res.body.toString()).toBe('released');
    expect(await within(closing, 2_000, 'close to resolve')).toEqual({ forced: false });
  });

  it('closes an idle keep-alive socket soon after close()', async () => {
    const { srv } = await start([['/hello', Hello]], { keepAliveTimeoutMs: 60_000 });
    const client = await connect(srv);
    client.get('/hello');
    const res = await client.readResponse();
    expect(res.body.toString()).toBe('hello');
    expect(res.headers.connection).toBe('keep-alive');
    expect(client.closed).toBe(false);

    const closing = srv.server.close(10_000);
    await within(client.whenClosed, 2_000, 'the idle socket to be closed');
    expect(client.ended || client.error !== null).toBe(true);
    expect(await within(closing, 2_000, 'close to resolve')).toEqual({ forced: false });
  });

  it('sends Connection: close on a response written after close() began, then closes the socket', async () => {
    const { Gated, entered, open } = gated();
    const { srv, logger } = await start([['/slow', Gated]], { keepAliveTimeoutMs: 60_000 });
    const client = await connect(srv);
    client.get('/slow');
    await within(entered, 5_000, 'the request to arrive');

    const closing = srv.server.close(10_000);
    open();
    const res = await client.readResponse();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('released');
    expect(res.headers.connection).toBe('close');
    await within(client.whenClosed, 2_000, 'the socket to be closed');
    expect(client.error).toBeNull();
    expect(await within(closing, 2_000, 'close to resolve')).toEqual({ forced: false });
    expect(logger.errors()).toEqual([]);
  });

  it('closes the socket of a streaming response that began before close() once it is idle', async () => {
    const gate = deferred();
    const flushed = deferred();
    class Streaming extends RequestHandler {
      override async get(): Promise<void> {
        this.write('first;');
        await this.flush();
        flushed.resolve();
        await gate.promise;
        this.write('last');
      }
    }
    // A keep-alive timeout far beyond the guards below: only the drain can close the socket.
    const { srv } = await start([['/stream', Streaming]], { keepAliveTimeoutMs: 60_000 });
    const client = await connect(srv);
    client.get('/stream');
    await within(flushed.promise, 5_000, 'the headers to go out');
    await client.until(() => client.buffer.includes('first;'), 5_000, 'the first chunk');
    expect(client.buffer.toString('latin1')).toMatch(/\r\nConnection: keep-alive\r\n/i);

    const closing = srv.server.close(10_000);
    gate.resolve();
    const res = await client.readResponse();
    expect(res.chunked).toBe(true);
    expect(res.body.toString()).toBe('first;last');
    await within(client.whenClosed, 2_000, 'the now idle socket to be closed');
    expect(await within(closing, 2_000, 'close to resolve')).toEqual({ forced: false });
  });

  it('destroys a request that never finishes at the deadline and resolves with forced true', async () => {
    const entered = deferred();
    class Forever extends RequestHandler {
      override async get(): Promise<void> {
        entered.resolve();
        await new Promise(() => {});
      }
    }
    const { srv } = await start([['/forever', Forever]]);
    const client = await connect(srv);
    client.get('/forever');
    await within(entered.promise, 5_000, 'the request to arrive');

    const result = await within(srv.server.close(300), 3_000, 'close to give up');
    expect(result).toEqual({ forced: true });
    await within(client.whenClosed, 2_000, 'the socket to be destroyed');
    expect(client.received).toBe(0);
  });

  it('returns the same result when called twice', async () => {
    const { Gated, entered, open } = gated();
    const { srv } = await start([['/slow', Gated]]);
    const client = await connect(srv);
    client.get('/slow');
    await within(entered, 5_000, 'the request to arrive');

    const first = srv.server.close(10_000);
    const second = srv.server.close(50);
    expect(second).toBe(first);
    open();
    const [a, b] = await within(Promise.all([first, second]), 3_000, 'close to resolve');
    expect(a).toEqual({ forced: false });
    expect(b).toBe(a);
    expect((await client.readResponse()).body.toString()).toBe('released');
    expect(await srv.server.close()).toBe(a);
  });

  it('loses no request sent on an open keep-alive connection when closing under load', async () => {
    class Work extends RequestHandler {
      override async get(): Promise<void> {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.write('done');
      }
    }
    const { srv, logger } = await start([['/work', Work]], { keepAliveTimeoutMs: 60_000 });
    const agent = new Agent({ keepAlive: true, maxSockets: 20 });

    interface Outcome {
      readonly ok: boolean;
      readonly reused: boolean;
      readonly code: string;
      readonly afterClose: boolean;
      readonly connection: string | undefined;
    }
    let closing: Promise<CloseResult> | null = null;
    let completed = 0;
    const CLOSE_AFTER = 200;

    const once = (): Promise<Outcome> =>
      new Promise((resolve) => {
        let reused = false;
        const req = httpRequest(
          { host: '127.0.0.1', port: srv.port, path: '/work', agent },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', () => {});
            res.on('close', () => {
              const body = Buffer.concat(chunks).toString();
              const ok = res.complete && res.statusCode === 200 && body === 'done';
              resolve({
                ok,
                reused,
                code: ok ? 'ok' : `incomplete ${res.statusCode} ${JSON.stringify(body)}`,
                afterClose: closing !== null,
                connection: res.headers.connection,
              });
            });
          },
        );
        req.on('socket', () => {
          reused = req.reusedSocket;
        });
        req.on('error', (error: Error & { code?: string }) => {
          resolve({
            ok: false,
            reused,
            code: error.code ?? error.message,
            afterClose: closing !== null,
            connection: undefined,
          });
        });
        req.end();
      });

    const outcomes: Outcome[] = [];
    const worker = async (): Promise<void> => {
      for (let i = 0; i < 400; i++) {
        const outcome = await once();
        outcomes.push(outcome);
        if (!outcome.ok) return;
        completed++;
        if (completed === CLOSE_AFTER) closing = srv.server.close(10_000);
      }
    };
    try {
      await within(
        Promise.all(Array.from({ length: 20 }, worker)),
        15_000,
        'the request loops to end',
      );
    } finally {
      agent.destroy();
    }

    expect(closing).not.toBeNull();
    const failures = outcomes.filter((o) => !o.ok && o.code !== 'ECONNREFUSED');
    expect(failures).toEqual([]);
    const refused = outcomes.filter((o) => o.code === 'ECONNREFUSED');
    // Every loop ran until the listener refused it; a refusal never happens on a reused socket.
    expect(refused).toHaveLength(20);
    expect(refused.every((o) => !o.reused)).toBe(true);
    expect(outcomes.filter((o) => o.ok).length).toBeGreaterThanOrEqual(CLOSE_AFTER);
    // Requests already on their way when close() began were answered, with Connection: close.
    const answeredWhileDraining = outcomes.filter((o) => o.ok && o.afterClose);
    expect(answeredWhileDraining.length).toBeGreaterThan(0);
    expect(answeredWhileDraining.some((o) => o.connection === 'close')).toBe(true);
    expect(await within(closing as unknown as Promise<CloseResult>, 5_000, 'close')).toEqual({
      forced: false,
    });
    expect(logger.errors()).toEqual([]);
  });
});

describe('client errors', () => {
  it('answers headers over maxHeaderSize with 431 problem+json and keeps serving', async () => {
    const { srv } = await start([['/hello', Hello]], { maxHeaderSize: 1024 });
    const client = await connect(srv);
    client.send(`GET /hello HTTP/1.1\r\nHost: test\r\nX-Big: ${'a'.repeat(2_000)}\r\n\r\n`);
    const res = await client.readResponse();
    expect(res.status).toBe(431);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body.toString())).toMatchObject({ status: 431 });
    await within(client.whenClosed, 2_000, 'the connection to close');

    const ok = await srv.fetch('/hello');
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('hello');
  });

  it('answers a malformed request line with 400 problem+json and keeps serving', async () => {
    const { srv } = await start([['/hello', Hello]]);
    const client = await connect(srv);
    client.send('THIS IS NOT HTTP\r\n\r\n');
    const res = await client.readResponse();
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body.toString())).toMatchObject({ status: 400 });
    await within(client.whenClosed, 2_000, 'the connection to close');

    const again = await connect(srv);
    again.get('/hello');
    expect((await again.readResponse()).body.toString()).toBe('hello');
  });

  it('cuts off a client that stalls in the middle of its request head', async () => {
    const { srv } = await start([['/hello', Hello]], {
      headersTimeoutMs: 500,
      connectionsCheckingIntervalMs: 100,
    });
    const client = await connect(srv);
    client.send('GET /hello HTTP/1.1\r\nHost: test\r\nX-Partial: ');
    await within(client.whenClosed, 5_000, 'the stalled client to be cut off');
    if (client.received > 0) {
      const res = await client.readResponse();
      expect(res.status).toBe(408);
      expect(res.headers['content-type']).toBe('application/problem+json');
    }

    const ok = await srv.fetch('/hello');
    expect(await ok.text()).toBe('hello');
  });
});
