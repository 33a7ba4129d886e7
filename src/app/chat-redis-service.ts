/**
 * The Redis chat's life in the service, through the service's public hooks as for any dependency:
 * its state in `/readyz?verbose`, its metrics, its log lines and its connections closed at shutdown.
 */
import { Counter, Gauge } from '../service/prom-client.js';
import type { Service } from '../service/service.js';
import type { RedisChatStore, RedisConnectionName } from './chat-redis.js';

const CONNECTIONS: readonly RedisConnectionName[] = ['command', 'subscriber'];

/** Where a Redis URL points, without its user or password (for log lines). */
export function redisLocation(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

/**
 * Registers the store with `service`:
 *
 * - `/readyz?verbose` shows a `redis` check, registered with `critical: false`: Redis is shared by
 *   every pod, so while it is down readiness stays green everywhere and the service keeps serving
 *   what does not need it (the page, the history it has, the probes, the metrics); posting answers
 *   503 with `Retry-After` meanwhile.
 * - `chat_redis_connected{connection}` (1 while up; with several workers, the minimum over them)
 *   and `chat_redis_reconnects_total{connection}` (connections re-established after a loss).
 * - A warning when a connection is lost and an info line when it is back (not one per attempt).
 * - A shutdown hook that closes both connections after the servers drained.
 */
export function attachRedisChat(service: Service, store: RedisChatStore, url: string): void {
  const log = service.logger.child({ component: 'chat-redis', redis: redisLocation(url) });
  const registry = service.metrics.registry;
  new Gauge({
    name: 'chat_redis_connected',
    help: "Whether the chat's Redis connection is up (1) or not (0); the subscriber counts once subscribed.",
    labelNames: ['connection'],
    registers: [registry],
    aggregator: 'min',
    collect() {
      for (const connection of CONNECTIONS)
        this.set({ connection }, store.isUp(connection) ? 1 : 0);
    },
  });
  const reconnects = new Counter({
    name: 'chat_redis_reconnects_total',
    help: "Times a connection to the chat's Redis was re-established after it was lost.",
    labelNames: ['connection'],
    registers: [registry],
  });
  for (const connection of CONNECTIONS) reconnects.inc({ connection }, 0);

  const failing = new Set<RedisConnectionName>();
  store.observe((event) => {
    switch (event.kind) {
      case 'up':
        if (event.again) reconnects.inc({ connection: event.connection });
        if (failing.delete(event.connection) || event.again) {
          log.info({ connection: event.connection }, 'redis connection re-established');
        }
        break;
      // Each failed reconnection attempt closes and errs again: report the first of a series only.
      case 'down':
        if (failing.has(event.connection)) break;
        failing.add(event.connection);
        log.warn({ connection: event.connection }, 'redis connection lost; reconnecting');
        break;
      case 'error':
        if (failing.has(event.connection)) break;
        failing.add(event.connection);
        log.warn({ connection: event.connection, err: event.error }, 'redis connection failing');
        break;
      case 'synced':
        log.debug({ lastId: event.lastId }, 'chat history loaded from redis');
        break;
    }
  });

  service.health.addReadinessCheck(
    'redis',
    () => {
      if (!store.connected) throw new Error(store.state);
    },
    { critical: false },
  );
  service.lifecycle.addShutdownHook('redis', () => store.close());
}
