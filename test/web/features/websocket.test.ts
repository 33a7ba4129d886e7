/**
 * WebSocketHandler over real sockets: the handshake (routing, origin, subprotocols, refusals on the
 * raw socket), the order of open / messages / close, back-pressure of async handlers, writes after
 * close, size limits, pings, observers and metrics, and the graceful close of the server.
 */
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ServiceMetrics } from '../../../src/service/metrics.js';
import {
  type ApplicationSettings,
  DEFAULT_MAX_MESSAGE_SIZE,
  HttpError,
  RequestAborted,
  RequestHandler,
  type RouteEntry,
  WebSocketClosedError,
  WebSocketHandler,
} from '../../../src/web/index.js';
import { type Served, serveRoutes } from '../../support/servers.js';
import { deferred, track, within } from '../../support/wait.js';
import {
  CLOSE,
  clientFrame,
  closePayload,
  RawSocketClient,
  TEXT,
  TestSocket,
  upgradeRequest,
} from '../../support/websocket.js';

type Deferred<T = void> = ReturnType<typeof deferred<T>>;

const clients: TestSocket[] = [];
const raws: RawSocketClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  for (const raw of raws.splice(0)) raw.raw.destroy();
});

/** Serves `routes` until the end of the test; open sockets get 2 s to close. */
function start(routes: readonly RouteEntry[], settings: ApplicationSettings = {}): Promise<Served> {
  return serveRoutes(routes, settings, { closeTimeoutMs: 2_000 });
}

async function open(
  url: string,
  protocols: string[] = [],
  options: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<TestSocket> {
  const client = new TestSocket(url, protocols, options);
  clients.push(client);
  await within(client.opened, 5_000, `opening ${url}`);
  return client;
}

/** A handshake expected to be refused: resolves with the status and the body. */
async function refused(
  url: string,
  protocols: string[] = [],
  options: ConstructorParameters<typeof WebSocket>[2] = {},
): Promise<{ status: number; body: string }> {
  const client = new TestSocket(url, protocols, options);
  clients.push(client);
  await expect(within(client.opened, 5_000, 'a refusal')).rejects.toThrow();
  await client.waitClosed();
  if (client.refusal === undefined) throw new Error('the handshake failed without an HTTP answer');
  return client.refusal;
}

async function rawClient(port: number): Promise<RawSocketClient> {
  const raw = await RawSocketClient.connect(port);
  raws.push(raw);
  return raw;
}

/** Lets a few turns of the event loop (I/O included) pass: no timer, no guessing at durations. */
async function turns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Route options shared by the recording handlers below. */
interface Probe {
  readonly events: string[];
  /** Resolves with the handler once its `onClose` ran. */
  readonly closed: Deferred<WebSocketHandler<Probe>>;
  /** Resolves with the handler once `open` ran. */
  readonly opened: Deferred<WebSocketHandler<Probe>>;
}

function probe(): Probe {
  return { events: [], closed: deferred(), opened: deferred() };
}

/** Records every hook; echoes nothing. */
class Recorder extends WebSocketHandler<Probe> {
  protected probe!: Probe;

  override initialize(options: Probe): void {
    this.probe = options;
    this.probe.events.push('initialize');
  }

  override prepare(): void {
    this.probe.events.push(`prepare ${this.pathArgs.join(',')}`);
  }

  override open(...args: string[]): void {
    this.probe.events.push(`open ${args.join(',')}`);
    this.probe.opened.resolve(this);
  }

  override onMessage(message: string | Buffer): void {
    const kind = typeof message === 'string' ? 'text' : 'binary';
    this.probe.events.push(`message ${kind} ${message.toString()}`);
  }

  override onClose(code: number, reason: string): void {
    this.probe.events.push(`close ${code} ${reason}`);
    this.probe.closed.resolve(this);
  }
}

describe('WebSocketHandler: lifecycle', () => {
  it('runs initialize, prepare, open(path args), each message in order, then onClose(code, reason)', async () => {
    const p = probe();
    const { url } = await start([['/rooms/{id}', Recorder, p]]);
    const client = await open(url('/rooms/42'));
    client.ws.send('hello');
    client.ws.send(Buffer.from([1, 2, 3]));
    client.ws.send('world');
    client.ws.close(4000, 'bye');
    const handler = await within(p.closed.promise, 5_000, 'onClose');
    expect(p.events).toEqual([
      'initialize',
      'prepare 42',
      'open 42',
      'message text hello',
      'message binary \u0001\u0002\u0003',
      'message text world',
      'close 4000 bye',
    ]);
    expect(handler.closeCode).toBe(4000);
    expect(handler.closeReason).toBe('bye');
    expect(handler.isOpen).toBe(false);
    expect(await client.waitClosed()).toEqual({ code: 4000, reason: 'bye' });
  });

  it('has the request (query, headers, cookies) in prepare and open, and sends headers set before the upgrade with the 101', async () => {
    const seen = deferred<Record<string, unknown>>();
    class Inspect extends WebSocketHandler {
      override prepare(): void {
        this.setHeader('Set-Cookie', 'session=abc; Path=/');
      }
      override open(): void {
        seen.resolve({
          q: this.getQueryArgument('q'),
          header: this.request.headers['x-test'],
          cookie: this.getCookie('flavour'),
          path: this.path,
        });
      }
    }
    const { url } = await start([['/inspect', Inspect]], { requestId: () => 'req-1' });
    const client = await open(url('/inspect?q=hi%20there'), [], {
      headers: { 'X-Test': 'yes', Cookie: 'flavour=mint' },
    });
    expect(await within(seen.promise, 5_000, 'open')).toEqual({
      q: 'hi there',
      header: 'yes',
      cookie: 'mint',
      path: '/inspect',
    });
    const response = await client.upgraded;
    expect(response.headers['set-cookie']).toEqual(['session=abc; Path=/']);
    expect(response.headers['x-request-id']).toBe('req-1');
    expect(response.headers['content-type']).toBeUndefined();
  });

  it('holds messages that arrive while an async open() runs until it settles', async () => {
    const events: string[] = [];
    const entered = deferred();
    const gate = deferred();
    const delivered = deferred();
    class SlowOpen extends WebSocketHandler {
      override async open(): Promise<void> {
        events.push('open start');
        entered.resolve();
        await gate.promise;
        events.push('open end');
      }
      override onMessage(message: string | Buffer): void {
        events.push(`message ${message.toString()}`);
        delivered.resolve();
      }
    }
    const { srv } = await start([['/slow', SlowOpen]]);
    const raw = await rawClient(srv.port);
    // The frame travels in the same write as the handshake: it is there before open() even starts.
    expect(await raw.handshake('/slow', [clientFrame(TEXT, 'early')])).toBe(101);
    await within(entered.promise, 5_000, 'open');
    await turns();
    expect(events).toEqual(['open start']);
    gate.resolve();
    await within(delivered.promise, 5_000, 'the held message');
    expect(events).toEqual(['open start', 'open end', 'message early']);
  });

  it('delivers the next message only after the previous onMessage promise settles', async () => {
    const events: string[] = [];
    const entered = deferred();
    const gate = deferred();
    const done = deferred();
    let socket: Socket | undefined;
    class Sequential extends WebSocketHandler {
      override async onMessage(message: string | Buffer): Promise<void> {
        const text = message.toString();
        events.push(`start ${text}`);
        if (text === 'one') {
          socket = this.request.socket;
          entered.resolve();
          await gate.promise;
        }
        events.push(`end ${text}`);
        if (text === 'three') done.resolve();
      }
    }
    const { srv } = await start([['/seq', Sequential]]);
    const raw = await rawClient(srv.port);
    expect(await raw.handshake('/seq')).toBe(101);
    // Three frames in one write: they reach the server together.
    raw.send(clientFrame(TEXT, 'one'), clientFrame(TEXT, 'two'), clientFrame(TEXT, 'three'));
    await within(entered.promise, 5_000, 'the first message');
    await turns();
    expect(events).toEqual(['start one']);
    // Back-pressure: nothing more is read from the peer while a message is being handled.
    expect(socket?.isPaused()).toBe(true);
    gate.resolve();
    await within(done.promise, 5_000, 'the last message');
    expect(socket?.isPaused()).toBe(false);
    expect(events).toEqual([
      'start one',
      'end one',
      'start two',
      'end two',
      'start three',
      'end three',
    ]);
  });

  it('calls onClose only after the message in progress settles', async () => {
    const events: string[] = [];
    const gate = deferred();
    const aborted = deferred();
    const closed = deferred<WebSocketHandler>();
    class Busy extends WebSocketHandler {
      override async onMessage(): Promise<void> {
        events.push('message start');
        this.signal.addEventListener('abort', () => aborted.resolve());
        this.close(1000, 'done'); // the connection closes while this message is still running
        await gate.promise;
        events.push('message end');
      }
      override onClose(code: number): void {
        events.push(`close ${code}`);
        closed.resolve(this);
      }
    }
    const { url } = await start([['/busy', Busy]]);
    const client = await open(url('/busy'));
    client.ws.send('work');
    expect(await client.waitClosed()).toEqual({ code: 1000, reason: 'done' });
    await within(aborted.promise, 5_000, 'the server to see the close');
    await turns();
    expect(events).toEqual(['message start']);
    gate.resolve();
    const handler = await within(closed.promise, 5_000, 'onClose');
    expect(events).toEqual(['message start', 'message end', 'close 1000']);
    expect(handler.closeCode).toBe(1000);
  });

  it('an open() that throws is logged and closes with 1011; onClose still runs', async () => {
    const p = probe();
    class Broken extends Recorder {
      override open(): void {
        throw new Error('open failed');
      }
    }
    const { url, logger } = await start([['/broken', Broken, p]]);
    const client = await open(url('/broken'));
    expect(await client.waitClosed()).toEqual({ code: 1011, reason: 'internal error' });
    await within(p.closed.promise, 5_000, 'onClose');
    expect(p.events.at(-1)).toBe('close 1011 internal error');
    expect(logger.errors().map((e) => (e.obj as { err?: Error }).err?.message)).toContain(
      'open failed',
    );
  });

  it('an onMessage that rejects is logged, drops what is queued and closes with 1011', async () => {
    const p = probe();
    class Rejecting extends Recorder {
      override async onMessage(message: string | Buffer): Promise<void> {
        super.onMessage(message);
        throw new Error(`bad message ${message.toString()}`);
      }
    }
    const { srv, logger } = await start([['/reject', Rejecting, p]]);
    const raw = await rawClient(srv.port);
    expect(await raw.handshake('/reject')).toBe(101);
    raw.send(clientFrame(TEXT, 'first'), clientFrame(TEXT, 'second'));
    const frame = await raw.nextFrame();
    expect(frame.opcode).toBe(CLOSE);
    expect(frame.payload.readUInt16BE(0)).toBe(1011);
    raw.send(clientFrame(CLOSE, frame.payload));
    await within(p.closed.promise, 5_000, 'onClose');
    expect(p.events.filter((e) => e.startsWith('message'))).toEqual(['message text first']);
    expect(logger.errors().map((e) => (e.obj as { err?: Error }).err?.message)).toContain(
      'bad message first',
    );
  });

  it('the signal fires with disconnect when the client leaves', async () => {
    const reason = deferred<unknown>();
    class Watch extends WebSocketHandler {
      override open(): void {
        this.signal.addEventListener('abort', () => reason.resolve(this.signal.reason));
      }
    }
    const { url } = await start([['/watch', Watch]]);
    const client = await open(url('/watch'));
    client.ws.terminate();
    const why = await within(reason.promise, 5_000, 'the signal');
    expect(why).toBeInstanceOf(RequestAborted);
    expect((why as RequestAborted).kind).toBe('disconnect');
  });
});

describe('WebSocketHandler: writing', () => {
  it('sends strings as text, bytes as binary, other values as JSON; the promise resolves once written', async () => {
    class Writer extends WebSocketHandler {
      override async open(): Promise<void> {
        await this.writeMessage('text');
        await this.writeMessage(Buffer.from('bytes'));
        await this.writeMessage({ a: [1, 'two'] });
        await this.writeMessage('forced binary', true);
        await this.writeMessage(Buffer.from('forced text'), false);
        await this.writeMessage(new Uint8Array([7, 8]).buffer);
      }
    }
    const { url } = await start([['/write', Writer]]);
    const client = await open(url('/write'));
    expect(await client.next()).toBe('text');
    expect(await client.next()).toEqual(Buffer.from('bytes'));
    expect(await client.nextJson()).toEqual({ a: [1, 'two'] });
    expect(await client.next()).toEqual(Buffer.from('forced binary'));
    expect(await client.next()).toBe('forced text');
    expect(await client.next()).toEqual(Buffer.from([7, 8]));
  });

  it('writeMessage rejects with WebSocketClosedError once closed (and an unawaited one is not an unhandled rejection); ping throws', async () => {
    const p = probe();
    const { url } = await start([['/late', Recorder, p]]);
    const client = await open(url('/late'));
    const handler = await within(p.opened.promise, 5_000, 'open');
    await handler.writeMessage('while open');
    expect(await client.next()).toBe('while open');
    client.ws.close(1000);
    await within(p.closed.promise, 5_000, 'onClose');
    await expect(handler.writeMessage('too late')).rejects.toBeInstanceOf(WebSocketClosedError);
    void handler.writeMessage('not awaited'); // vitest fails the run on an unhandled rejection
    expect(() => handler.ping()).toThrow(WebSocketClosedError);
    handler.close(1000); // closing again does nothing
    await turns();
  });

  it('write(), the HTTP output, throws after the upgrade', async () => {
    const result = deferred<unknown>();
    class Confused extends WebSocketHandler {
      override open(): void {
        try {
          this.write('http body');
          result.resolve('no error');
        } catch (error) {
          result.resolve(error);
        }
      }
    }
    const { url } = await start([['/confused', Confused]]);
    await open(url('/confused'));
    const error = await within(result.promise, 5_000, 'open');
    expect(String(error)).toMatch(/writeMessage/);
  });
});

describe('WebSocketHandler: the handshake', () => {
  class Plain extends RequestHandler {
    override get(): void {
      this.finish('plain');
    }
  }

  it('refuses a cross-origin page with 403 before the upgrade; open never runs', async () => {
    const p = probe();
    const { srv, url } = await start([['/ws', Recorder, p]]);
    const answer = await refused(url('/ws'), [], { origin: 'http://evil.example' });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 403, title: 'Forbidden' });
    const otherHost = await refused(url('/ws'), [], { origin: 'http://localhost:1' });
    expect(otherHost.status).toBe(403);
    const opaque = await refused(url('/ws'), [], { origin: 'null' });
    expect(opaque.status).toBe(403);
    // A Host that is more than host[:port] cannot be made to look like the attacker's origin.
    const raw = await rawClient(srv.port);
    raw.raw.send(
      upgradeRequest('/ws', 'Origin: http://evil.example\r\n').replace(
        'Host: 127.0.0.1',
        'Host: 127.0.0.1@evil.example',
      ),
    );
    expect((await raw.raw.readResponse()).status).toBe(403);
    expect(p.events).not.toContain('open ');
    expect(p.events.some((e) => e.startsWith('open'))).toBe(false);
  });

  it('accepts the same origin as the Host header, and clients that send no Origin', async () => {
    const p = probe();
    const { srv, url } = await start([['/ws', Recorder, p]]);
    await open(url('/ws'), [], { origin: srv.origin });
    await open(url('/ws'), [], { origin: `HTTP://127.0.0.1:${srv.port}` });
    await open(url('/ws')); // ws sends no Origin unless told
    expect(p.events.filter((e) => e.startsWith('open'))).toHaveLength(3);
  });

  it('checkOrigin can be overridden', async () => {
    class Friendly extends WebSocketHandler {
      override checkOrigin(origin: string): boolean {
        return origin === 'https://friend.example';
      }
    }
    const { url } = await start([['/ws', Friendly]]);
    await open(url('/ws'), [], { origin: 'https://friend.example' });
    expect((await refused(url('/ws'), [], { origin: 'https://foe.example' })).status).toBe(403);
  });

  it('selectSubprotocol picks one of the offered protocols, in the client’s order', async () => {
    const offers: (readonly string[])[] = [];
    class Chat extends WebSocketHandler {
      override selectSubprotocol(protocols: readonly string[]): string | undefined {
        offers.push(protocols);
        return protocols.find((p) => p.startsWith('chat.')) ?? undefined;
      }
      override open(): void {
        void this.writeMessage(this.selectedSubprotocol ?? 'none');
      }
    }
    const { url } = await start([['/ws', Chat]]);
    const chosen = await open(url('/ws'), ['other', 'chat.v2', 'chat.v1']);
    expect(chosen.ws.protocol).toBe('chat.v2');
    expect((await chosen.upgraded).headers['sec-websocket-protocol']).toBe('chat.v2');
    expect(await chosen.next()).toBe('chat.v2');
    const none = await open(url('/ws'));
    expect(none.ws.protocol).toBe('');
    expect((await none.upgraded).headers['sec-websocket-protocol']).toBeUndefined();
    expect(await none.next()).toBe('none');
    expect(offers).toEqual([['other', 'chat.v2', 'chat.v1'], []]);
  });

  it('a subprotocol that was not offered is a 500; a malformed offer a 400', async () => {
    class Wrong extends WebSocketHandler {
      override selectSubprotocol(): string {
        return 'never-offered';
      }
    }
    const { srv, url } = await start([['/ws', Wrong]]);
    expect((await refused(url('/ws'), ['a'])).status).toBe(500);
    const raw = await rawClient(srv.port);
    raw.raw.send(upgradeRequest('/ws', 'Sec-WebSocket-Protocol: a b\r\n'));
    expect((await raw.raw.readResponse()).status).toBe(400);
  });

  it('an upgrade to an unknown path gets 404 on the raw socket, which is then closed', async () => {
    const { srv } = await start([['/ws', Recorder, probe()]]);
    const raw = await rawClient(srv.port);
    raw.raw.send(upgradeRequest('/nowhere'));
    const response = await raw.raw.readResponse();
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.headers.connection).toBe('close');
    expect(JSON.parse(response.body.toString())).toMatchObject({ status: 404 });
    await within(raw.raw.whenClosed, 5_000, 'the server to close the connection');
  });

  it('a WebSocket upgrade to a route that is not a WebSocket is a 400; any other upgrade there is served as a plain request', async () => {
    const { srv } = await start([['/plain', Plain]]);
    const raw = await rawClient(srv.port);
    raw.raw.send(upgradeRequest('/plain'));
    const response = await raw.raw.readResponse();
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body.toString())).toMatchObject({ status: 400 });
    await within(raw.raw.whenClosed, 5_000, 'the server to close the connection');
    const h2c = await rawClient(srv.port);
    h2c.raw.send(
      'GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\n' +
        'Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n',
    );
    const served = await h2c.raw.readResponse();
    expect(served.status).toBe(200);
    expect(served.body.toString()).toBe('plain');
    expect(served.headers.connection).toBe('close');
    await within(h2c.raw.whenClosed, 5_000, 'the server to close the connection');
  });

  it('a plain GET of a WebSocket route is a 400 (and the connection stays usable)', async () => {
    const { srv } = await start([
      ['/ws', Recorder, probe()],
      ['/plain', Plain],
    ]);
    const res = await srv.fetch('/ws');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ detail: 'Can "Upgrade" only to "WebSocket"' });
    expect(await (await srv.fetch('/plain')).text()).toBe('plain');
  });

  it('prepare() can refuse the handshake with an HttpError; bad versions get 426', async () => {
    class Guarded extends WebSocketHandler {
      override prepare(): void {
        if (this.getQueryArgument('token', '') !== 'secret') throw new HttpError(401, 'no token');
      }
    }
    const { srv, url } = await start([['/guarded', Guarded]]);
    const answer = await refused(url('/guarded'));
    expect(answer.status).toBe(401);
    expect(JSON.parse(answer.body)).toMatchObject({ status: 401, detail: 'no token' });
    await open(url('/guarded?token=secret'));
    const raw = await rawClient(srv.port);
    raw.raw.send(upgradeRequest('/guarded?token=secret').replace('Version: 13', 'Version: 7'));
    const response = await raw.raw.readResponse();
    expect(response.status).toBe(426);
    expect(response.headers['sec-websocket-version']).toBe('13');
  });

  it('refuses new handshakes with 503 once the application drains', async () => {
    const { app, url } = await start([['/ws', Recorder, probe()]]);
    app.beginDraining();
    expect((await refused(url('/ws'))).status).toBe(503);
  });
});

describe('WebSocketHandler: limits and liveness', () => {
  it('a message over maxMessageSize closes the connection with 1009', async () => {
    const p = probe();
    class Small extends Recorder {
      override maxMessageSize = 1000;
      override onMessage(message: string | Buffer): void {
        super.onMessage(message.length === 1000 ? 'the largest' : message);
      }
    }
    const { url } = await start([['/small', Small, p]]);
    const client = await open(url('/small'));
    client.ws.send('x'.repeat(1000));
    client.ws.send('y'.repeat(1001));
    expect((await client.waitClosed()).code).toBe(1009);
    await within(p.closed.promise, 5_000, 'onClose');
    expect(p.events.filter((e) => e.startsWith('message'))).toEqual(['message text the largest']);
    expect(p.events.at(-1)).toMatch(/^close 1009/);
  });

  it('the default limit is 10 MiB', async () => {
    const sizes: number[] = [];
    class Default extends WebSocketHandler {
      override onMessage(message: string | Buffer): void {
        sizes.push(message.length);
      }
    }
    expect(DEFAULT_MAX_MESSAGE_SIZE).toBe(10 * 1024 * 1024);
    const { url } = await start([['/big', Default]]);
    const client = await open(url('/big'));
    client.ws.send(Buffer.alloc(DEFAULT_MAX_MESSAGE_SIZE));
    client.ws.send(Buffer.alloc(DEFAULT_MAX_MESSAGE_SIZE + 1));
    expect((await client.waitClosed(15_000)).code).toBe(1009);
    expect(sizes).toEqual([DEFAULT_MAX_MESSAGE_SIZE]);
  });

  it('ping() is answered with a pong (onPong); a client ping reaches onPing', async () => {
    const pong = deferred<string>();
    const ping = deferred<string>();
    class Pinger extends WebSocketHandler {
      override open(): void {
        this.ping('are you there');
      }
      override onPong(data: Buffer): void {
        pong.resolve(data.toString());
      }
      override onPing(data: Buffer): void {
        ping.resolve(data.toString());
      }
    }
    const { url } = await start([['/ping', Pinger]]);
    const client = await open(url('/ping'));
    expect(await within(pong.promise, 5_000, 'the pong')).toBe('are you there');
    const clientPong = new Promise<string>((resolve) =>
      client.ws.once('pong', (data: Buffer) => resolve(data.toString())),
    );
    client.ws.ping('hello server');
    expect(await within(ping.promise, 5_000, 'onPing')).toBe('hello server');
    expect(await within(clientPong, 5_000, 'the automatic pong')).toBe('hello server');
  });

  it('with a ping interval, a live peer stays connected and a silent one is dropped (1006)', async () => {
    const pongs: number[] = [];
    const enoughPongs = deferred();
    const closes: number[] = [];
    const silentClosed = deferred();
    class Heartbeat extends WebSocketHandler {
      override pingIntervalMs = 40;
      override pingTimeoutMs = 200;
      override onPong(): void {
        pongs.push(1);
        if (pongs.length === 6) enoughPongs.resolve();
      }
      override onClose(code: number): void {
        closes.push(code);
        silentClosed.resolve();
      }
    }
    const { url } = await start([['/hb', Heartbeat]]);
    const live = await open(url('/hb'));
    const silent = await open(url('/hb'), [], { autoPong: false });
    await within(silentClosed.promise, 5_000, 'the silent peer to be dropped');
    expect(closes).toEqual([1006]);
    expect((await silent.waitClosed()).code).toBe(1006);
    // Six answered pings (more than the timeout's worth) later, the live one is still open.
    await within(enoughPongs.promise, 5_000, 'six pongs');
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    expect(closes).toEqual([1006]);
  });
});

describe('WebSocketHandler: observers, metrics, shutdown', () => {
  it('observers see the handshake as a request finished with 101, then opened and closed', async () => {
    const p = probe();
    const seen: string[] = [];
    const closedSeen = deferred();
    const { app, url } = await start([['/obs', Recorder, p]]);
    app.addObserver({
      requestStarted: (h) => seen.push(`started ${h.path}`),
      requestFinished: (h) => seen.push(`finished ${h.status}`),
      websocketOpened: (h) => seen.push(`opened ${h.route?.pattern}`),
      websocketClosed: (h) => {
        seen.push(`closed ${h.closeCode}`);
        closedSeen.resolve();
      },
    });
    const client = await open(url('/obs'));
    await within(p.opened.promise, 5_000, 'open');
    client.ws.close(1000);
    await within(closedSeen.promise, 5_000, 'websocketClosed');
    expect(seen).toEqual(['started /obs', 'finished 101', 'opened /obs', 'closed 1000']);
    // The handler's own onClose ran first.
    expect(p.events.at(-1)).toBe('close 1000 ');
    seen.length = 0;
    await refused(url('/obs'), [], { origin: 'http://evil.example' });
    await within(
      (async () => {
        while (seen.length < 2) await turns(1);
      })(),
      5_000,
      'the refused request to finish',
    );
    expect(seen).toEqual(['started /obs', 'finished 403']);
  });

  it('ServiceMetrics counts open sockets in websocket_connections', async () => {
    const metrics = new ServiceMetrics();
    const p = probe();
    const { app, url } = await start([['/m', Recorder, p]]);
    app.addObserver(metrics);
    const gauge = async (): Promise<number> =>
      (await metrics.websockets.get()).values[0]?.value ?? Number.NaN;
    expect(await gauge()).toBe(0);
    const a = await open(url('/m'));
    await open(url('/m'));
    expect(await gauge()).toBe(2);
    a.ws.close();
    await within(p.closed.promise, 5_000, 'onClose');
    await within(
      (async () => {
        while ((await gauge()) !== 1) await turns(1);
      })(),
      5_000,
      'the gauge to drop',
    );
    const exposition = await metrics.registry.metrics();
    expect(exposition).toMatch(/^# TYPE websocket_connections gauge$/m);
    expect(exposition).toMatch(
      /http_request_duration_seconds_count\{[^}]*status_code="101"[^}]*\} 2/,
    );
  });

  it('closing the server closes every socket with 1001 and waits for them', async () => {
    const handlers: WebSocketHandler[] = [];
    const reasons: unknown[] = [];
    const closedCodes: number[] = [];
    const bothOpen = deferred();
    class Member extends WebSocketHandler {
      override open(): void {
        handlers.push(this);
        this.signal.addEventListener('abort', () => reasons.push(this.signal.reason));
        if (handlers.length === 2) bothOpen.resolve();
      }
      override onClose(code: number): void {
        closedCodes.push(code);
      }
    }
    const { srv, url } = await start([['/member', Member]]);
    const a = await open(url('/member'));
    const b = await open(url('/member'));
    await within(bothOpen.promise, 5_000, 'both open');
    const result = await within(srv.server.close(5_000), 8_000, 'the server to close');
    expect(result).toEqual({ forced: false });
    expect(await a.waitClosed()).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(await b.waitClosed()).toEqual({ code: 1001, reason: 'server shutting down' });
    await within(
      (async () => {
        while (closedCodes.length < 2) await turns(1);
      })(),
      5_000,
      'onClose of both',
    );
    expect(closedCodes).toEqual([1001, 1001]);
    expect(reasons.map((r) => (r as RequestAborted).kind)).toEqual(['shutdown', 'shutdown']);
    expect(srv.server.connections).toBe(0);
  });

  it('the drain waits for a peer to answer the close, and destroys it at the deadline', async () => {
    const { srv } = await start([['/ws', Recorder, probe()]]);
    const polite = await rawClient(srv.port);
    expect(await polite.handshake('/ws')).toBe(101);
    const closing = track(srv.server.close(10_000));
    const frame = await polite.nextFrame();
    expect(frame.opcode).toBe(CLOSE);
    expect(frame.payload.readUInt16BE(0)).toBe(1001);
    // No event says "the server left this socket alone": give the drain's idle-socket reaper (which
    // closes keep-alive sockets quiet for 100 ms) ample time to make the mistake, then answer.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(polite.raw.closed).toBe(false);
    expect(closing.settled).toBe(false);
    polite.send(clientFrame(CLOSE, closePayload(1001)));
    expect(await within(closing.promise, 8_000, 'the close')).toEqual({ forced: false });

    const { srv: second } = await start([['/ws', Recorder, probe()]]);
    const rude = await rawClient(second.port);
    expect(await rude.handshake('/ws')).toBe(101);
    const deadline = await within(second.server.close(300), 5_000, 'the deadline');
    expect(deadline).toEqual({ forced: true });
    await within(rude.raw.whenClosed, 5_000, 'the socket to be destroyed');
  });
});
