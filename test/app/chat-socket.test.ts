/**
 * The chat for people: the room's subscriptions (local and across cluster workers), the WebSocket
 * at /chat/socket next to the long-poll API, and the page with its files.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createExampleApp } from '../../src/app/app.js';
import { ClusterChatRoom } from '../../src/app/chat-cluster.js';
import { STATIC_ROOT } from '../../src/app/chat-page.js';
import { type ChatMessage, ChatRoom } from '../../src/app/chat-room.js';
import { WorkerChannel } from '../../src/service/cluster/worker-channel.js';
import type { TestServer } from '../../src/web/testing.js';
import { serveForTest } from '../support/servers.js';
import { within } from '../support/wait.js';
import { TestSocket } from '../support/websocket.js';

describe('ChatRoom.subscribe', () => {
  it('tells every subscriber each new message, in order, until it unsubscribes', () => {
    const room = new ChatRoom();
    const a: number[] = [];
    const b: number[] = [];
    const stopA = room.subscribe((m) => a.push(m.id));
    room.subscribe((m) => b.push(m.id));
    expect(room.subscribers).toBe(2);
    room.post('one');
    room.deliver({ id: 2, text: 'two', at: new Date().toISOString() });
    stopA();
    stopA(); // twice is harmless
    room.post('three');
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([1, 2, 3]);
    expect(room.subscribers).toBe(1);
  });

  it('the same function subscribed twice is two subscriptions', () => {
    const room = new ChatRoom();
    const seen: number[] = [];
    const listener = (m: ChatMessage): void => {
      seen.push(m.id);
    };
    const first = room.subscribe(listener);
    room.subscribe(listener);
    room.post('x');
    first();
    room.post('y');
    expect(seen).toEqual([1, 1, 2]);
  });

  it('a history loaded by a catching-up worker tells subscribers only what is new to them', () => {
    const room = new ChatRoom();
    room.post('one');
    const seen: string[] = [];
    room.subscribe((m) => seen.push(m.text));
    const at = new Date().toISOString();
    room.load([
      { id: 1, text: 'one', at },
      { id: 2, text: 'two', at },
      { id: 3, text: 'three', at },
    ]);
    expect(seen).toEqual(['two', 'three']);
  });

  it('a listener that throws is reported as a warning; the poster and the other listeners are unaffected', () => {
    const room = new ChatRoom();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const seen: string[] = [];
    room.subscribe(() => {
      throw new Error('listener bug');
    });
    room.subscribe((m) => seen.push(m.text));
    expect(room.post('still posted').id).toBe(1);
    expect(seen).toEqual(['still posted']);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ message: 'listener bug' }),
      'ChatListenerError',
    );
    warn.mockRestore();
  });

  it('in a cluster worker, messages the primary broadcasts reach the subscribers', () => {
    const emitter = new EventEmitter();
    const proc = Object.assign(emitter, { connected: true }) as unknown as NodeJS.Process;
    const room = new ClusterChatRoom(new WorkerChannel(proc));
    const seen: string[] = [];
    const stop = room.subscribe((m) => seen.push(m.text));
    const broadcast = (id: number, text: string): void => {
      emitter.emit('message', {
        t: 'tornode:broadcast',
        topic: 'chat.message',
        payload: { id, text, at: new Date().toISOString() },
      });
    };
    broadcast(1, 'from another worker');
    broadcast(2, 'and another');
    stop();
    broadcast(3, 'after unsubscribing');
    expect(seen).toEqual(['from another worker', 'and another']);
    expect(room.since(1).map((m) => m.text)).toEqual(['and another', 'after unsubscribing']);
  });
});

describe('/chat/socket', () => {
  let srv: TestServer;
  let room: ChatRoom;
  const clients: TestSocket[] = [];

  beforeEach(async () => {
    const service = createExampleApp();
    room = service.room;
    srv = await serveForTest(service.app);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.ws.terminate();
  });

  async function connect(query = '', origin: string | undefined = srv.origin): Promise<TestSocket> {
    const client = new TestSocket(
      `ws://127.0.0.1:${srv.port}/chat/socket${query}`,
      [],
      origin === undefined ? {} : { origin },
    );
    clients.push(client);
    await within(client.opened, 5_000, 'the socket to open');
    return client;
  }

  async function post(text: string): Promise<ChatMessage> {
    const res = await srv.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as ChatMessage;
  }

  it('delivers messages posted over HTTP to every socket, as {"id","text","at"}', async () => {
    const a = await connect();
    const b = await connect();
    const first = await post('hello');
    const second = await post('<b>bold</b> & "quoted"');
    for (const client of [a, b]) {
      expect(await client.nextJson()).toEqual(first);
      expect(await client.nextJson()).toEqual(second);
    }
  });

  it('posts what a socket sends: it reaches the other sockets, the sender, and the long polls', async () => {
    const sender = await connect();
    const other = await connect();
    const poll = srv.fetch('/chat/messages?after=0');
    await vi.waitFor(() => expect(room.waiting).toBe(1), { timeout: 5_000, interval: 5 });
    sender.ws.send(JSON.stringify({ text: 'over the socket' }));
    const message = await other.nextJson<ChatMessage>();
    expect(message).toMatchObject({ id: 1, text: 'over the socket' });
    expect(await sender.nextJson()).toEqual(message);
    const res = await within(poll, 5_000, 'the long poll');
    expect(await res.json()).toEqual({ messages: [message] });
  });

  it('with ?after=ID sends the messages newer than ID first, then the new ones; without, only new ones', async () => {
    await post('m1');
    await post('m2');
    await post('m3');
    const caughtUp = await connect('?after=1');
    const fresh = await connect();
    await post('m4');
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) texts.push((await caughtUp.nextJson<ChatMessage>()).text);
    expect(texts).toEqual(['m2', 'm3', 'm4']);
    expect((await fresh.nextJson<ChatMessage>()).text).toBe('m4');
    expect(fresh.pending).toBe(0);
  });

  it('answers a message it cannot post with {"error"} and stays open', async () => {
    const client = await connect();
    client.ws.send('not json');
    expect(await client.nextJson()).toEqual({
      error: { status: 400, detail: 'expected JSON like {"text": "..."}' },
    });
    client.ws.send(JSON.stringify({ text: '' }));
    expect(await client.nextJson()).toMatchObject({ error: { status: 422 } });
    client.ws.send(JSON.stringify({ text: 'x'.repeat(1001) }));
    expect(await client.nextJson()).toMatchObject({ error: { status: 422 } });
    client.ws.send(JSON.stringify([1]));
    expect(await client.nextJson()).toMatchObject({ error: { status: 422 } });
    client.ws.send(Buffer.from('{"text":"binary"}'));
    expect(await client.nextJson()).toEqual({ error: { status: 422, detail: 'send text frames' } });
    client.ws.send('{"__proto__": {"text": "x"}}');
    expect(await client.nextJson()).toMatchObject({ error: { status: 400 } });
    client.ws.send(JSON.stringify({ text: 'fine' }));
    expect(await client.nextJson()).toMatchObject({ id: 1, text: 'fine' });
    expect(room.lastId).toBe(1);
  });

  it('refuses other origins (403) and a bad after (400); the same origin and origin-less clients are welcome', async () => {
    for (const [query, origin, status] of [
      ['', 'http://evil.example', 403],
      ['', `http://localhost:${srv.port}`, 403],
      ['?after=abc', srv.origin, 400],
    ] as const) {
      const client = new TestSocket(`ws://127.0.0.1:${srv.port}/chat/socket${query}`, [], {
        origin,
      });
      clients.push(client);
      await expect(within(client.opened, 5_000, 'the refusal')).rejects.toThrow();
      await client.waitClosed();
      expect(client.refusal?.status).toBe(status);
    }
    await connect('', srv.origin);
    await connect('', undefined);
  });

  it('stops telling a socket once it is closed', async () => {
    const client = await connect();
    expect(room.subscribers).toBe(1);
    client.ws.close();
    await client.waitClosed();
    await vi.waitFor(() => expect(room.subscribers).toBe(0), { timeout: 5_000, interval: 5 });
  });

  it('closes (1008) a socket whose client stops reading and lets megabytes pile up', async () => {
    const slow = await connect();
    slow.ws.pause(); // the client stops reading: the server's sends back up
    const text = 'x'.repeat(1000);
    // More than the kernel's socket buffers and the 1 MiB allowance together.
    for (let i = 0; i < 20_000; i++) room.post(text);
    slow.ws.resume();
    const closed = await slow.waitClosed(15_000);
    expect(closed).toEqual({ code: 1008, reason: 'too slow' });
    await vi.waitFor(() => expect(room.subscribers).toBe(0), { timeout: 5_000, interval: 5 });
  });
});

describe('the page', () => {
  let srv: TestServer;

  beforeEach(async () => {
    srv = await serveForTest(createExampleApp().app);
  });

  it('GET /chat/ is the HTML page, with a strict Content-Security-Policy; /chat redirects there', async () => {
    const res = await srv.fetch('/chat/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html).toBe(await readFile(join(STATIC_ROOT, 'chat.html'), 'utf8'));
    expect(html).toContain('src="/static/chat.js"');
    expect(html).toContain('href="/static/chat.css"');
    const redirect = await srv.fetch('/chat', { redirect: 'manual' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get('location')).toBe('/chat/');
  });

  it('serves the page’s files under /static/ with ETags (304 on revalidation)', async () => {
    for (const [file, type] of [
      ['chat.js', 'text/javascript; charset=utf-8'],
      ['chat.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await srv.fetch(`/static/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(await res.text()).toBe(await readFile(join(STATIC_ROOT, file), 'utf8'));
      const etag = res.headers.get('etag');
      expect(etag).toBeTruthy();
      const again = await srv.fetch(`/static/${file}`, {
        headers: { 'If-None-Match': etag ?? '' },
      });
      expect(again.status).toBe(304);
    }
    expect((await srv.fetch('/static/missing.js')).status).toBe(404);
    expect((await srv.fetch('/static/../package.json')).status).not.toBe(200);
  });

  it('the page script sets message text with textContent only (never as HTML)', async () => {
    const script = await readFile(join(STATIC_ROOT, 'chat.js'), 'utf8');
    expect(script).toContain('text.textContent = message.text');
    expect(script).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});
