/**
 * Prometheus for real: Debian's prometheus server scrapes the built service (dist/main.js,
 * WORKERS=2) on loopback every second, and the tests ask Prometheus' HTTP API what it stored —
 * the target is up, the request counts are exactly the requests sent (summed over both workers),
 * and every query of the Grafana dashboard evaluates to data. `promtool check metrics` finds
 * nothing to complain about in the exposition. This Prometheus (2.x) asks for OpenMetrics first,
 * so what it stores came through the OpenMetrics exposition.
 *
 * Needs prometheus and promtool (Debian package `prometheus`, installed by .ci/run); PROMETHEUS
 * and PROMTOOL override the paths. Without them the suite is skipped, or fails under CI.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promtoolCheck } from '../support/metrics.js';
import { ServiceProcess } from '../support/process.js';
import { has, programPath } from '../support/programs.js';
import { Prometheus } from '../support/prometheus.js';
import { freePort } from '../support/socket.js';
import { eventually } from '../support/wait.js';
import { dashboardQueries, KUBE_STATE_SERIES, selectors } from './promql.js';

const DASHBOARD = JSON.parse(
  readFileSync(
    new URL('../../k8s/components/grafana-dashboard/tornode-dashboard.json', import.meta.url),
    'utf8',
  ),
);

let service: ServiceProcess | undefined;
let prometheus: Prometheus | undefined;
/** GET / requests sent to the service so far (all answered 200). */
let sent = 0;

function running(): Prometheus {
  if (prometheus === undefined) throw new Error('Prometheus did not start');
  return prometheus;
}

const query = (expr: string) => running().query(expr);
const single = (expr: string) => running().single(expr);
const prometheusLog = (): string => prometheus?.output ?? '';

let adminPort = 0;

async function sendRequests(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!service) throw new Error('the service did not start');
    const response = await service.fetch('/');
    await response.arrayBuffer();
    expect(response.status).toBe(200);
    sent++;
  }
}

describe.runIf(has('prometheus', 'promtool'))('Prometheus scraping the service', () => {
  beforeAll(async () => {
    programPath('promtool');
    // As in k8s/base: /metrics on ADMIN_PORT alone (404 on PORT).
    adminPort = await freePort();
    service = new ServiceProcess({ WORKERS: '2', ADMIN_PORT: String(adminPort) });
    await service.waitForListening(15_000);
    expect((await service.fetch('/metrics')).status).toBe(404);
    prometheus = await Prometheus.start({
      target: `127.0.0.1:${adminPort}`,
      // The labels a ServiceMonitor gives a pod's target; the dashboard groups by them.
      labels: { namespace: 'test', pod: 'tornode-test-0' },
    });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await service?.stop();
  }, 20_000);

  it('sees the target up and counts exactly the requests sent', async () => {
    await sendRequests(25);
    const target = '{job="tornode"}';
    const seen = await eventually(
      async () => {
        const up = await single(`up${target}`);
        const count = await single(
          `sum(http_request_duration_seconds_count{job="tornode", route="/", method="GET", status_code="200"})`,
        );
        return up === 1 && count === sent ? { up, count } : undefined;
      },
      () =>
        `${`up == 1 and sum(http_request_duration_seconds_count{route="/"}) == ${sent}`}\n${prometheusLog()}`,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    expect(seen).toEqual({ up: 1, count: 25 });
    // Summed over both workers by the primary: one series, not one per worker.
    expect(await query('http_request_duration_seconds_count{route="/"}')).toHaveLength(1);
    expect(await single('cluster_workers{job="tornode"}')).toBe(2);
    // Exposed (0 unless a worker missed the primary's 1 s deadline, as it may on a loaded machine).
    expect(
      await single('cluster_metrics_aggregation_failures_total{job="tornode"}'),
    ).toBeGreaterThanOrEqual(0);
  }, 60_000);

  it('evaluates every dashboard query to data', async () => {
    await sendRequests(5);
    // kube-state-metrics' series (restarts) do not exist without a cluster.
    const queries = dashboardQueries(DASHBOARD).filter(
      (q) => q.expr !== '' && !selectors(q.expr).some((s) => KUBE_STATE_SERIES.has(s.name)),
    );
    expect(queries.length).toBeGreaterThan(10);
    // Grafana's variables as Grafana would fill them: all namespaces, jobs and pods.
    const promql = (expr: string): string =>
      expr.replaceAll('$__rate_interval', '10s').replaceAll(/\$(namespace|job|pod)\b/g, '.*');
    let empty: string[] = [];
    await eventually(
      async () => {
        empty = [];
        for (const q of queries) {
          if ((await query(promql(q.expr))).length === 0) empty.push(`${q.where}: ${q.expr}`);
        }
        return empty.length === 0 ? true : undefined;
      },
      () =>
        `${'every dashboard query returns at least one series'}\n${(() => `still empty:\n${empty.join('\n')}`)()}`,
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    // Label values the variables offer come from the scraped target.
    const pods = await query('count by (pod) (http_requests_in_flight)');
    expect(pods.map((s) => s.metric.pod)).toEqual(['tornode-test-0']);
  }, 60_000);

  it('promtool check metrics finds no problem in /metrics', async () => {
    if (!service) throw new Error('the service did not start');
    const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(promtoolCheck(text)).toEqual({
      status: 0,
      output: '',
    });
  }, 30_000);
});
