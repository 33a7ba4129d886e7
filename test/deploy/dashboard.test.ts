/**
 * The Grafana dashboard (k8s/components/grafana-dashboard/tornode-dashboard.json) queries only
 * metrics that the built service really exposes: every metric name in its PromQL is checked
 * against a /metrics scrape of dist/main.js with WORKERS=2 (so the cluster_* metrics exist).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startService } from '../support/process.js';
import {
  dashboardQueries,
  hasSeries,
  KUBE_STATE_SERIES,
  parseExposition,
  selectors,
  variableQueryExpr,
} from './promql.js';

const DASHBOARD_FILE = new URL(
  '../../k8s/components/grafana-dashboard/tornode-dashboard.json',
  import.meta.url,
);
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'));
const RULES_FILE = new URL(
  '../../k8s/components/prometheus-rules/prometheusrule.yaml',
  import.meta.url,
);
const queries = dashboardQueries(dashboard);

describe('the PromQL reader', () => {
  it('finds metric names, not functions, keywords, labels, durations or variables', () => {
    const expr =
      'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job=~"$job", route!="a{b}"}[$__rate_interval]))) ' +
      '/ on (pod) group_left sum without (x) (foo_total offset 5m) > bool 1e-3 and up';
    expect(selectors(expr).map((s) => s.name)).toEqual([
      'http_request_duration_seconds_bucket',
      'foo_total',
      'up',
    ]);
    expect(selectors(expr)[0]?.matchers).toBe('job=~"$job", route!="a{b}"');
  });

  it('reads Grafana variable queries', () => {
    expect(variableQueryExpr('label_values(http_requests_in_flight{a="b"}, job)')).toBe(
      'http_requests_in_flight{a="b"}',
    );
    expect(variableQueryExpr('label_values(namespace)')).toBe('');
  });

  it('tells histogram series from family names', () => {
    const exposition = parseExposition(
      '# TYPE h histogram\n# TYPE g gauge\ng 1\n# TYPE c_total counter\nc_total{a="b"} 2\n',
    );
    expect(hasSeries(exposition, 'h_bucket')).toBe(true);
    expect(hasSeries(exposition, 'h_count')).toBe(true);
    expect(hasSeries(exposition, 'h')).toBe(false);
    expect(hasSeries(exposition, 'g')).toBe(true);
    expect(hasSeries(exposition, 'g_count')).toBe(false);
    expect(hasSeries(exposition, 'c_total')).toBe(true);
    expect(hasSeries(exposition, 'c')).toBe(false);
    expect(hasSeries(exposition, 'up')).toBe(true);
  });
});

describe('the Grafana dashboard', () => {
  it('has panels for rate, errors, latency, in-flight, event-loop lag and memory', () => {
    const exprs = queries.filter((q) => q.panel).map((q) => q.expr);
    const uses = (pattern: RegExp): boolean => exprs.some((e) => pattern.test(e));
    expect(uses(/rate\(http_request_duration_seconds_count/)).toBe(true);
    expect(uses(/status_code=~"5\.\."/)).toBe(true);
    expect(uses(/histogram_quantile\(0\.99, .*http_request_duration_seconds_bucket/)).toBe(true);
    expect(uses(/http_requests_in_flight/)).toBe(true);
    expect(uses(/nodejs_eventloop_lag/)).toBe(true);
    expect(uses(/sum by \(pod\) \(process_resident_memory_bytes/)).toBe(true);
  });

  it('filters every panel query by the namespace, job and pod variables', () => {
    const variables = dashboard.templating.list.map((v: { name: string }) => v.name);
    expect(variables).toEqual(expect.arrayContaining(['datasource', 'namespace', 'job', 'pod']));
    const unfiltered = queries
      .filter((q) => q.panel)
      .flatMap((q) => selectors(q.expr).map((s) => ({ ...s, where: q.where })))
      .filter((s) => {
        // kube-state-metrics' series carry its own job: the container name stands in for it.
        const job = KUBE_STATE_SERIES.has(s.name) ? 'container="tornode"' : '$job';
        return !['$namespace', job, '$pod'].every((v) => s.matchers?.includes(v));
      })
      .map((s) => `${s.where}: ${s.name}{${s.matchers ?? ''}}`);
    expect(unfiltered).toEqual([]);
  });

  it('queries only metrics that a real /metrics scrape has (WORKERS=2)', async () => {
    const service = await startService({ WORKERS: '2' });
    // One request of each kind, so the labelled histogram series exist too.
    expect((await service.fetch('/')).status).toBe(200);
    expect((await service.fetch('/no-such-path')).status).toBe(404);
    const response = await service.fetch('/metrics');
    expect(response.status).toBe(200);
    const exposition = parseExposition(await response.text());
    expect(exposition.samples.has('cluster_workers')).toBe(true);

    const used = new Map<string, string[]>();
    for (const q of queries) {
      for (const { name } of selectors(q.expr))
        used.set(name, [...(used.get(name) ?? []), q.where]);
    }
    expect(used.size).toBeGreaterThan(5);
    const missing = [...used]
      .filter(([name]) => !hasSeries(exposition, name) && !KUBE_STATE_SERIES.has(name))
      .map(([name, where]) => `${name} (${where.join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('has a panel per alert, on the same series, with the threshold of the alert as its red line', () => {
    const rules = parseYaml(readFileSync(RULES_FILE, 'utf8')).spec.groups.flatMap(
      (g: { rules: unknown[] }) => g.rules,
    ) as { alert: string; expr: string }[];
    expect(rules.length).toBeGreaterThanOrEqual(5);
    for (const rule of rules) {
      const panel = dashboard.panels.find((p: { description?: string }) =>
        p.description?.startsWith(`Alert ${rule.alert}:`),
      );
      expect(panel, `a panel described "Alert ${rule.alert}: …"`).toBeDefined();
      const exprs: string[] = panel.targets.map((t: { expr: string }) => t.expr);
      const names = (e: string): string[] => selectors(e).map((s) => s.name);
      for (const name of names(rule.expr)) {
        expect(exprs.flatMap(names), `${rule.alert}: ${name}`).toContain(name);
      }
      // Long polls left out of the latency alert are left out of its panel too.
      for (const matcher of rule.expr.match(/route!~"[^"]*"/g) ?? []) {
        expect(exprs.join('\n'), `${rule.alert}: ${matcher}`).toContain(matcher);
      }
      // `> N` alerts above N; `== 0` (a target down) as soon as one series is there.
      const above = /(>|==)\s*([\d.]+)\s*$/.exec(rule.expr.trim());
      const threshold = above?.[1] === '==' ? 1 : Number(above?.[2]);
      const steps = panel.fieldConfig.defaults.thresholds.steps as {
        color: string;
        value: number;
      }[];
      expect(steps.find((s) => s.color === 'red')?.value, rule.alert).toBe(threshold);
    }
  });
});
