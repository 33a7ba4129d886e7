/**
 * The Kubernetes manifests (k8s/): rendered like `kubectl apply -k` would, every object validated
 * against the Kubernetes (and prometheus-operator) schemas, and checked against the service itself
 * — probe paths, ports, environment variables, shutdown timings, the image's user.
 *
 * Rendering: test/deploy/kustomize.ts (a renderer for the subset of kustomize used here); when
 * `kustomize` or `kubectl` is installed, its output must be the same objects.
 * Schemas: the kubernetes-models packages' validate() (JSON schemas from the Kubernetes OpenAPI
 * spec and the prometheus-operator CRDs), plus a strict check for unknown fields, which those
 * schemas allow: each object is type-checked with TypeScript against the packages' interfaces, so
 * a misspelt field (`terminationGracePeriodSecond`) is an excess-property error, as the API server's
 * strict field validation would make it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/service/config.js';
import { shutdownDeadlines } from '../../src/service/deadline.js';
import { DEFAULT_CHECK_TIMEOUT_MS } from '../../src/service/health.js';
import { PROBE_PATHS } from '../../src/service/probes.js';
import { has, programPath } from '../support/programs.js';
import {
  type K8sObject,
  kustomizeBinary,
  objectId,
  readKustomization,
  renderWithBinary,
  splitImage,
} from './kustomize.js';
import {
  envNamesTheServiceReads,
  type Json,
  K8S,
  MODELS,
  matches,
  modelKey,
  only,
  quantity,
  ROOT,
  rendered,
  resolvedEnv,
  TARGETS,
  typeErrors,
} from './manifests.js';

/** The one Service whose selector picks the service's pods (Redis has a Service too). */
function appService(objects: K8sObject[], pod: Json): Json {
  const found = objects.filter(
    (o: Json) => o.kind === 'Service' && matches(o.spec.selector, pod.metadata.labels),
  );
  expect(found.map(objectId), 'exactly one Service selects the pods').toHaveLength(1);
  return found[0];
}

// --- rendering and schemas ----------------------------------------------------------------------

describe.each(TARGETS)('kustomization %s', (dir) => {
  const objects = rendered[dir];

  it('renders to objects with unique names', () => {
    expect(objects.length).toBeGreaterThan(0);
    const ids = objects.map(objectId);
    expect(new Set(ids).size, ids.join(', ')).toBe(ids.length);
  });

  // Skipped with one line when neither kustomize nor kubectl is installed; under CI that fails.
  it.runIf(kustomizeBinary() !== undefined || has('kubectl'))(
    'renders to the same objects with the kustomize binary',
    () => {
      const byId = (list: K8sObject[]): Record<string, K8sObject> =>
        Object.fromEntries(list.map((o) => [objectId(o), o]));
      const fromBinary = renderWithBinary(path.join(ROOT, dir));
      if (fromBinary === undefined) programPath('kubectl'); // throws the "missing" line
      expect(byId(objects)).toEqual(byId(fromBinary ?? []));
    },
  );

  it('validates every object against its Kubernetes schema', () => {
    const problems: string[] = [];
    for (const o of objects) {
      const entry = MODELS[modelKey(o)];
      if (entry === undefined) {
        problems.push(`${objectId(o)}: no schema known to this test (add it to MODELS)`);
        continue;
      }
      try {
        new entry.model(o as never).validate();
      } catch (error) {
        problems.push(`${objectId(o)}: ${(error as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('has no unknown or mistyped fields (strict, like the API server)', () => {
    expect(typeErrors(objects)).toEqual([]);
  }, 30_000);
});

describe('the strict field check', () => {
  // TypeScript reports a wrong value before it looks for unknown fields, so one at a time.
  it('catches a misspelt field', () => {
    const deployment = structuredClone(only(rendered['k8s/base'], 'Deployment'));
    deployment.spec.template.spec.containers[0].readinessProbe.httpGet.paht = '/readyz';
    expect(typeErrors([deployment]).join('\n')).toMatch(/known properties.*paht/);
  }, 30_000);

  it('catches a value of the wrong type or outside an enum', () => {
    const deployment = structuredClone(only(rendered['k8s/base'], 'Deployment'));
    deployment.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable = 'Sometimes';
    expect(typeErrors([deployment]).join('\n')).toMatch(/"Sometimes"/);
  }, 30_000);
});

describe('k8s/ files', () => {
  it('every manifest file is used by a kustomization', () => {
    const used = new Set<string>();
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const file = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(file);
        else if (entry.name === 'kustomization.yaml') {
          const k = readKustomization(dir);
          for (const r of (k.resources as string[] | undefined) ?? [])
            used.add(path.resolve(dir, r));
          for (const p of (k.patches as { path: string }[] | undefined) ?? [])
            used.add(path.resolve(dir, p.path));
          for (const c of (k.configurations as string[] | undefined) ?? [])
            used.add(path.resolve(dir, c));
          for (const g of (k.configMapGenerator as { files?: string[] }[] | undefined) ?? []) {
            for (const f of g.files ?? []) used.add(path.resolve(dir, f.slice(f.indexOf('=') + 1)));
          }
        } else files.push(file);
      }
    };
    walk(K8S);
    expect(files.filter((f) => !used.has(f)).map((f) => path.relative(ROOT, f))).toEqual([]);
  });

  it('names the image in one place, with a tag or digest, never :latest', () => {
    const base = readKustomization(path.join(K8S, 'base'));
    const images = base.images as { name: string; newName?: string; newTag?: string }[];
    expect(images).toHaveLength(1);
    const raw = readFileSync(path.join(K8S, 'base', 'deployment.yaml'), 'utf8');
    const rawImages = [...raw.matchAll(/^\s*image:\s*(\S+)/gm)].map((m) => m[1]);
    // The manifest names the image without a tag: the tag lives only in kustomization.yaml.
    expect(rawImages).toEqual([images[0]?.name]);
    for (const dir of TARGETS) {
      const workloads = rendered[dir].filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind));
      const containers = workloads.flatMap((w: Json) => w.spec.template.spec.containers);
      expect(containers.length).toBeGreaterThanOrEqual(workloads.length);
      for (const c of containers) {
        const { tag, digest } = splitImage(c.image);
        expect(tag !== undefined || digest !== undefined, `${c.image} has a tag or digest`).toBe(
          true,
        );
        expect(tag).not.toBe('latest');
      }
    }
  });
});

// --- consistency with the service ---------------------------------------------------------------

describe('the manifests agree with the service', () => {
  const objects = rendered['k8s/overlays/monitoring'];
  const deployment = only(objects, 'Deployment');
  const pod = deployment.spec.template;
  const container = pod.spec.containers.find((c: Json) => c.name === 'tornode');
  const env = resolvedEnv(pod, container);
  const config = loadConfig(env);
  const httpPort = container.ports.find((p: Json) => p.name === 'http');

  it('has one container, listening on the named port http = PORT', () => {
    expect(pod.spec.containers).toHaveLength(1);
    expect(httpPort).toBeDefined();
    expect(config.port).toBe(httpPort.containerPort);
    expect(config.host).toBeUndefined(); // all interfaces: the kubelet probes the pod IP
  });

  it('sets only environment variables the service reads', () => {
    const known = envNamesTheServiceReads();
    for (const name of ['PORT', 'WORKERS', 'SHUTDOWN_DELAY_MS', 'POD_NAME']) {
      expect(known, `the scan of src/ finds ${name}`).toContain(name);
    }
    const names = container.env.map((e: Json) => e.name as string);
    // A variable that only exists to be expanded into a later one ($(NAME)) is the kubelet's.
    const expanded = (name: string): boolean =>
      container.env
        .slice(names.indexOf(name) + 1)
        .some((e: Json) => String(e.value ?? '').includes(`$(${name})`));
    expect(names.filter((n: string) => !known.has(n) && !expanded(n))).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
  });

  it('passes pod identity from the downward API', () => {
    const fieldRefs = Object.fromEntries(
      container.env
        .filter((e: Json) => e.valueFrom?.fieldRef)
        .map((e: Json) => [e.name, e.valueFrom.fieldRef.fieldPath]),
    );
    expect(fieldRefs).toEqual({
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      NODE_NAME: 'spec.nodeName',
    });
  });

  it('runs one worker per CPU of the container limit (downward API)', () => {
    const workers = container.env.find((e: Json) => e.name === 'WORKERS');
    expect(workers.valueFrom.resourceFieldRef).toMatchObject({
      containerName: container.name,
      resource: 'limits.cpu',
    });
    expect(config.workers).toBe(Math.ceil(quantity(container.resources.limits.cpu)));
    expect(config.workers).toBeGreaterThanOrEqual(1);
  });

  it('probes /startupz, /livez and /readyz on the admin port, with timings that fit together', () => {
    const { startupProbe: startup, livenessProbe: liveness, readinessProbe: readiness } = container;
    expect(startup.httpGet).toEqual({ path: PROBE_PATHS.startup, port: 'admin' });
    expect(liveness.httpGet).toEqual({ path: PROBE_PATHS.live, port: 'admin' });
    expect(readiness.httpGet).toEqual({ path: PROBE_PATHS.ready, port: 'admin' });
    const window = (p: Json): number => (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3);
    for (const probe of [startup, liveness, readiness]) {
      expect(probe.timeoutSeconds ?? 1).toBeLessThan(probe.periodSeconds ?? 10);
    }
    // Start-up gets room (the service starts in well under a second; slow nodes, cold caches).
    expect(window(startup)).toBeGreaterThanOrEqual(20);
    expect(window(startup)).toBeLessThanOrEqual(120);
    // The startup probe guards liveness, so no initial delay is needed.
    expect(liveness.initialDelaySeconds ?? 0).toBe(0);
    // A slow pod leaves the rotation (readiness) well before it is restarted (liveness).
    expect(window(liveness)).toBeGreaterThan(2 * window(readiness));
    // Readiness answers within its probe timeout even when a check runs to its own timeout.
    expect((readiness.timeoutSeconds ?? 1) * 1000).toBeGreaterThan(DEFAULT_CHECK_TIMEOUT_MS);
    // After SIGTERM /readyz says 503; the probe notices within the shutdown delay.
    expect(window(readiness) * 1000).toBeLessThanOrEqual(config.shutdownDelayMs);
  });

  it('gives the shutdown sequence enough grace period', () => {
    // The primary kills a worker at the workers' deadline (delay + timeout) plus its margin and
    // exits 1; Kubernetes must not SIGKILL the pod before that, and a few seconds more let the
    // processes exit and the logs flush.
    const deadlines = shutdownDeadlines(config);
    expect(deadlines.primaryMs).toBeGreaterThan(deadlines.serviceMs);
    const neededSeconds = deadlines.primaryMs / 1000;
    expect(config.shutdownDelayMs).toBeGreaterThanOrEqual(5000);
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(neededSeconds + 3);
    expect(container.lifecycle?.preStop).toBeUndefined(); // the delay is the service's own
  });

  it('rolls out without losing capacity and keeps ≥ 2 replicas', () => {
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.strategy).toMatchObject({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0 },
    });
    expect(deployment.spec.strategy.rollingUpdate.maxSurge).not.toBe(0);
    expect(matches(deployment.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
  });

  it('sets resource requests and limits', () => {
    const { requests, limits } = container.resources;
    for (const resource of ['cpu', 'memory']) {
      expect(requests[resource], `requests.${resource}`).toBeDefined();
      expect(limits[resource], `limits.${resource}`).toBeDefined();
      expect(quantity(requests[resource])).toBeLessThanOrEqual(quantity(limits[resource]));
    }
  });

  it('runs locked down: non-root (the image user), read-only root, no capabilities', () => {
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const user = [...dockerfile.matchAll(/^USER\s+(\S+)/gm)].pop()?.[1];
    const [uid, gid] = (user ?? '').split(':');
    expect(pod.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: Number(uid),
      runAsGroup: Number(gid),
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.securityContext.privileged ?? false).toBe(false);
    expect(container.securityContext.capabilities.add ?? []).toEqual([]);
    const exposed = /^EXPOSE\s+(\d+)/m.exec(dockerfile)?.[1];
    expect(Number(exposed)).toBe(httpPort.containerPort);
  });

  it('mounts an emptyDir at /tmp (the only writable path)', () => {
    const mount = container.volumeMounts.find((m: Json) => m.mountPath === '/tmp');
    expect(mount).toBeDefined();
    const volume = pod.spec.volumes.find((v: Json) => v.name === mount.name);
    expect(volume.emptyDir).toBeDefined();
    expect(container.volumeMounts).toHaveLength(1);
  });

  it('spreads the pods over nodes', () => {
    const byNode = pod.spec.topologySpreadConstraints.find(
      (t: Json) => t.topologyKey === 'kubernetes.io/hostname',
    );
    expect(byNode).toBeDefined();
    expect(byNode.maxSkew).toBe(1);
    expect(matches(byNode.labelSelector.matchLabels, pod.metadata.labels)).toBe(true);
  });

  it('uses its own service account, without an API token', () => {
    const account = only(objects, 'ServiceAccount');
    expect(pod.spec.serviceAccountName).toBe(account.metadata.name);
    expect(account.automountServiceAccountToken).toBe(false);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
  });

  it('exposes the pods through a Service with a named port', () => {
    const service = appService(objects, pod);
    expect(matches(service.spec.selector, pod.metadata.labels)).toBe(true);
    expect(service.spec.ports).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'http', targetPort: 'http' })]),
    );
  });

  it('has a PodDisruptionBudget that lets one pod go at a time', () => {
    const pdb = only(objects, 'PodDisruptionBudget');
    expect(matches(pdb.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
    const hpa = only(objects, 'HorizontalPodAutoscaler');
    if (pdb.spec.maxUnavailable !== undefined) {
      expect(pdb.spec.maxUnavailable).toBeGreaterThanOrEqual(1);
      expect(pdb.spec.maxUnavailable).toBeLessThan(hpa.spec.minReplicas);
    } else {
      expect(pdb.spec.minAvailable).toBeLessThan(hpa.spec.minReplicas);
    }
  });

  it('autoscales the Deployment on CPU from its replicas up', () => {
    const hpa = only(objects, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: deployment.metadata.name,
    });
    expect(hpa.spec.minReplicas).toBe(deployment.spec.replicas);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    const cpu = hpa.spec.metrics.find((m: Json) => m.resource?.name === 'cpu');
    expect(cpu.resource.target.type).toBe('Utilization');
    expect(container.resources.requests.cpu).toBeDefined(); // utilization is of the request
  });

  it('declares Prometheus scraping with pod annotations', () => {
    expect(pod.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(config.adminPort),
      'prometheus.io/path': PROBE_PATHS.metrics,
    });
  });

  it('declares Prometheus scraping with a ServiceMonitor (monitoring overlay)', () => {
    const monitor = only(objects, 'ServiceMonitor');
    const service = appService(objects, pod);
    expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(true);
    const names = service.spec.ports.map((p: Json) => p.name);
    for (const endpoint of monitor.spec.endpoints) {
      expect(names).toContain(endpoint.port);
      expect(endpoint.path).toBe(PROBE_PATHS.metrics);
    }
    // OpenMetrics preferred, so that the exemplars reach Prometheus; the text format as fallback.
    expect(monitor.spec.scrapeProtocols).toEqual(['OpenMetricsText1.0.0', 'PrometheusText0.0.4']);
    expect(rendered['k8s/base'].some((o) => o.kind === 'ServiceMonitor')).toBe(false);
  });

  it('ships the Grafana dashboard as a ConfigMap for the sidecar', () => {
    const configMap = only(objects, 'ConfigMap');
    expect(configMap.metadata.labels.grafana_dashboard).toBe('1');
    const file = path.join(K8S, 'components', 'grafana-dashboard', 'tornode-dashboard.json');
    expect(configMap.data).toEqual({ 'tornode-dashboard.json': readFileSync(file, 'utf8') });
    const dashboard = JSON.parse(configMap.data['tornode-dashboard.json']);
    expect(dashboard.uid).toBe('tornode');
    expect(dashboard.panels.length).toBeGreaterThan(0);
  });
});
