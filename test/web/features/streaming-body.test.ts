import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { describe, expect, it } from 'vitest';
import { HttpError, RequestHandler } from '../../../src/web/index.js';
import { buildRequest, chunk, LAST_CHUNK, rawRequest } from '../../support/http.js';
import { captureLogger } from '../../support/loggers.js';
import { serveApp } from '../../support/servers.js';
import { RawClient } from '../../support/socket.js';
import { deferred, until, within } from '../../support/wait.js';
import { problem } from './support.js';

/** What the handlers saw, in order. */
let events: string[] = [];
let prepared = deferred();
let uploadClosed = deferred();

class Upload extends RequestHandler {
  static streamRequestBody = true;
  private size = 0;

  override prepare(): void {
    events.push(`prepare complete=${this.request.complete}`);
    const limit = this.getQueryArgument('limit', '');
    if (limit !== '') this.setMaxBodyBytes(Number(limit));
    prepared.resolve();
  }

  override dataReceived(piece: Buffer): void {
    this.size += piece.length;
    events.push(`data ${piece.toString()}`);
  }

  override post(): void {
    events.push('post');
    this.write({ size: this.size, body: this.body.length });
  }

  override get(): void {
    events.push('get');
    this.write('no body');
  }

  override onConnectionClose(): void {
    events.push('closed');
    uploadClosed.resolve();
  }
}

/** Holds each chunk until the test releases it. */
const gate = {
  pending: null as ReturnType<typeof deferred<void>> | null,
  calls: 0,
  request: null as IncomingMessage | null,
  arrived: deferred(),
};

class Slow extends RequestHandler {
  static streamRequestBody = true;
  private received = '';

  override async dataReceived(piece: Buffer): Promise<void> {
    gate.calls++;
    gate.request = this.request;
    this.received += piece.toString();
    gate.pending = deferred();
    gate.arrived.resolve();
    await gate.pending.promise;
  }

  override post(): void {
    this.write(this.received);
  }
}

class Failing extends RequestHandler {
  static streamRequestBody = true;
  override async dataReceived(): Promise<void> {
    throw new HttpError(422, 'not this body');
  }
  override post(): void {
    events.push('post');
  }
}

class Forgetful extends RequestHandler {
  static streamRequestBody = true;
  override post(): void {}
}

/** The documented way to take a multipart upload as a stream: pipe the chunks through busboy. */
class MultipartStream extends RequestHandler {
  static streamRequestBody = true;
  private parser!: busboy.Busboy;
  private parsed!: Promise<unknown>;
  private readonly parts: string[] = [];

  override prepare(): void {
    this.parser = busboy({ headers: this.request.headers });
    this.parser.on('field', (name, value) => this.parts.push(`${name}=${value}`));
    this.parser.on('file', (name, stream, info) => {
      let size = 0;
      stream.on('data', (data: Buffer) => {
        size += data.length;
      });
      stream.on('end', () => this.parts.push(`${name}:${info.filename}:${size}`));
    });
    this.parsed = once(this.parser, 'close');
  }

  override async dataReceived(piece: Buffer): Promise<void> {
    if (!this.parser.write(piece)) await once(this.parser, 'drain');
  }

  override async post(): Promise<void> {
    this.parser.end();
    await this.parsed;
    this.write(this.parts);
  }
}

const ROUTES = [
  ['/upload', Upload],
  ['/slow', Slow],
  ['/failing', Failing],
  ['/forgetful', Forgetful],
  ['/multipart', MultipartStream],
] as const;

function reset(): void {
  events = [];
  prepared = deferred();
  uploadClosed = deferred();
}

describe('streaming request bodies', () => {
  it('runs prepare before the body is read, then dataReceived per chunk, then the verb', async () => {
    reset();
    const srv = await serveApp([...ROUTES]);
    const client = await RawClient.connect(srv.port);
    client.send(
      buildRequest('POST', '/upload', { 'Transfer-Encoding': 'chunked', Connection: 'close' }),
    );
    await within(prepared.promise, 5_000, 'prepare before any body was sent');
    client.send(chunk('one'));
    await until(() => events.length === 2, 'the first chunk', { intervalMs: 5 });
    client.send(chunk('two'));
    client.send(LAST_CHUNK);
    const response = await client.readResponse();
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ size: 6, body: 0 });
    expect(events).toEqual(['prepare complete=false', 'data one', 'data two', 'post']);
  });

  it('runs the verb at once for a request without a body', async () => {
    reset();
    const srv = await serveApp([...ROUTES]);
    const res = await srv.fetch('/upload');
    expect(await res.text()).toBe('no body');
    expect(events.map((e) => e.split(' ')[0])).toEqual(['prepare', 'get']);
  });

  it('pauses the request while dataReceived is pending (back-pressure)', async () => {
    const srv = await serveApp([...ROUTES]);
    const client = await RawClient.connect(srv.port);
    client.send(
      buildRequest('POST', '/slow', { 'Transfer-Encoding': 'chunked', Connection: 'close' }),
    );
    client.send(chunk('first'));
    await within(gate.arrived.promise, 5_000, 'the first chunk');
    const request = gate.request as IncomingMessage;
    // More body reaches the server while the first chunk is still being handled: it must wait.
    client.send(chunk('second'));
    client.send(LAST_CHUNK);
    await until(() => request.readableLength >= 'second'.length, 'the second chunk to arrive', {
      intervalMs: 5,
    });
    expect(request.isPaused()).toBe(true);
    expect(gate.calls).toBe(1);
    gate.pending?.resolve();
    await until(() => gate.calls === 2, 'the second chunk once the first was handled', {
      intervalMs: 5,
    });
    gate.pending?.resolve();
    const response = await client.readResponse();
    expect(response.body.toString()).toBe('firstsecond');
  });

  it('stops when the client leaves mid-body: no verb, onConnectionClose runs', async () => {
    reset();
    const srv = await serveApp([...ROUTES]);
    const client = await RawClient.connect(srv.port);
    client.send(buildRequest('POST', '/upload', { 'Transfer-Encoding': 'chunked' }));
    client.send(chunk('part'));
    await until(() => events.length === 2, 'the first chunk', { intervalMs: 5 });
    client.destroy();
    await within(uploadClosed.promise, 5_000, 'onConnectionClose');
    expect(events).toEqual(['prepare complete=false', 'data part', 'closed']);
  });

  it('answers 413 once the body passes the limit set in prepare, and stops reading', async () => {
    reset();
    const srv = await serveApp([...ROUTES]);
    const result = await rawRequest(srv.port, [
      buildRequest('POST', '/upload?limit=5', { 'Transfer-Encoding': 'chunked' }),
      chunk('abc'),
      chunk('defgh'),
      chunk('more that is never read'),
      LAST_CHUNK,
    ]);
    expect(result.response.status).toBe(413);
    expect(result.response.header('connection')).toBe('close');
    expect(result.closedByServer).toBe(true);
    expect(events).toEqual(['prepare complete=false', 'data abc']);
  });

  it('answers 413 for a Content-Length over the limit before reading anything', async () => {
    reset();
    const srv = await serveApp([...ROUTES], { maxBodyBytes: 4 });
    const res = await srv.fetch('/upload', { method: 'POST', body: 'too long' });
    expect(res.status).toBe(413);
    expect((await problem(res)).detail).toBe('request body larger than 4 bytes');
    expect(events).toEqual(['prepare complete=false']);
  });

  it('lets setMaxBodyBytes raise the limit above the application default', async () => {
    reset();
    const srv = await serveApp([...ROUTES], { maxBodyBytes: 4 });
    const res = await srv.fetch('/upload?limit=100', { method: 'POST', body: 'longer body' });
    expect(await res.json()).toEqual({ size: 11, body: 0 });
  });

  it('turns an error in dataReceived into the response, without running the verb', async () => {
    reset();
    const srv = await serveApp([...ROUTES]);
    const res = await srv.fetch('/failing', { method: 'POST', body: 'x' });
    expect(res.status).toBe(422);
    expect(events).toEqual([]);
  });

  it('answers 500 when a streaming class has no dataReceived', async () => {
    const logger = captureLogger();
    const srv = await serveApp([...ROUTES], { logger });
    const res = await srv.fetch('/forgetful', { method: 'POST', body: 'x' });
    expect(res.status).toBe(500);
    const logged = logger.errors()[0]?.obj as { err?: Error } | undefined;
    expect(logged?.err?.message).toBe(
      'Forgetful streams its body but does not define dataReceived',
    );
  });

  it('can pipe a multipart upload through busboy as it arrives', async () => {
    const srv = await serveApp([...ROUTES]);
    const form = new FormData();
    form.append('title', 'holiday');
    form.append('photo', new Blob([Buffer.alloc(100_000, 1)]), 'beach.jpg');
    const res = await srv.fetch('/multipart', { method: 'POST', body: form });
    expect(await res.json()).toEqual(['title=holiday', 'photo:beach.jpg:100000']);
  });
});
