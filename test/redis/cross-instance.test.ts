/**
 * Two instances of the built service (`dist/main.js`, two workers each) on one real `redis-server`:
 * one chat across both, through real sockets. Each test uses a key prefix of its own.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServiceProcess, startService } from '../support/process.js';
import { has } from '../support/programs.js';
import { RedisServer } from '../support/redis-server.js';
import { within } from '../support/wait.js';
import { TestSocket } from '../support/websocket.js';
import {
  bothWorkersAnswered,
  history,
  type Message,
  messagesOf,
  post,
  send,
} from './chat-client.js';

const skip = !has('redis-server');
let redis: RedisServer;

beforeAll(async () => {
  if (!skip) redis = await RedisServer.start();
});

afterAll(async () => {
  await redis?.destroy();
});

/** Starts `count` instances (WORKERS=2) on the test Redis with the key prefix `prefix`. */
function instances(prefix: string, count = 2): Promise<ServiceProcess[]> {
  const env = { WORKERS: '2', REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix };
  return Promise.all(Array.from({ length: count }, () => startService(env, { timeoutMs: 20_000 })));
}

const prefix = (): string => `t-${randomUUID().slice(0, 8)}`;

describe.skipIf(skip)('two instances on one Redis', () => {
  it('long polls on both workers of one instance get what was posted to the other', async () => {
    const [a, b] = (await instances(prefix())) as [ServiceProcess, ServiceProcess];
    const first = await post(a.port, 'before the polls');
    const polls = Array.from({ length: 4 }, () =>
      send(b.port, `/chat/messages?after=${first.id}&timeout=15`, { timeoutMs: 20_000 }),
    );
    expect((await bothWorkersAnswered(b.port)).size).toBe(2);
    const message = await post(a.port, 'from instance A');
    const answers = await Promise.all(polls);
    for (const answer of answers) expect(messagesOf(answer)).toEqual([message]);
    expect(new Set(answers.map((x) => x.worker)).size, 'the polls sat on one worker').toBe(2);
    for (const answer of answers) expect(answer.ms).toBeLessThan(10_000);
  });

  it('sockets on one instance get messages posted over HTTP and sockets on the other', async () => {
    const [a, b] = (await instances(prefix())) as [ServiceProcess, ServiceProcess];
    const sockets: TestSocket[] = [];
    for (let i = 0; i < 4; i++) {
      const socket = new TestSocket(`ws://127.0.0.1:${b.port}/chat/socket`, [], {
        origin: b.origin,
      });
      await within(socket.opened, 5_000, `socket ${i} to open`);
      sockets.push(socket);
    }
    const sender = new TestSocket(`ws://127.0.0.1:${a.port}/chat/socket`, [], { origin: a.origin });
    await within(sender.opened, 5_000, 'the sending socket to open');
    const overHttp = await post(a.port, 'over HTTP on A');
    sender.ws.send(JSON.stringify({ text: 'over a socket on A' }));
    for (const socket of [...sockets, sender]) {
      const received = [await socket.nextJson<Message>(), await socket.nextJson<Message>()];
      expect(received[0]).toEqual(overHttp);
      expect(received[1]?.text).toBe('over a socket on A');
      expect(received[1]?.id).toBe(overHttp.id + 1);
    }
    for (const socket of [...sockets, sender]) socket.ws.close();
    for (const socket of [...sockets, sender]) await socket.waitClosed();
  });

  it('60 concurrent posts over both get distinct increasing ids and one history everywhere', async () => {
    const [a, b] = (await instances(prefix())) as [ServiceProcess, ServiceProcess];
    const texts = Array.from({ length: 60 }, (_, i) => `concurrent ${i}`);
    const posted = await Promise.all(
      texts.map((text, i) => post(i % 2 === 0 ? a.port : b.port, text)),
    );
    const ids = posted.map((m) => m.id);
    expect(new Set(ids).size).toBe(60);
    expect([...ids].sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    // Several reads per instance, each on a new connection, so both workers of each answer.
    const views = await Promise.all(
      [a, b, a, b, a, b, a, b].map((instance) => send(instance.port, '/chat/messages?after=0')),
    );
    const expected = [...posted].sort((x, y) => x.id - y.id);
    for (const view of views) expect(messagesOf(view)).toEqual(expected);
    expect(new Set(views.map((v) => v.worker)).size).toBeGreaterThanOrEqual(3);
    // after=ID means the same on every instance.
    expect(await history(a.port, 40)).toEqual(expected.slice(40));
    expect(await history(b.port, 40)).toEqual(expected.slice(40));
  });

  it('a restarted instance serves the same history, and the numbering goes on', async () => {
    const shared = prefix();
    const [a] = (await instances(shared, 1)) as [ServiceProcess];
    const posted = [await post(a.port, 'one'), await post(a.port, 'two')];
    a.signal('SIGTERM');
    expect(await a.waitForExit(10_000)).toEqual({ code: 0, signal: null });
    const [again] = (await instances(shared, 1)) as [ServiceProcess];
    expect(await history(again.port)).toEqual(posted);
    expect((await post(again.port, 'three')).id).toBe(3);
  });

  it('a client far behind gets 100 messages per answer and pages with its last id', async () => {
    const [a, b] = (await instances(prefix())) as [ServiceProcess, ServiceProcess];
    for (let i = 0; i < 130; i += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => post(a.port, `m${i + j}`)));
    }
    const page = await history(b.port, 0);
    expect(page.map((m) => m.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    const rest = await history(b.port, 100);
    expect(rest.map((m) => m.id)).toEqual(Array.from({ length: 30 }, (_, i) => i + 101));
    const beyond = await history(b.port, 9_999);
    expect(beyond.map((m) => m.id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 31));
  });

  it('keeps every key under <prefix>:{chat}: and shows the broker in /readyz?verbose and /metrics', async () => {
    const shared = prefix();
    const [a] = (await instances(shared, 1)) as [ServiceProcess];
    await post(a.port, 'keys');
    const keys = await send(a.port, '/readyz?verbose');
    expect(keys.status).toBe(200);
    expect(JSON.parse(keys.body).checks).toEqual([{ name: 'redis', ok: true, critical: false }]);
    const metrics = (await send(a.port, '/metrics')).body;
    expect(metrics).toMatch(/^chat_redis_connected\{connection="command"\} 1$/m);
    expect(metrics).toMatch(/^chat_redis_connected\{connection="subscriber"\} 1$/m);
    expect(metrics).toMatch(/^chat_redis_reconnects_total\{connection="command"\} 0$/m);
    const stored = await redis.keys(`${shared}:*`);
    expect(stored.sort()).toEqual([`${shared}:{chat}:history`, `${shared}:{chat}:last-id`]);
  });
});
