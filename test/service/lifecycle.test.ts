import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Health } from '../../src/service/health.js';
import { Lifecycle, type LifecycleState } from '../../src/service/lifecycle.js';
import { Application, HttpServer, RequestHandler } from '../../src/web/index.js';
import { tryConnect } from '../support/socket.js';
import { deferred, within } from '../support/wait.js';

interface Line {
  level: number;
  msg: string;
  state: LifecycleState | undefined;
  [key: string]: unknown;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A Lifecycle over a pino logger that writes into `lines` (each tagged with the lifecycle state at
 * the moment it was written), with an `exit` that records instead of exiting. `trace` gets the
 * state at every log line, hook call and exit call.
 */
function harness(options: {
  servers?: HttpServer[];
  shutdownDelayMs?: number;
  shutdownTimeoutMs?: number;
}) {
  const lines: Line[] = [];
  const trace: LifecycleState[] = [];
  const exits: { code: number; flushed: boolean; state: LifecycleState }[] = [];
  let flushed = false;
  let lifecycle: Lifecycle | undefined;
  const stream = {
    write(text: string): void {
      const state = lifecycle?.state;
      if (state !== undefined) trace.push(state);
      lines.push({ ...(JSON.parse(text) as Line), state });
    },
    flush(cb: (error?: Error) => void): void {
      setImmediate(() => {
        flushed = true;
        cb();
      });
    },
  };
  const logger = pino({ level: 'debug' }, stream);
  const health = new Health();
  health.markStarted();
  lifecycle = new Lifecycle({
    logger,
    health,
    servers: options.servers ?? [],
    shutdownDelayMs: options.shutdownDelayMs ?? 0,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 2_000,
    exit: (code) => {
      const state = (lifecycle as Lifecycle).state;
      trace.push(state);
      exits.push({ code, flushed, state });
    },
  });
  const find = (msg: string | RegExp): Line[] =>
    lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
  return { lifecycle, logger, health, lines, trace, exits, find };
}

class Hello extends RequestHandler {
  override get(): void {
    this.write('hello');
  }
}

async function startServer(app: Application): Promise<{ server: HttpServer; port: number }> {
  const server = new HttpServer(app, { keepAliveTimeoutMs: 60_000 });
  const { port } = await server.listen(0, '127.0.0.1');
  cleanups.push(() => server.close(200));
  return { server, port };
}

/** One GET on its own connection: the status and body, or the error code. */
function get(port: number, path: string): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('error', (error: Error & { code?: string }) => resolve(error.code ?? error.message));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', (error: Error & { code?: string }) => resolve(error.code ?? error.message));
    req.end();
  });
}

/** A keep-alive connection that has had one response and is now idle. */
async function idleKeepAlive(port: number) {
  const socket = connect({ port, host: '127.0.0.1' });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  let received = '';
  const answered = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.endsWith('hello')) resolve();
    });
  });
  socket.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n');
  await within(answered, 5_000, 'the first response');
  cleanups.push(() => socket.destroy());
  return { closed, received: () => received };
}

/** Consecutive duplicates removed. */
function transitions(states: readonly LifecycleState[]): LifecycleState[] {
  return states.filter((s, i) => i === 0 || states[i - 1] !== s);
}

describe('Lifecycle.shutdown', () => {
  it('goes delaying → draining → hooks → exiting and exits 0 after a clean drain', async () => {
    const { server, port } = await startServer(new Application([['/', Hello]]));
    const idle = await idleKeepAlive(port);
    const h = harness({ servers: [server], shutdownDelayMs: 150 });
    const hookStates: LifecycleState[] = [];
    h.lifecycle.addShutdownHook('record', () => {
      hookStates.push(h.lifecycle.state);
      h.trace.push(h.lifecycle.state);
    });
    expect(h.lifecycle.state).toBe('running');

    const t0 = performance.now();
    const done = h.lifecycle.shutdown('test');
    // The first step happens at once.
    expect(h.lifecycle.state).toBe('delaying');
    expect(h.health.shuttingDown).toBe(true);
    expect(await h.health.readiness()).toMatchObject({ ok: false, reason: 'shutting down' });
    // During the delay the server still accepts and serves new connections.
    expect(await get(port, '/')).toEqual({ status: 200, body: 'hello' });
    expect(server.draining).toBe(false);
    expect(h.exits).toEqual([]);

    const code = await within(done, 5_000, 'the shutdown sequence');
    expect(code).toBe(0);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(h.exits).toEqual([{ code: 0, flushed: true, state: 'exiting' }]);
    expect(hookStates).toEqual(['hooks']);
    expect(transitions(h.trace)).toEqual(['delaying', 'draining', 'hooks', 'exiting']);

    const started = h.find(/^shutdown started/);
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({
      level: 30,
      reason: 'test',
      shutdownDelayMs: 150,
      shutdownTimeoutMs: 2_000,
      state: 'delaying',
    });
    const draining = h.find('draining');
    expect(draining).toHaveLength(1);
    // The idle keep-alive connection plus the one the GET above may still hold.
    expect(draining[0]?.connections).toBeGreaterThanOrEqual(1);
    expect(draining[0]?.state).toBe('draining');
    expect(Number(draining[0]?.time) - Number(started[0]?.time)).toBeGreaterThanOrEqual(145);
    const complete = h.find('shutdown complete');
    expect(complete).toHaveLength(1);
    expect(complete[0]).toMatchObject({ exitCode: 0, state: 'exiting' });
    expect(h.lines.at(-1)?.msg).toBe('shutdown complete');
    expect(h.lines.filter((l) => l.level >= 40)).toEqual([]);

    // The server drained: the idle socket was closed for us and the listener is gone.
    await within(idle.closed, 2_000, 'the idle keep-alive socket to be closed');
    expect(server.draining).toBe(true);
    // Every socket had closed (not merely been destroyed) by the time the sequence went on.
    expect(server.connections).toBe(0);
    expect(await tryConnect(port)).toBe('ECONNREFUSED');
  });

  it('lets a request in flight finish during the drain and still exits 0', async () => {
    const entered = deferred();
    const release = deferred();
    class Slow extends RequestHandler {
      override async get(): Promise<void> {
        entered.resolve();
        await release.promise;
        this.write('finished');
      }
    }
    const { server, port } = await startServer(new Application([['/slow', Slow]]));
    const pending = get(port, '/slow');
    await within(entered.promise, 5_000, 'the handler to start');
    const h = harness({ servers: [server], shutdownTimeoutMs: 5_000 });
    const done = h.lifecycle.shutdown('SIGTERM');
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (h.lifecycle.state === 'draining') resolve();
          else setTimeout(check, 5);
        };
        check();
      }),
      2_000,
      'the draining state',
    );
    expect(h.exits).toEqual([]);
    release.resolve();
    expect(await within(pending, 5_000, 'the slow response')).toEqual({
      status: 200,
      body: 'finished',
    });
    expect(await within(done, 5_000, 'the shutdown')).toBe(0);
    expect(h.exits.map((e) => e.code)).toEqual([0]);
  });

  it('exits 1 when a server close was forced by a request that never finishes', async () => {
    const entered = deferred();
    class Never extends RequestHandler {
      override async get(): Promise<void> {
        entered.resolve();
        await new Promise(() => {});
      }
    }
    const app = new Application([['/never', Never]]);
    const servers: HttpServer[] = [];
    const h = harness({ servers, shutdownTimeoutMs: 200 });
    // What an access log sees: the cut-off request ends (aborted) before the process exits.
    const finished: { aborted: boolean; exitsSoFar: number }[] = [];
    app.addObserver({
      requestFinished: (handler) =>
        finished.push({ aborted: handler.isAborted, exitsSoFar: h.exits.length }),
    });
    const { server, port } = await startServer(app);
    servers.push(server);
    const pending = get(port, '/never');
    await within(entered.promise, 5_000, 'the handler to start');
    const t0 = performance.now();
    const code = await within(h.lifecycle.shutdown('SIGTERM'), 5_000, 'the shutdown');
    expect(code).toBe(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(h.exits).toEqual([{ code: 1, flushed: true, state: 'exiting' }]);
    const forced = h.find(/destroyed remaining sockets/);
    expect(forced).toHaveLength(1);
    expect(forced[0]).toMatchObject({ level: 50, shutdownTimeoutMs: 200 });
    expect(h.lines.indexOf(forced[0] as Line)).toBeLessThan(
      h.lines.indexOf(h.find('shutdown complete')[0] as Line),
    );
    expect(h.find('shutdown complete')[0]).toMatchObject({ exitCode: 1 });
    // The client saw its connection cut, not a response.
    expect(typeof (await within(pending, 2_000, 'the cut request'))).toBe('string');
    expect(finished).toEqual([{ aborted: true, exitsSoFar: 0 }]);
    expect(server.connections).toBe(0);
  });

  it('keeps the exit code it was asked for (a crash) even after a clean drain', async () => {
    const h = harness({});
    expect(await within(h.lifecycle.shutdown('uncaughtException', 1), 5_000, 'shutdown')).toBe(1);
    expect(h.exits.map((e) => e.code)).toEqual([1]);
    expect(h.find('shutdown complete')[0]).toMatchObject({ exitCode: 1 });
    expect(h.find(/^shutdown started/)[0]).toMatchObject({ reason: 'uncaughtException' });
  });

  it('returns the same promise when called twice, logs it, and exits once', async () => {
    const h = harness({ shutdownDelayMs: 50 });
    const first = h.lifecycle.shutdown('SIGTERM');
    const second = h.lifecycle.shutdown('SIGINT', 1);
    expect(second).toBe(first);
    const again = h.find('already shutting down');
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ level: 40, reason: 'SIGINT', state: 'delaying' });
    expect(await within(first, 5_000, 'shutdown')).toBe(0);
    // Still the same promise afterwards; nothing runs again.
    expect(h.lifecycle.shutdown('SIGTERM')).toBe(first);
    expect(await first).toBe(0);
    expect(h.exits).toHaveLength(1);
    expect(h.find(/^shutdown started/)).toHaveLength(1);
    expect(h.find('shutdown complete')).toHaveLength(1);
  });
});

/** Sends a GET on an open keep-alive connection and reads the `Connection` header of the answer. */
async function connectionHeaderOn(port: number): Promise<string | undefined> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  cleanups.push(() => socket.destroy());
  let received = '';
  const answered = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (received.endsWith('hello')) resolve();
    });
  });
  socket.write('GET / HTTP/1.1\r\nHost: test\r\n\r\n');
  await within(answered, 5_000, 'a response');
  return /\r\nconnection: ([^\r]*)\r\n/i.exec(received)?.[1]?.toLowerCase();
}

describe('Lifecycle during the delay', () => {
  it('keeps keep-alive on during the delay of a real shutdown', async () => {
    const { server, port } = await startServer(new Application([['/', Hello]]));
    const h = harness({ servers: [server], shutdownDelayMs: 1_000 });
    const done = h.lifecycle.shutdown('SIGTERM');
    expect((await h.health.readiness()).ok).toBe(false);
    // Clients told to reconnect now would wait in the listener's backlog and be reset when it
    // closes; they are told so once the listener has closed.
    expect(await connectionHeaderOn(port)).toBe('keep-alive');
    expect(h.lifecycle.state).toBe('delaying');
    expect(await within(done, 5_000, 'shutdown')).toBe(0);
  });

  it('with keepReady (rolling restart): readiness stays ok and responses say Connection: close at once', async () => {
    const { server, port } = await startServer(new Application([['/', Hello]]));
    const h = harness({ servers: [server], shutdownDelayMs: 100 });
    const done = h.lifecycle.shutdown('rolling restart', 0, { keepReady: true });
    expect(h.lifecycle.state).toBe('delaying');
    expect(h.health.shuttingDown).toBe(false);
    expect((await h.health.readiness()).ok).toBe(true);
    expect(await connectionHeaderOn(port)).toBe('close');
    expect(await within(done, 5_000, 'shutdown')).toBe(0);
    expect(h.find(/^shutdown started \(readiness unchanged\)/)).toHaveLength(1);
  });
});

describe('Lifecycle shutdown hooks', () => {
  it('run last-registered first, each awaited before the next, and exit 0 when all succeed', async () => {
    const h = harness({});
    const events: string[] = [];
    for (const name of ['first', 'second', 'third']) {
      h.lifecycle.addShutdownHook(name, async () => {
        events.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, 10));
        events.push(`${name} end`);
      });
    }
    expect(await within(h.lifecycle.shutdown('test'), 5_000, 'shutdown')).toBe(0);
    expect(events).toEqual([
      'third start',
      'third end',
      'second start',
      'second end',
      'first start',
      'first end',
    ]);
    expect(h.find('shutdown hook failed')).toEqual([]);
    expect(h.exits.map((e) => e.code)).toEqual([0]);
  });

  it('log a failing or timing-out hook, still run the others, and exit 1', async () => {
    const h = harness({});
    const ran: string[] = [];
    h.lifecycle.addShutdownHook('a', () => {
      ran.push('a');
    });
    h.lifecycle.addShutdownHook('b', () => {
      ran.push('b');
      throw new Error('b broke');
    });
    h.lifecycle.addShutdownHook(
      'c',
      () => {
        ran.push('c');
        return new Promise(() => {});
      },
      80,
    );
    h.lifecycle.addShutdownHook('d', async () => {
      ran.push('d');
      throw new Error('d rejected');
    });
    const t0 = performance.now();
    expect(await within(h.lifecycle.shutdown('test'), 5_000, 'shutdown')).toBe(1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(75);
    expect(ran).toEqual(['d', 'c', 'b', 'a']);
    const failed = h.find('shutdown hook failed');
    expect(
      failed.map((l) => [l.hook, l.level, (l.err as { message?: string } | undefined)?.message]),
    ).toEqual([
      ['d', 50, 'd rejected'],
      ['c', 50, 'timed out after 80 ms'],
      ['b', 50, 'b broke'],
    ]);
    for (const line of failed) expect(line.state).toBe('hooks');
    expect(h.exits.map((e) => e.code)).toEqual([1]);
    expect(h.find('shutdown complete')[0]).toMatchObject({ exitCode: 1 });
  });

  it('run after the servers have drained', async () => {
    const { server, port } = await startServer(new Application([['/', Hello]]));
    const h = harness({ servers: [server] });
    let seen: { draining: boolean; connect: string } | undefined;
    h.lifecycle.addShutdownHook('check', async () => {
      seen = { draining: server.draining, connect: await tryConnect(port) };
    });
    expect(await within(h.lifecycle.shutdown('test'), 5_000, 'shutdown')).toBe(0);
    expect(seen).toEqual({ draining: true, connect: 'ECONNREFUSED' });
  });
});
