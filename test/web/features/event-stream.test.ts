import { describe, expect, it } from 'vitest';
import { type EventStream, type RequestAborted, RequestHandler } from '../../../src/web/index.js';
import { decodeChunked, parseResponse } from '../../support/http.js';
import { captureLogger } from '../../support/loggers.js';
import { serveApp } from '../../support/servers.js';
import { RawClient } from '../../support/socket.js';
import { deferred, within } from '../../support/wait.js';

/** The stream a handler made, and what happened to it, for the test to look at. */
const seen: {
  stream: EventStream | null;
  ended: ReturnType<typeof deferred<string>>;
} = { stream: null, ended: deferred<string>() };

function reset(): void {
  seen.stream = null;
  seen.ended = deferred<string>();
}

function timerOf(stream: EventStream | null): unknown {
  return (stream as unknown as { timer: unknown }).timer;
}

class Framing extends RequestHandler {
  override async get(): Promise<void> {
    const events = this.eventStream({ heartbeatMs: 0 });
    await events.send({
      event: 'greeting',
      id: '7',
      retry: 2500,
      data: 'line one\nline two\r\nline three\rline four',
    });
    await events.send({ data: { n: 1, text: 'a\nb' } });
    await events.send({ data: '' });
    await events.comment('a note\nin two lines');
    await events.send({ data: `last-event-id=${events.lastEventId ?? 'none'}` });
  }
}

class Injection extends RequestHandler {
  override get(): void {
    const events = this.eventStream({ heartbeatMs: 0 });
    const results: string[] = [];
    for (const bad of [{ event: 'a\nevent: evil' }, { id: '1\r' }, { id: 'a\u0000' }]) {
      try {
        events.send({ data: 'x', ...bad });
        results.push('sent');
      } catch (error) {
        results.push((error as Error).name);
      }
    }
    events.send({ data: results.join(',') }).catch(() => {});
    events.close();
  }
}

/** Holds the stream open until the client leaves or the server drains. */
class Hold extends RequestHandler {
  override async get(): Promise<void> {
    const events = this.eventStream({ heartbeatMs: Number(this.getQueryArgument('hb', '0')) });
    seen.stream = events;
    await events.send({ data: 'open' });
    await new Promise<void>((resolve) => {
      if (this.signal.aborted) resolve();
      this.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    const reason = this.signal.reason as RequestAborted;
    seen.ended.resolve(`${reason.kind} closed=${events.closed} timer=${timerOf(events)}`);
    await events.send({ data: 'too late' }); // rejects with the abort reason: ends quietly
  }
}

const flood = {
  blockedAfter: 0,
  blocked: deferred(),
  resumed: deferred(),
  isResumed: false,
};

class Flood extends RequestHandler {
  override async get(): Promise<void> {
    const events = this.eventStream({ heartbeatMs: 0 });
    const big = 'x'.repeat(64 * 1024);
    for (let sent = 1; sent <= 2_000; sent++) {
      const delivered = events.send({ data: big });
      const state = await Promise.race([
        delivered.then(() => 'delivered'),
        new Promise<string>((resolve) => setImmediate(() => resolve('pending'))),
      ]);
      if (state === 'pending') {
        flood.blockedAfter = sent;
        flood.blocked.resolve();
        await delivered;
        flood.isResumed = true;
        flood.resumed.resolve();
        events.close();
        return;
      }
    }
    throw new Error('send never waited for the client');
  }
}

const ROUTES = [
  ['/framing', Framing],
  ['/injection', Injection],
  ['/hold', Hold],
  ['/flood', Flood],
] as const;

describe('server-sent events', () => {
  it('sends the headers at once and frames events, multi-line data and comments', async () => {
    const srv = await serveApp([...ROUTES]);
    const client = await RawClient.connect(srv.port);
    client.get('/framing', 'Last-Event-ID: 41\r\n');
    const response = await client.readResponse();
    client.destroy();
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/event-stream');
    expect(response.headers['cache-control']).toBe('no-cache');
    expect(response.chunked).toBe(true);
    expect(response.body.toString()).toBe(
      'id: 7\nevent: greeting\nretry: 2500\n' +
        'data: line one\ndata: line two\ndata: line three\ndata: line four\n\n' +
        'data: {"n":1,"text":"a\\nb"}\n\n' +
        'data: \n\n' +
        ': a note\n: in two lines\n' +
        'data: last-event-id=41\n\n',
    );
  });

  it('refuses CR, LF (and NUL in ids) in event types and ids', async () => {
    const srv = await serveApp([...ROUTES]);
    const res = await srv.fetch('/injection');
    expect(await res.text()).toBe('data: TypeError,TypeError,TypeError\n\n');
  });

  it('sends heartbeat comments on a timer, cleared when the client leaves', async () => {
    reset();
    const logger = captureLogger();
    const srv = await serveApp([...ROUTES], { logger });
    const client = await RawClient.connect(srv.port);
    client.get('/hold?hb=20');
    await client.until(
      () => (client.buffer.toString('latin1').match(/\r\n:\n\r\n/g) ?? []).length >= 2,
      5_000,
      'two heartbeats',
    );
    const body = decodeChunked(parseResponse(client.buffer).afterHead).body.toString();
    expect(body.startsWith('data: open\n\n:\n:\n')).toBe(true);
    expect(timerOf(seen.stream)).not.toBeNull();
    client.destroy();
    expect(await within(seen.ended.promise, 5_000, 'the stream to end')).toBe(
      'disconnect closed=true timer=null',
    );
    expect(logger.errors()).toEqual([]);
  });

  it('ends cleanly when the server drains, so close() is not forced', async () => {
    reset();
    const logger = captureLogger();
    const srv = await serveApp([...ROUTES], { logger });
    const res = await srv.fetch('/hold?hb=10000');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value as Uint8Array).toString()).toBe('data: open\n\n');
    const closing = srv.server.close(5_000);
    let rest = '';
    for (;;) {
      const { done, value } = await within(reader.read(), 5_000, 'the stream to end');
      if (done) break;
      rest += Buffer.from(value).toString();
    }
    expect(rest).toBe(''); // nothing after the drain, and a proper end (no error thrown above)
    expect(await closing).toEqual({ forced: false });
    expect(await within(seen.ended.promise, 5_000, 'the handler')).toBe(
      'shutdown closed=true timer=null',
    );
    expect(logger.errors()).toEqual([]);
  });

  it('send() waits for a slow client (back-pressure)', async () => {
    const srv = await serveApp([...ROUTES]);
    const client = await RawClient.connect(srv.port);
    client.socket.pause(); // read nothing: the buffers fill up
    client.get('/flood');
    await within(flood.blocked.promise, 15_000, 'send to wait for the client');
    expect(flood.blockedAfter).toBeGreaterThan(0);
    expect(flood.isResumed).toBe(false);
    client.socket.resume();
    await within(flood.resumed.promise, 15_000, 'send to resolve once the client reads');
    expect(flood.isResumed).toBe(true);
    client.destroy();
  });
});
