/**
 * The alerting rules (k8s/components/prometheus-rules): a valid PrometheusRule whose groups pass
 * `promtool check rules`, and whose every alert is unit-tested with `promtool test rules`
 * (test/deploy/alerts.promtool.yaml: each alert fires when it should and not on its near misses).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { afterAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { has, programPath } from '../support/programs.js';

const COMPONENT = new URL('../../k8s/components/prometheus-rules/', import.meta.url);
const TESTS = new URL('./alerts.promtool.yaml', import.meta.url);

const rule = YAML.parse(readFileSync(new URL('prometheusrule.yaml', COMPONENT), 'utf8'));
const alerts: { alert: string; expr: string; for?: string }[] = rule.spec.groups.flatMap(
  (group: { rules: { alert: string; expr: string }[] }) => group.rules,
);

describe('the PrometheusRule', () => {
  it('is a valid monitoring.coreos.com/v1 object, listed by its component', () => {
    expect(() => new PrometheusRule(rule).validate()).not.toThrow();
    const kustomization = YAML.parse(
      readFileSync(new URL('kustomization.yaml', COMPONENT), 'utf8'),
    );
    expect(kustomization.kind).toBe('Component');
    expect(kustomization.resources).toEqual(['prometheusrule.yaml']);
  });

  it('alerts on a target down, 5xx ratio, p99 latency, restarts and event-loop lag', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'TornodeEventLoopLag',
      'TornodeHighErrorRatio',
      'TornodeHighLatencyP99',
      'TornodePodRestarting',
      'TornodeTargetDown',
    ]);
    const exprOf = (name: string): string => alerts.find((a) => a.alert === name)?.expr ?? '';
    expect(exprOf('TornodeHighErrorRatio')).toMatch(/status_code=~"5\.\."/);
    expect(exprOf('TornodeHighLatencyP99')).toMatch(/histogram_quantile\(0\.99/);
    // Long polls are slow on purpose: the latency alert must not count them.
    expect(exprOf('TornodeHighLatencyP99')).toMatch(/route!~"[^"]*\/chat\/messages/);
  });

  it('has a promtool unit test for every alert', () => {
    const tested = new Set(
      [...readFileSync(TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]),
    );
    expect(alerts.map((a) => a.alert).filter((name) => !tested.has(name))).toEqual([]);
  });
});

describe.runIf(has('promtool'))('promtool', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tornode-rules-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'rules.yaml'), YAML.stringify({ groups: rule.spec.groups }));
  copyFileSync(TESTS, path.join(dir, 'tests.yaml'));
  const promtool = (...args: string[]) =>
    spawnSync(programPath('promtool'), args, { cwd: dir, encoding: 'utf8', timeout: 30_000 });

  it('check rules: no complaints', () => {
    const result = promtool('check', 'rules', 'rules.yaml');
    expect(result.error).toBeUndefined();
    expect(`${result.stdout}${result.stderr}`).toMatch(/SUCCESS: 5 rules found/);
    expect(result.status).toBe(0);
  });

  it('test rules: every alert fires when it should, and only then', () => {
    const result = promtool('test', 'rules', 'tests.yaml');
    expect(result.error).toBeUndefined();
    expect(`${result.stdout}${result.stderr}`).toMatch(/SUCCESS/);
    expect(result.status).toBe(0);
  });
});
