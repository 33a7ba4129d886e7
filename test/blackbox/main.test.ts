/**
 * Black-box tests of the built entry point (`dist/main.js`, built by `npm run build`), written
 * against the service contract only.
 */
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { type ServiceProcess, spawnService, startService } from '../support/process.js';

interface RawResponse {
  readonly status: number;
  readonly body: string;
}

/**
 * A GET on its own connection. `sent` resolves once the whole request has been handed to the OS;
 * `response` with the complete answer.
 */
function rawGet(
  port: number,
  path: string,
): { sent: Promise<void>; response: Promise<RawResponse> } {
  const req = httpRequest({ host: '127.0.0.1', port, path, agent: false });
  const sent = new Promise<void>((resolve, reject) => {
    req.once('finish', () => resolve());
    req.once('error', reject);
  });
  const response = new Promise<RawResponse>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
  });
  req.end();
  return { sent, response };
}

/**
 * Starts a long poll that cannot be answered yet and returns once the service has surely taken it
 * in: its request was fully sent, and a request sent after it on another connection has already
 * been answered (one event loop serves both, and this one's bytes arrived first).
 */
async function parkedPoll(service: ServiceProcess): Promise<{ response: Promise<RawResponse> }> {
  const latest = (await (await service.fetch('/chat/messages')).json()) as {
    messages: { id: number }[];
  };
  const lastId = latest.messages.at(-1)?.id ?? 0;
  const poll = rawGet(service.port, `/chat/messages?after=${lastId}&timeout=20`);
  await poll.sent;
  const barrier = await service.fetch('/');
  await barrier.text();
  expect(barrier.status).toBe(200);
  // Wrapped: an async function returning the promise itself would wait for it.
  return { response: poll.response };
}

function settledWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

describe('dist/main.js', () => {
  it('says listening with the port it picked, and serves GET /', async () => {
    const service = await startService();
    expect(service.listeningLines).toHaveLength(1);
    expect(service.port).toBeGreaterThan(0);
    const res = await service.fetch('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await res.text()).trim().length).toBeGreaterThan(0);
    expect(service.isRunning).toBe(true);
  });

  it('two services started with PORT=0 get different ports', async () => {
    const [a, b] = await Promise.all([startService(), startService()]);
    expect(a.port).not.toBe(b.port);
    expect((await a.fetch('/')).status).toBe(200);
    expect((await b.fetch('/')).status).toBe(200);
  });

  it('runs a chat round trip', async () => {
    const service = await startService();
    const posted = await service.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'hello, black box' }),
    });
    expect(posted.status).toBe(201);
    const message = (await posted.json()) as { id: number; text: string; at: string };
    expect(message.text).toBe('hello, black box');
    expect(Number.isInteger(message.id)).toBe(true);
    expect(new Date(message.at).toISOString()).toBe(message.at);

    const read = await service.fetch(`/chat/messages?after=${message.id - 1}`);
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({ messages: [message] });

    // A long poll from the newest id is released by the next post, with exactly that message.
    const poll = await parkedPoll(service);
    const next = await service.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'second' }),
    });
    expect(next.status).toBe(201);
    const second = (await next.json()) as { id: number };
    const answer = await settledWithin(poll.response, 5_000, 'the long poll');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ messages: [second] });

    const invalid = await service.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: '' }),
    });
    expect([400, 422]).toContain(invalid.status);
    expect(invalid.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    await invalid.text();
  });

  it.each([
    ['PORT', 'abc'],
    ['WORKERS', '0'],
    ['LOG_LEVEL', 'loud'],
  ])('%s=%s stops start-up with a one-line message naming it', async (variable, value) => {
    const started = performance.now();
    const service = spawnService({ [variable]: value });
    const exit = await service.waitForExit(5_000);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    const lines = service.stderr.trim().split('\n');
    expect(lines, service.describe()).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`\\b${variable}\\b`));
    expect(service.listeningLines).toEqual([]);
    expect(service.stdoutLines.join('\n')).not.toMatch(/listening/);
  });

  it('on SIGTERM answers a waiting long poll at once with 204 and exits 0', async () => {
    const service = await startService();
    const poll = await parkedPoll(service);
    const signalled = performance.now();
    service.signal('SIGTERM');
    const answer = await settledWithin(poll.response, 3_000, 'the long poll after SIGTERM');
    expect(answer.status).toBe(204);
    expect(answer.body).toBe('');
    expect(performance.now() - signalled).toBeLessThan(3_000);
    const exit = await service.waitForExit(8_000);
    expect(exit, service.describe()).toEqual({ code: 0, signal: null });
  });

  it('on SIGINT exits 0', async () => {
    const service = await startService();
    const res = await service.fetch('/');
    expect(res.status).toBe(200);
    await res.text();
    service.signal('SIGINT');
    const exit = await service.waitForExit(8_000);
    expect(exit, service.describe()).toEqual({ code: 0, signal: null });
  });
});
