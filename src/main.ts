/**
 * The container's entry point: read the configuration, then run the example service in one process
 * (`WORKERS=1`) or as a cluster primary and its workers. Replace `exampleRoutes` and the chat with
 * your own routes.
 */
import cluster from 'node:cluster';
import { exampleRoutes } from './app/app.js';
import { ClusterChatRoom, serveChatFromPrimary } from './app/chat-cluster.js';
import { ChatRoom } from './app/chat-room.js';
import { Primary } from './service/cluster/primary.js';
import { resolveWorkerCount, workerHeapLimitMiB } from './service/cluster/resources.js';
import { announceReady, attachToPrimary } from './service/cluster/worker.js';
import { WorkerChannel } from './service/cluster/worker-channel.js';
import { type Config, ConfigError, loadConfig } from './service/config.js';
import { createLogger, flushLogs } from './service/logging.js';
import { packageInfo, Service } from './service/service.js';

/** The example's application settings: gzip/brotli for text answers over 1 KiB (the chat page). */
const EXAMPLE_SETTINGS = { compress: true } as const;

/** Exit code for a bad configuration (sysexits' EX_CONFIG). */
const EX_CONFIG = 78;

function configOrExit(): Readonly<Config> {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(EX_CONFIG);
    }
    throw error;
  }
}

function startOrExit(service: Service, worker?: WorkerChannel): void {
  service
    .start({ announce: worker === undefined })
    .then((port) => (worker === undefined ? undefined : announceReady(worker, port)))
    .catch((error: unknown) => {
      service.logger.fatal({ err: error }, 'start-up failed');
      void flushLogs(service.logger).then(() => process.exit(1));
    });
}

function runSingle(config: Readonly<Config>): void {
  startOrExit(
    new Service({ config, routes: exampleRoutes(new ChatRoom(1000)), settings: EXAMPLE_SETTINGS }),
  );
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
    workerShutdownMs: config.shutdownDelayMs + config.shutdownTimeoutMs,
  });
  serveChatFromPrimary(primary);
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception in the primary; shutting down');
    primary.shutdown('uncaughtException', 1);
  });
  primary.start();
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
  room.sync().then(
    () => startOrExit(service, channel),
    (error: unknown) => {
      service.logger.fatal({ err: error }, 'could not load the chat history from the primary');
      void flushLogs(service.logger).then(() => process.exit(1));
    },
  );
}

const config = configOrExit();
if (cluster.isPrimary) {
  const { count, reason } = resolveWorkerCount(config.workers);
  if (count === 1) runSingle(config);
  else runPrimary(config, count, reason);
} else {
  runWorker(config);
}
