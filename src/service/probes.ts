import { RequestHandler, type RouteEntry, url } from '../web/index.js';
import type { CheckResult, Health } from './health.js';
import type { ServiceMetrics } from './metrics.js';
import { negotiateFormat } from './metrics-openmetrics.js';

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
  /** Whether `?verbose` may show each check's error text and duration (the admin port only). */
  readonly details: boolean;
}

/** Options of {@link operationalRoutes}. */
export interface OperationalRouteOptions {
  /**
   * Let `/readyz?verbose` show a failing check's error text and each check's duration. Only for
   * a listener application traffic cannot reach (the admin port): an error text can name hosts,
   * users or versions. Elsewhere `?verbose` lists names and ok/failed, and the errors go to the
   * log. Default `false`.
   */
  readonly details?: boolean;
}

/** Common ground of the probes: never cached, `?verbose` for JSON, plain text otherwise. */
abstract class ProbeHandler extends RequestHandler<ProbeOptions> {
  protected health!: Health;
  protected details = false;

  override initialize(options: ProbeOptions): void {
    this.health = options.health;
    this.details = options.details;
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
    const checks = this.details ? verdict.checks : verdict.checks.map(outcome);
    const details: Record<string, unknown> = { checks };
    if (verdict.reason !== undefined) details.reason = verdict.reason;
    this.answer(verdict.ok, text, details);
  }
}

/** What the public port's `?verbose` shows of a check: its name, ok or not, critical or not. */
function outcome(check: CheckResult): Pick<CheckResult, 'name' | 'ok' | 'critical'> {
  return check.critical === false
    ? { name: check.name, ok: check.ok, critical: false }
    : { name: check.name, ok: check.ok };
}

/**
 * `/metrics`: the Prometheus text exposition 0.0.4, or OpenMetrics 1.0 (with exemplars) for a
 * scrape whose `Accept` prefers it.
 */
export class MetricsHandler extends RequestHandler<{ readonly metrics: ServiceMetrics }> {
  private metrics!: ServiceMetrics;

  override initialize(options: { readonly metrics: ServiceMetrics }): void {
    this.metrics = options.metrics;
  }

  override async get(): Promise<void> {
    const format = negotiateFormat(this.request.headers.accept);
    const text = await this.metrics.exposition(format);
    this.setHeader('Content-Type', this.metrics.contentTypeOf(format));
    this.setHeader('Cache-Control', 'no-store');
    this.setHeader('Vary', 'Accept');
    this.finish(text);
  }
}

/** The probe and metrics routes, to put in front of an application's own. */
export function operationalRoutes(
  health: Health,
  metrics: ServiceMetrics,
  options: OperationalRouteOptions = {},
): RouteEntry[] {
  const probe = { health, details: options.details ?? false };
  return [
    url(PROBE_PATHS.live, LivezHandler, probe),
    url(PROBE_PATHS.ready, ReadyzHandler, probe),
    url(PROBE_PATHS.startup, StartupzHandler, probe),
    url(PROBE_PATHS.health, ReadyzHandler, probe),
    url(PROBE_PATHS.metrics, MetricsHandler, { metrics }),
  ];
}
