/**
 * Who reaches what in the Kubernetes manifests: application traffic on `http` (PORT), the probes
 * and /metrics on `admin` (ADMIN_PORT) for the kubelet and Prometheus alone (NetworkPolicy), and a
 * renamed copy (an overlay's `namePrefix`) that still scrapes, alerts and draws under one job.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/service/config.js';
import { PROBE_PATHS } from '../../src/service/probes.js';
import { type K8sObject, kustomizeBinary, renderWithBinary } from './kustomize.js';
import { type Json, matches, only, ROOT, rendered, resolvedEnv, TARGETS } from './manifests.js';

const podOf = (objects: K8sObject[]): Json => only(objects, 'Deployment').spec.template;
const containerOf = (pod: Json): Json =>
  pod.spec.containers.find((c: Json) => c.name === 'tornode');

/** The NetworkPolicy that selects the service's pods (Redis has its own). */
function appPolicy(objects: K8sObject[], pod: Json): Json {
  const found = objects.filter(
    (o: Json) =>
      o.kind === 'NetworkPolicy' && matches(o.spec.podSelector.matchLabels, pod.metadata.labels),
  );
  expect(found, 'exactly one NetworkPolicy selects the pods').toHaveLength(1);
  return found[0];
}

describe.each(TARGETS)('%s: ports and access', (dir) => {
  const objects = rendered[dir];
  const pod = podOf(objects);
  const container = containerOf(pod);
  // The managed Redis' URL comes from a Secret the renderer cannot read: not what this checks.
  const { REDIS_URL: _secret, ...env } = resolvedEnv(pod, container);
  const config = loadConfig(env);
  const port = (name: string): Json => container.ports.find((p: Json) => p.name === name);

  it('serves traffic on http = PORT and the probes and /metrics on admin = ADMIN_PORT', () => {
    expect(port('http').containerPort).toBe(config.port);
    expect(port('admin').containerPort).toBe(config.adminPort);
    expect(config.adminPort).not.toBe(config.port);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      expect(container[probe].httpGet.port, probe).toBe('admin');
    }
    expect(pod.metadata.annotations['prometheus.io/port']).toBe(String(config.adminPort));
    expect(pod.metadata.annotations['prometheus.io/path']).toBe(PROBE_PATHS.metrics);
  });

  it('admits http from the namespace and the ingress controller, admin from monitoring only', () => {
    const policy = appPolicy(objects, pod);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const rulesFor = (name: string): Json[] =>
      policy.spec.ingress.filter((r: Json) => r.ports.some((p: Json) => p.port === name));
    const names = container.ports.map((p: Json) => p.name);
    for (const rule of policy.spec.ingress) {
      for (const p of rule.ports) expect(names, 'a port the container declares').toContain(p.port);
    }

    const [http, ...moreHttp] = rulesFor('http');
    expect(moreHttp).toEqual([]);
    expect(http.from).toContainEqual({ podSelector: {} }); // every pod of the namespace
    expect(http.from).toContainEqual({
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } },
    });

    const [admin, ...moreAdmin] = rulesFor('admin');
    expect(moreAdmin).toEqual([]);
    expect(admin.ports).toEqual([{ port: 'admin', protocol: 'TCP' }]);
    expect(admin.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
  });

  it('exposes admin on the Service only under its own name (for the ServiceMonitor)', () => {
    const service = objects.find(
      (o: Json) => o.kind === 'Service' && matches(o.spec.selector, pod.metadata.labels),
    ) as Json;
    expect(service.spec.ports.map((p: Json) => [p.name, p.targetPort])).toEqual([
      ['http', 'http'],
      ['admin', 'admin'],
    ]);
  });
});

describe('the ServiceMonitor', () => {
  const objects = rendered['k8s/overlays/monitoring'];
  const monitor = only(objects, 'ServiceMonitor');

  it('scrapes /metrics on the admin port, under the job of the app label', () => {
    expect(monitor.spec.endpoints.map((e: Json) => [e.port, e.path])).toEqual([
      ['admin', PROBE_PATHS.metrics],
    ]);
    expect(monitor.spec.jobLabel).toBe('app.kubernetes.io/name');
  });
});

describe.runIf(kustomizeBinary() !== undefined)('renaming with one namePrefix line', () => {
  it('renames every object and keeps the references, the job, the rules and the dashboard', () => {
    const overlay = mkdtempSync(path.join(tmpdir(), 'tornode-rename-'));
    try {
      const base = path.relative(overlay, path.join(ROOT, 'k8s/overlays/monitoring'));
      writeFileSync(
        path.join(overlay, 'kustomization.yaml'),
        `resources:\n  - ${base}\nnamePrefix: orders-\n`,
      );
      const objects = renderWithBinary(overlay) ?? [];
      expect(objects.length).toBe(rendered['k8s/overlays/monitoring'].length);
      for (const o of objects) expect(o.metadata.name).toMatch(/^orders-/);

      const deployment = only(objects, 'Deployment');
      const pod = deployment.spec.template;
      const names = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
      // References kustomize must have followed.
      expect(names).toContain(`ServiceAccount/${pod.spec.serviceAccountName}`);
      const hpa = only(objects, 'HorizontalPodAutoscaler');
      expect(hpa.spec.scaleTargetRef.name).toBe(deployment.metadata.name);
      const env = resolvedEnv(pod, containerOf(pod));
      if (env.REDIS_URL !== undefined) {
        const host = new URL(env.REDIS_URL).hostname;
        expect(names).toContain(`Service/${host}`);
      }
      // What the monitoring reads stays: the app label (→ job), the container name.
      const service = objects.find(
        (o: Json) => o.kind === 'Service' && matches(o.spec.selector, pod.metadata.labels),
      ) as Json;
      const monitor = only(objects, 'ServiceMonitor');
      expect(service.metadata.labels[monitor.spec.jobLabel]).toBe('tornode');
      expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
      expect(pod.spec.containers.map((c: Json) => c.name)).toEqual(['tornode']);
      const rules = JSON.stringify(only(objects, 'PrometheusRule').spec);
      expect(rules).toContain('job=\\"tornode\\"');
      expect(rules).toContain('container=\\"tornode\\"');
      // Both NetworkPolicies still select their pods.
      const policies = objects.filter((o) => o.kind === 'NetworkPolicy') as Json[];
      expect(
        policies.some((p) => matches(p.spec.podSelector.matchLabels, pod.metadata.labels)),
      ).toBe(true);
      expect(policies).toHaveLength(2);
    } finally {
      rmSync(overlay, { recursive: true, force: true });
    }
  });
});
