import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import {
  Application,
  type ApplicationSettings,
  HttpServer,
  type RouteEntry,
  type RouteSpec,
} from '../web/index.js';
import { AccessLog } from './access-log.js';
import { type Config, loadConfig, type TracingConfig } from './config.js';
import { Health } from './health.js';
import { DEFAULT_HOOK_TIMEOUT_MS, Lifecycle } from './lifecycle.js';
import { createLogger, flushLogs, requestIdGenerator } from './logging.js';
import { ServiceMetrics } from './metrics.js';
import { operationalRoutes, PROBE_PATHS, QUIET_ROUTES } from './probes.js';

/** Options of {@link Service}. */
export interface ServiceOptions {
  /** The application's own routes (the probes and `/metrics` are added in front of them). */
  readonly routes: readonly RouteEntry[];
  /** Application settings other than the ones the service owns (logger, request ids, body limit). */
  readonly settings?: Omit<ApplicationSettings, 'logger' | 'requestId' | 'maxBodyBytes'>;
  /** Configuration; default: read from the environment. */
  readonly config?: Readonly<Config>;
  /** Service name and version for log lines; default: from package.json. */
  readonly name?: string;
  readonly version?: string;
  /** Extra header names to redact from logs. */
  readonly redactHeaders?: readonly string[];
  /** Extra fields on every log line. */
  readonly logBase?: Readonly<Record<string, unknown>>;
}

/** The service's name and version, from package.json. */
export function packageInfo(): { name: string; version: string } {
  try {
    const require = createRequire(import.meta.url);
    const pkg = require('../../package.json') as { name?: string; version?: string };
    return { name: pkg.name ?? 'service', version: pkg.version ?? '0.0.0' };
  } catch {
    return { name: 'service', version: '0.0.0' };
  }
}

/**
 * A production service around an application: pino logs with request ids and an access line per
 * request, Prometheus metrics, health probes, an optional admin listener and graceful shutdown.
 *
 * @example
 * const service = new Service({ routes: [url('/', MainHandler)] });
 * service.health.addReadinessCheck('db', () => db.ping());
 * service.lifecycle.addShutdownHook('db', () => db.close());
 * await service.start();
 */
export class Service {
  readonly config: Readonly<Config>;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly health: Health;
  readonly app: Application;
  /** The listener for probes and metrics alone, when `ADMIN_PORT` is set. */
  readonly adminApp: Application | null;
  readonly servers: readonly HttpServer[];
  readonly lifecycle: Lifecycle;
  readonly #name: string;
  readonly #version: string;

  constructor(options: ServiceOptions) {
    this.config = options.config ?? loadConfig();
    const info = packageInfo();
    this.#name = options.name ?? info.name;
    this.#version = options.version ?? info.version;
    this.logger = createLogger({
      level: this.config.logLevel,
      format: this.config.logFormat,
      service: options.name ?? info.name,
      version: options.version ?? info.version,
      ...(options.redactHeaders ? { redactHeaders: options.redactHeaders } : {}),
      ...(options.logBase ? { base: options.logBase } : {}),
    });
    this.metrics = new ServiceMetrics({ quietRoutes: QUIET_ROUTES });
    this.health = new Health();
    const requestId = requestIdGenerator();
    const accessLog = new AccessLog(this.logger, QUIET_ROUTES);
    const ops = operationalRoutes(this.health, this.metrics);
    const settings: ApplicationSettings = {
      ...options.settings,
      logger: this.logger,
      requestId,
      maxBodyBytes: this.config.maxBodyBytes,
    };
    // With an admin port, /metrics leaves the public one (404 there): traffic cannot read internals.
    const publicOps =
      this.config.adminPort === undefined
        ? ops
        : ops.filter((r) => (r as RouteSpec).pattern !== PROBE_PATHS.metrics);
    this.app = new Application([...publicOps, ...options.routes], settings);
    this.app.addObserver(this.metrics).addObserver(accessLog);
    const serverOptions = { keepAliveTimeoutMs: this.config.keepAliveTimeoutMs };
    const servers = [new HttpServer(this.app, serverOptions)];
    this.adminApp = null;
    if (this.config.adminPort !== undefined) {
      // Check errors only here: application traffic cannot reach this port.
      const adminOps = operationalRoutes(this.health, this.metrics, { details: true });
      this.adminApp = new Application(adminOps, { logger: this.logger, requestId });
      this.adminApp.addObserver(accessLog);
      servers.push(new HttpServer(this.adminApp, serverOptions));
    }
    this.servers = servers;
    this.lifecycle = new Lifecycle({
      logger: this.logger,
      health: this.health,
      servers,
      shutdownDelayMs: this.config.shutdownDelayMs,
      shutdownTimeoutMs: this.config.shutdownTimeoutMs,
    });
  }

  /**
   * Call once, after registering readiness checks and shutdown hooks (both may also be added
   * later). Installs the signal and crash handlers, starts listening (application port, then admin port),
   * marks start-up finished and logs the `listening` line (a cluster worker, whose primary
   * announces the service, logs `worker started` instead). Resolves with the bound port.
   */
  async start(options: { readonly announce?: boolean } = {}): Promise<number> {
    this.lifecycle.install();
    if (this.config.tracing !== undefined) await this.#startTracing(this.config.tracing);
    const [main, admin] = this.servers;
    const address = await (main as HttpServer).listen(this.config.port, this.config.host);
    let adminPort: number | undefined;
    if (admin !== undefined && this.config.adminPort !== undefined) {
      adminPort = (await admin.listen(this.config.adminPort, this.config.host)).port;
    }
    this.health.markStarted();
    const announce = options.announce ?? true;
    // The start-up line is part of the contract: printed whatever LOG_LEVEL says, unless silent.
    const startupLog =
      this.logger.level === 'silent' ? this.logger : this.logger.child({}, { level: 'info' });
    startupLog.info(
      { port: address.port, address: address.address, adminPort },
      announce ? `listening on port ${address.port}` : `worker started on port ${address.port}`,
    );
    void flushLogs(this.logger); // tooling waits for this line: do not leave it in the buffer
    return address.port;
  }

  /** Span export, loaded only when configured (none of the OpenTelemetry SDK otherwise). */
  async #startTracing(config: TracingConfig): Promise<void> {
    const { startExport } = await import('./tracing/export.js');
    const timeoutMs = Math.max(
      100,
      Math.min(DEFAULT_HOOK_TIMEOUT_MS - 1000, this.config.shutdownTimeoutMs),
    );
    const spans = await startExport({
      config,
      serviceName: this.#name,
      serviceVersion: this.#version,
      timeoutMs,
      registry: this.metrics.registry,
    });
    this.app.addObserver(spans.observer);
    this.metrics.exemplarsFromEveryTrace();
    this.lifecycle.addShutdownHook(
      'tracing',
      (timeLeftMs) => spans.shutdown(timeLeftMs),
      timeoutMs + 500,
    );
  }
}
