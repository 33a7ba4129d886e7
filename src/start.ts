/**
 * What the entry point (`main.ts`) loads once its signal handlers are in place: read the
 * configuration, then run the example service in one process (`WORKERS=1`) or as a cluster
 * primary and its workers. Replace `exampleRoutes` and the chat with your own routes.
 *
 * The chat lives in the process (several workers: numbered by the primary and relayed to every
 * worker) unless `REDIS_URL` is set; then every worker talks to Redis itself, and the Redis client
 * is loaded only then.
 */
import cluster from 'node:cluster';
import module from 'node:module';
import { exampleRoutes } from './app/app.js';
import { ClusterChatRoom, serveChatFromPrimary } from './app/chat-cluster.js';
import { ChatRoom } from './app/chat-room.js';
import {
  announceReady,
  attachToPrimary,
  Primary,
  resolveWorkerCount,
  WorkerChannel,
  workerHeapLimitMiB,
} from './service/cluster/index.js';
import { type Config, ConfigError, loadConfig } from './service/config.js';
import { shutdownDeadlines } from './service/deadline.js';
import { checkHost } from './service/host-check.js';
import { createLogger, flushLogs } from './service/logging.js';
import { packageInfo, Service } from './service/service.js';

/** The example's application settings: gzip/brotli for text answers over 1 KiB (the chat page). */
const EXAMPLE_SETTINGS = { compress: true } as const;

/** Exit code for a bad configuration (sysexits' EX_CONFIG). */
const EX_CONFIG = 78;

let signals: EarlySignals = { handOver: () => undefined };

/**
 * Installs the service's own signal handlers, then takes over from the entry point's: a signal
 * that came while the modules loaded starts the graceful shutdown now.
 */
function takeOverSignals(service: Service): void {
  service.lifecycle.install();
  const signal = signals.handOver();
  if (signal !== undefined) void service.lifecycle.shutdown(signal, 0);
}

function exitOnConfigError(error: unknown): never {
  if (error instanceof ConfigError) {
    process.stderr.write(`configuration error: ${error.message}\n`);
    process.exit(EX_CONFIG);
  }
  throw error;
}

function configOrExit(): Readonly<Config> {
  try {
    return loadConfig();
  } catch (error) {
    return exitOnConfigError(error);
  }
}

/**
 * Writes what the module compile cache (turned on by `main.ts`) has learnt so far, once the
 * service is up: the modules start-up needs are compiled by then, and a process that is killed
 * rather than stopped (`SIGKILL`, OOM) would otherwise never write it. Costs ~0.3 ms when the cache
 * was already complete; a cache directory the process may not write is left as it is.
 */
function saveCompileCache(): void {
  (module as { flushCompileCache?: () => void }).flushCompileCache?.();
}

function startOrExit(service: Service, worker?: WorkerChannel): void {
  // A shutdown that began during start-up (a signal, or the primary's word) ends the process.
  if (service.lifecycle.state !== 'running') return;
  service
    .start({ announce: worker === undefined })
    .then((port) => {
      setImmediate(saveCompileCache);
      return worker === undefined ? undefined : announceReady(worker, port);
    })
    .catch((error: unknown) => {
      service.logger.fatal({ err: error }, 'start-up failed');
      void flushLogs(service.logger).then(() => process.exit(1));
    });
}

function runSingle(config: Readonly<Config>): void {
  const routes = exampleRoutes(new ChatRoom(1000));
  const service = new Service({ config, routes, settings: EXAMPLE_SETTINGS });
  takeOverSignals(service);
  startOrExit(service);
}

/** One process or one worker with the chat in Redis: waits (bounded) for the history first. */
async function runWithRedis(config: Readonly<Config>, redisUrl: string): Promise<void> {
  const [{ RedisChatStore }, { attachRedisChat }] = await Promise.all([
    import('./app/chat-redis.js'),
    import('./app/chat-redis-service.js'),
  ]);
  const store = new RedisChatStore({ url: redisUrl, keyPrefix: config.redisKeyPrefix });
  const worker = cluster.isPrimary ? undefined : new WorkerChannel();
  const service = new Service({
    config,
    routes: exampleRoutes(store),
    settings: EXAMPLE_SETTINGS,
    ...(worker === undefined ? {} : { logBase: { workerId: cluster.worker?.id } }),
  });
  attachRedisChat(service, store, redisUrl);
  if (worker !== undefined) attachToPrimary(service, worker);
  takeOverSignals(service);
  // Unreachable Redis does not keep the service from starting: it serves everything else, posting
  // answers 503, and the chat catches up once Redis is back.
  if (!(await store.start())) {
    service.logger.warn('redis not reachable at start-up; starting anyway, the chat will catch up');
  }
  startOrExit(service, worker);
}

function runWithRedisOrExit(config: Readonly<Config>, redisUrl: string): void {
  runWithRedis(config, redisUrl).catch((error: unknown) => {
    process.stderr.write(`start-up failed: ${String(error)}\n`);
    process.exit(1);
  });
}

function runPrimary(config: Readonly<Config>, count: number, reason: string): void {
  const logger = createLogger({
    level: config.logLevel,
    format: config.logFormat,
    service: packageInfo().name,
    version: packageInfo().version,
    base: { role: 'primary' },
  });
  const heapMiB = workerHeapLimitMiB(count, { nodeOptions: process.env.NODE_OPTIONS });
  logger.info({ workers: count, reason, heapMiB }, `starting ${count} workers (${reason})`);
  const primary = new Primary({
    logger,
    workers: count,
    workerExecArgv: heapMiB === undefined ? [] : [`--max-old-space-size=${heapMiB}`],
    workerShutdownMs: shutdownDeadlines(config).serviceMs,
    startupTimeoutMs: config.workerStartupTimeoutMs,
  });
  if (config.redisUrl === undefined) serveChatFromPrimary(primary);
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception in the primary; shutting down');
    primary.shutdown('uncaughtException', 1);
  });
  primary.start();
  setImmediate(saveCompileCache);
  const signal = signals.handOver();
  if (signal !== undefined) primary.shutdown(signal);
}

function runWorker(config: Readonly<Config>): void {
  const channel = new WorkerChannel();
  const room = new ClusterChatRoom(channel);
  const service = new Service({
    config,
    routes: exampleRoutes(room),
    settings: EXAMPLE_SETTINGS,
    logBase: { workerId: cluster.worker?.id },
  });
  attachToPrimary(service, channel);
  takeOverSignals(service);
  room.sync().then(
    () => startOrExit(service, channel),
    (error: unknown) => {
      service.logger.fatal({ err: error }, 'could not load the chat history from the primary');
      void flushLogs(service.logger).then(() => process.exit(1));
    },
  );
}

/**
 * The signals that arrived before the service could handle them, kept by the entry point.
 * `handOver` stops the early handling and returns the first such signal, if any: from then on
 * the caller's own handlers (a `Lifecycle`'s or the primary's) answer signals.
 */
export interface EarlySignals {
  handOver(): NodeJS.Signals | undefined;
}

/** Runs the service; `early` holds the signals received while the modules loaded. */
export async function run(early: EarlySignals): Promise<void> {
  signals = early;
  const config = configOrExit();
  // Before anything listens; the workers inherit the primary's verdict.
  if (cluster.isPrimary) await checkHost(config.host).catch(exitOnConfigError);
  if (cluster.isPrimary) {
    const { count, reason } = resolveWorkerCount(config.workers);
    if (count > 1) runPrimary(config, count, reason);
    else if (config.redisUrl === undefined) runSingle(config);
    else runWithRedisOrExit(config, config.redisUrl);
  } else if (config.redisUrl === undefined) {
    runWorker(config);
  } else {
    runWithRedisOrExit(config, config.redisUrl);
  }
}
