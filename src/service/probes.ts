import { RequestHandler, type RouteEntry, url } from '../web/index.js';
import type { Health } from './health.js';
import type { ServiceMetrics } from './metrics.js';

/** Paths of the probe and metrics endpoints. */
export const PROBE_PATHS = {
  live: '/livez',
  ready: '/readyz',
  startup: '/startupz',
  health: '/healthz',
  metrics: '/metrics',
} as const;

/** Routes logged at debug and, by default, left out of the HTTP metrics. */
export const QUIET_ROUTES: ReadonlySet<string> = new Set(Object.values(PROBE_PATHS));

interface ProbeOptions {
  readonly health: Health;
}

/** Common ground of the probes: never cached, `?verbose` for JSON, plain text otherwise. */
abstract class ProbeHandler extends RequestHandler<ProbeOptions> {
  protected health!: Health;

  override initialize(options: ProbeOptions): void {
    this.health = options.health;
  }

  override setDefaultHeaders(): void {
    this.setHeader('Cache-Control', 'no-store');
  }

  protected get verbose(): boolean {
    return this.queryArguments.verbose !== undefined;
  }

  protected answer(ok: boolean, text: string, details: Record<string, unknown>): void {
    this.setStatus(ok ? 200 : 503);
    if (this.verbose) {
      this.finish({ status: ok ? 'ok' : 'fail', ...details });
    } else {
      this.setHeader('Content-Type', 'text/plain; charset=utf-8');
      this.finish(`${text}\n`);
    }
  }
}

/** `/livez`: 200 while the process can answer at all; no dependency I/O, unaffected by shutdown. */
export class LivezHandler extends ProbeHandler {
  override get(): void {
    this.answer(true, 'ok', { checks: [] });
  }
}

/** `/startupz`: 503 until start-up has finished, then 200 for good. */
export class StartupzHandler extends ProbeHandler {
  override get(): void {
    const started = this.health.started;
    this.answer(started, started ? 'ok' : 'starting', { checks: [] });
  }
}

/** `/readyz` and `/healthz`: 200 when started, not shutting down and every check passes. */
export class ReadyzHandler extends ProbeHandler {
  override async get(): Promise<void> {
    const verdict = await this.health.readiness();
    const failing = verdict.checks.filter((c) => !c.ok && c.critical !== false);
    const failed = failing.map((c) => c.name);
    // The probe's access line is at debug level and a 503 says nothing of why: log each failing
    // check (thrown error, rejection, `false`, timeout) with the request id, once per probe.
    if (failing.length > 0) this.log.warn({ checks: failing }, 'readiness check failed');
    const text = verdict.ok ? 'ok' : (verdict.reason ?? `failing checks: ${failed.join(', ')}`);
    const details: Record<string, unknown> = { checks: verdict.checks };
    if (verdict.reason !== undefined) details.reason = verdict.reason;
    this.answer(verdict.ok, text, details);
  }
}

/** `/metrics`: the Prometheus text exposition. */
export class MetricsHandler extends RequestHandler<{ readonly metrics: ServiceMetrics }> {
  private metrics!: ServiceMetrics;

  override initialize(options: { readonly metrics: ServiceMetrics }): void {
    this.metrics = options.metrics;
  }

  override async get(): Promise<void> {
    const text = await this.metrics.exposition();
    this.setHeader('Content-Type', this.metrics.contentType);
    this.setHeader('Cache-Control', 'no-store');
    this.finish(text);
  }
}

/** The probe and metrics routes, to put in front of an application's own. */
export function operationalRoutes(health: Health, metrics: ServiceMetrics): RouteEntry[] {
  return [
    url(PROBE_PATHS.live, LivezHandler, { health }),
    url(PROBE_PATHS.ready, ReadyzHandler, { health }),
    url(PROBE_PATHS.startup, StartupzHandler, { health }),
    url(PROBE_PATHS.health, ReadyzHandler, { health }),
    url(PROBE_PATHS.metrics, MetricsHandler, { metrics }),
  ];
}
