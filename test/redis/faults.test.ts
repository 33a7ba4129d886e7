/**
 * The Redis chat when things go wrong, on the built service and a real `redis-server`: Redis
 * stopped and started again under two running instances, a bad `REDIS_URL`, a Redis that is not
 * there at start-up, and SIGTERM with Redis connected.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { type ServiceProcess, spawnService, startService } from '../support/process.js';
import { has } from '../support/programs.js';
import { RedisServer } from '../support/redis-server.js';
import { freePort } from '../support/socket.js';
import { history, messagesOf, post, redisCheckOk, send } from './chat-client.js';

const skip = !has('redis-server');
const servers: RedisServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.destroy()));
});

async function redisServer(): Promise<RedisServer> {
  const server = await RedisServer.start();
  servers.push(server);
  return server;
}

function env(url: string): Record<string, string> {
  return { WORKERS: '2', REDIS_URL: url, REDIS_KEY_PREFIX: `f-${randomUUID().slice(0, 8)}` };
}

describe.skipIf(skip)('the Redis chat when Redis goes away and comes back', () => {
  it('posting answers 503 fast while the rest serves; afterwards it recovers by itself', async () => {
    const redis = await redisServer();
    const shared = env(redis.url);
    const [a, b] = (await Promise.all([
      startService(shared, { timeoutMs: 20_000 }),
      startService(shared, { timeoutMs: 20_000 }),
    ])) as [ServiceProcess, ServiceProcess];
    const seen = await post(a.port, 'before the outage');
    // A poll held through the whole outage, on the instance that does not take the next post.
    const held = send(b.port, `/chat/messages?after=${seen.id}&timeout=25`, { timeoutMs: 30_000 });

    await redis.stop();
    await redisCheckOk(a.port, false);
    for (const instance of [a, b]) {
      for (let i = 0; i < 4; i++) {
        const refused = await send(instance.port, '/chat/messages', { json: { text: 'lost?' } });
        expect(refused.status).toBe(503);
        expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(refused.headers['retry-after']).toMatch(/^\d+$/);
        expect(JSON.parse(refused.body)).toMatchObject({
          status: 503,
          title: 'Service Unavailable',
        });
        expect(refused.ms).toBeLessThan(2_000);
      }
      expect((await send(instance.port, '/')).status).toBe(200);
      expect((await send(instance.port, '/livez')).status).toBe(200);
      const ready = await send(instance.port, '/readyz?verbose');
      expect(ready.status, 'Redis is not a reason to take every pod out').toBe(200);
      expect(JSON.parse(ready.body).checks[0]).toMatchObject({ name: 'redis', ok: false });
      const metrics = (await send(instance.port, '/metrics')).body;
      expect(metrics).toMatch(/^chat_redis_connected\{connection="command"\} 0$/m);
      // What the instance has stays readable, and a short poll ends with 204.
      expect(messagesOf(await send(instance.port, '/chat/messages'))).toContainEqual(seen);
      expect(
        (await send(instance.port, `/chat/messages?after=${seen.id}&timeout=0.2`)).status,
      ).toBe(204);
    }

    await redis.restart();
    await redisCheckOk(a.port, true);
    await redisCheckOk(b.port, true);
    const after = await post(a.port, 'after the outage');
    expect(after.id).toBe(seen.id + 1);
    const poll = await send(b.port, `/chat/messages?after=${seen.id}`);
    expect(messagesOf(poll)).toEqual([after]);
    // The poll held through the outage got it too.
    expect(messagesOf(await held)).toEqual([after]);
    const metrics = (await send(a.port, '/metrics')).body;
    expect(metrics).toMatch(/^chat_redis_reconnects_total\{connection="command"\} [1-9]/m);
    expect(a.isRunning && b.isRunning).toBe(true);
  }, 60_000);

  it('a subscription cut off (CLIENT KILL TYPE pubsub) loses nothing: the history is reloaded', async () => {
    const redis = await redisServer();
    const shared = env(redis.url);
    const [a, b] = (await Promise.all([
      startService(shared, { timeoutMs: 20_000 }),
      startService(shared, { timeoutMs: 20_000 }),
    ])) as [ServiceProcess, ServiceProcess];
    const seen = await post(a.port, 'before the cut');
    await redis.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    const posted = [];
    for (let i = 0; i < 5; i++) posted.push(await post(a.port, `during the cut ${i}`));
    await redisCheckOk(b.port, true);
    expect(await history(b.port, seen.id)).toEqual(posted);
    const metrics = (await send(b.port, '/metrics')).body;
    expect(metrics).toMatch(/^chat_redis_reconnects_total\{connection="subscriber"\} [1-9]/m);
  });

  it('while Redis hangs (SIGSTOP) a post gets 503 after the command timeout, not a hang', async () => {
    const redis = await redisServer();
    const service = await startService({ ...env(redis.url), WORKERS: '1' }, { timeoutMs: 20_000 });
    const before = await post(service.port, 'before the freeze');
    redis.pause();
    try {
      const refused = await send(service.port, '/chat/messages', { json: { text: 'frozen' } });
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('2');
      expect(refused.ms).toBeGreaterThan(500);
      expect(refused.ms).toBeLessThan(2_500);
      expect((await send(service.port, '/livez')).status).toBe(200);
      expect(messagesOf(await send(service.port, '/chat/messages'))).toContainEqual(before);
    } finally {
      redis.resume();
    }
    // Whether the refused post ran late or not, posting works again on the same connection.
    const after = await post(service.port, 'after the freeze');
    expect(after.id).toBeGreaterThan(before.id);
  });

  it('SIGTERM while Redis is unreachable still exits 0', async () => {
    const service = await startService(
      { ...env(`redis://127.0.0.1:${await freePort()}`), WORKERS: '1' },
      { timeoutMs: 20_000 },
    );
    service.signal('SIGTERM');
    expect(await service.waitForExit(15_000)).toEqual({ code: 0, signal: null });
  });

  it('starts without Redis, serves everything else, and joins the chat when Redis appears', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const service = await startService({ ...env(url), WORKERS: '1' }, { timeoutMs: 20_000 });
    expect((await send(service.port, '/')).status).toBe(200);
    expect((await send(service.port, '/chat/messages', { json: { text: 'x' } })).status).toBe(503);
    servers.push(await RedisServer.start(port));
    await redisCheckOk(service.port, true);
    const message = await post(service.port, 'Redis is here');
    expect(await history(service.port)).toEqual([message]);
  }, 60_000);
});

describe.skipIf(skip)('the Redis chat: configuration and shutdown', () => {
  it('a bad REDIS_URL stops start-up with exit 78 and one line naming it', async () => {
    const service = spawnService({ REDIS_URL: 'http://user:secret@redis:6379' });
    const exit = await service.waitForExit(10_000);
    expect(exit).toEqual({ code: 78, signal: null });
    expect(service.listeningLines).toEqual([]);
    const lines = service.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^configuration error: REDIS_URL=.* is not valid: expected redis:\/\//,
    );
    expect(service.stderr).not.toContain('secret');
  });

  it('SIGTERM with Redis connected exits 0 (both workers close their connections)', async () => {
    const redis = await redisServer();
    const service = await startService(env(redis.url), { timeoutMs: 20_000 });
    await post(service.port, 'connected');
    const clientsBefore = await redis.cli('CLIENT', 'LIST');
    expect(clientsBefore.trim().split('\n').length).toBeGreaterThanOrEqual(4);
    service.signal('SIGTERM');
    expect(await service.waitForExit(15_000)).toEqual({ code: 0, signal: null });
    const clientsAfter = (await redis.cli('CLIENT', 'LIST')).trim().split('\n');
    expect(clientsAfter, 'only redis-cli itself is left').toHaveLength(1);
  });
});
