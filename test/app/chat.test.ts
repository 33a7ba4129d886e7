import { request as httpRequest } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createExampleApp } from '../../src/app/app.js';
import type { ChatMessage, ChatRoom } from '../../src/app/chat-room.js';
import type { TestServer } from '../../src/web/testing.js';
import { serveForTest } from '../support/servers.js';
import { track } from '../support/wait.js';

interface Messages {
  messages: ChatMessage[];
}

let srv: TestServer;
let room: ChatRoom;

beforeEach(async () => {
  const service = createExampleApp();
  room = service.room;
  srv = await serveForTest(service.app);
});

afterEach(async () => {
  vi.restoreAllMocks();
});

function post(body: unknown, contentType = 'application/json'): Promise<Response> {
  return srv.fetch('/chat/messages', {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function postText(text: string): Promise<ChatMessage> {
  const res = await post({ text });
  expect(res.status).toBe(201);
  return (await res.json()) as ChatMessage;
}

/** Waits (bounded) until `count` polls are parked in the room. */
async function waitForWaiting(count: number): Promise<void> {
  await vi.waitFor(() => expect(room.waiting).toBe(count), { timeout: 5_000, interval: 5 });
}

async function expectProblem(res: Response, status: number): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ type: 'about:blank', status });
  expect(typeof body.title).toBe('string');
  expect(body).not.toHaveProperty('stack');
  return body;
}

describe('GET /', () => {
  it('answers 200 with a plain-text greeting', async () => {
    const res = await srv.fetch('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const text = await res.text();
    expect(text.trim().length).toBeGreaterThan(0);
    expect(text).toMatch(/hello/i);
  });

  it('HEAD / has the same headers and no body', async () => {
    const get = await srv.fetch('/');
    const getBody = await get.text();
    const head = await srv.fetch('/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(getBody)));
    expect(head.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await head.text()).toBe('');
  });
});

describe('POST /chat/messages', () => {
  it('stores a message and answers 201 with {id, text, at}', async () => {
    const before = Date.now();
    const res = await post({ text: 'hello there' });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const message = (await res.json()) as ChatMessage;
    expect(Object.keys(message).sort()).toEqual(['at', 'id', 'text']);
    expect(message.id).toBe(1);
    expect(message.text).toBe('hello there');
    expect(new Date(message.at).toISOString()).toBe(message.at);
    const at = Date.parse(message.at);
    expect(at).toBeGreaterThanOrEqual(before - 1_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 1_000);
    expect(res.headers.get('location')).toBe('/chat/messages?after=0');
    expect(room.lastId).toBe(1);
    const second = await postText('again');
    expect(second.id).toBe(2);
  });

  it('accepts exactly 1000 characters, counted as code points', async () => {
    const emoji = '😀'.repeat(1000); // 2000 UTF-16 code units
    const message = await postText(emoji);
    expect(message.text).toBe(emoji);
    expect((await postText('a'.repeat(1000))).text).toHaveLength(1000);
    expect((await postText('x')).text).toBe('x');
  });

  it.each([
    ['empty text', { text: '' }],
    ['1001 characters', { text: 'a'.repeat(1001) }],
    ['1001 emoji', { text: '😀'.repeat(1001) }],
    ['a number as text', { text: 5 }],
    ['null as text', { text: null }],
    ['no text', {}],
    ['an array', ['hello']],
    ['a string', 'hello'],
    ['a number', 42],
    ['null', null],
  ])('refuses %s with 422 problem details', async (_name, body) => {
    const res = await post(JSON.stringify(body));
    const problem = await expectProblem(res, 422);
    expect(problem.title).toBe('Unprocessable Entity');
    expect(typeof problem.detail).toBe('string');
    expect(room.lastId).toBe(0);
  });

  it.each([
    ['malformed JSON', '{"text": "hi"'],
    ['an empty body', ''],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d])],
  ])('refuses %s with 400', async (_name, body) => {
    const res = await srv.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
    });
    await expectProblem(res, 400);
    expect(room.lastId).toBe(0);
  });

  it('refuses another content type with 415', async () => {
    const res = await post(JSON.stringify({ text: 'hi' }), 'text/plain');
    await expectProblem(res, 415);
    const form = await post('text=hi', 'application/x-www-form-urlencoded');
    await expectProblem(form, 415);
    expect(room.lastId).toBe(0);
  });
});

describe('GET /chat/messages', () => {
  it('without after: the latest messages at once, oldest first', async () => {
    const empty = await srv.fetch('/chat/messages');
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual({ messages: [] });
    const posted = [await postText('one'), await postText('two'), await postText('three')];
    const res = await srv.fetch('/chat/messages');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({ messages: posted });
    expect(room.waiting).toBe(0);
  });

  it('without after: at most the newest 100', async () => {
    for (let i = 1; i <= 120; i++) room.post(`m${i}`);
    const body = (await (await srv.fetch('/chat/messages')).json()) as Messages;
    expect(body.messages.map((m) => m.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 21));
  });

  it('?after=ID answers 100 messages at most; asking again from the last id gets the rest', async () => {
    for (let i = 1; i <= 150; i++) room.post(`m${i}`);
    const first = (await (await srv.fetch('/chat/messages?after=0')).json()) as Messages;
    expect(first.messages.map((m) => m.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const last = first.messages[first.messages.length - 1]?.id;
    const rest = (await (await srv.fetch(`/chat/messages?after=${last}`)).json()) as Messages;
    expect(rest.messages.map((m) => m.id)).toEqual(Array.from({ length: 50 }, (_, i) => i + 101));
  });

  it('?after beyond the newest id answers the newest 100 at once (a client of an older chat)', async () => {
    for (let i = 1; i <= 120; i++) room.post(`m${i}`);
    const res = await srv.fetch('/chat/messages?after=5000');
    expect(res.status).toBe(200);
    const body = (await res.json()) as Messages;
    expect(body.messages.map((m) => m.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 21));
  });

  it('?after=ID answers at once with the newer messages, oldest first', async () => {
    const posted = [await postText('a'), await postText('b'), await postText('c')];
    const res = await srv.fetch('/chat/messages?after=1');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ messages: posted.slice(1) });
    const all = await srv.fetch('/chat/messages?after=0');
    expect(await all.json()).toEqual({ messages: posted });
    expect(room.waiting).toBe(0);
  });

  it('?after=ID holds the request until a message is posted, then answers with exactly it', async () => {
    await postText('old');
    const poll = track(srv.fetch('/chat/messages?after=1'));
    await waitForWaiting(1);
    expect(poll.settled).toBe(false);
    const message = await postText('new');
    const res = await poll.promise;
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ messages: [message] });
    expect(room.waiting).toBe(0);
  });

  it('?timeout=0.3 answers 204 after about that long', async () => {
    const started = performance.now();
    const res = await srv.fetch('/chat/messages?after=0&timeout=0.3');
    const elapsed = performance.now() - started;
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(3_000);
    expect(room.waiting).toBe(0);
  });

  it.each([
    'timeout=abc',
    'timeout=-1',
    'after=0&timeout=abc',
    'after=abc',
    'after=-1',
    'after=1.5',
  ])('?%s is a 400', async (query) => {
    const res = await srv.fetch(`/chat/messages?${query}`);
    await expectProblem(res, 400);
    expect(room.waiting).toBe(0);
  });

  it('?timeout=1000 is capped at 25 s', async () => {
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const poll = track(srv.fetch('/chat/messages?after=0&timeout=1000'));
    await waitForWaiting(1);
    const delays = setTimeoutSpy.mock.calls.map((call) => call[1]);
    expect(delays).toContain(25_000);
    expect(delays).not.toContain(1_000_000);
    setTimeoutSpy.mockRestore();
    // Held past a second: the timeout was not misread as something small.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(poll.settled).toBe(false);
    expect(room.waiting).toBe(1);
    const message = await postText('release');
    const res = await poll.promise;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ messages: [message] });
  });

  it('50 concurrent polls are all released by one post', async () => {
    await postText('seed');
    const polls = Array.from({ length: 50 }, () => srv.fetch('/chat/messages?after=1'));
    await waitForWaiting(50);
    const message = await postText('for all');
    const responses = await Promise.all(polls);
    const bodies = await Promise.all(responses.map((r) => r.text()));
    for (const res of responses) expect(res.status).toBe(200);
    const expected = JSON.stringify({ messages: [message] });
    for (const body of bodies) expect(body).toBe(expected);
    expect(room.waiting).toBe(0);
  });

  it('a poll whose client disconnects is removed from the room', async () => {
    await postText('seed');
    // A raw request, so that the client side of the socket is closed for sure.
    const req = httpRequest({
      host: '127.0.0.1',
      port: srv.port,
      path: '/chat/messages?after=1',
      agent: false,
    });
    let answered = false;
    req.on('response', () => {
      answered = true;
    });
    req.on('error', () => {}); // the destroy below surfaces as a socket hang-up
    req.end();
    await waitForWaiting(1);
    req.destroy();
    await waitForWaiting(0);
    expect(answered).toBe(false);
    // The room and the server keep working.
    const poll = track(srv.fetch('/chat/messages?after=1'));
    await waitForWaiting(1);
    const message = await postText('after the disconnect');
    expect(await (await poll.promise).json()).toEqual({ messages: [message] });
    expect(room.waiting).toBe(0);
  });

  it('a poll is answered 204 at once when the server shuts down', async () => {
    const poll = srv.fetch('/chat/messages?after=0');
    await waitForWaiting(1);
    const started = performance.now();
    const closing = srv.close(5_000);
    const res = await poll;
    expect(res.status).toBe(204);
    await closing;
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(room.waiting).toBe(0);
  });
});

describe('routing errors', () => {
  it('DELETE /chat/messages is a 405 with Allow', async () => {
    const res = await srv.fetch('/chat/messages', { method: 'DELETE' });
    await expectProblem(res, 405);
    const allow = (res.headers.get('allow') ?? '').split(/,\s*/);
    expect(allow).toEqual(expect.arrayContaining(['GET', 'HEAD', 'POST']));
    expect(allow).not.toContain('DELETE');
  });

  it('an unknown path is a 404 problem', async () => {
    const res = await srv.fetch('/no/such/path');
    const problem = await expectProblem(res, 404);
    expect(problem.title).toBe('Not Found');
  });
});
