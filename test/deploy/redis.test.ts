/**
 * The chat's Redis in the manifests (k8s/components/redis, k8s/components/managed-redis): every
 * target that runs Redis in the cluster points REDIS_URL at the rendered Redis Service, lets only
 * the service's pods reach it, and runs it locked down with resources and probes; the managed
 * variant has no Redis of its own and reads REDIS_URL from a Secret. Renamed copies (namePrefix,
 * namespace, labels with includeSelectors, as docs/deploy.md suggests) are rendered with the
 * kustomize binary, when one is installed: this project's renderer renames nothing.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type K8sObject, kustomizeBinary, objectId, renderWithBinary } from './kustomize.js';
import {
  IN_CLUSTER_REDIS,
  type Json,
  K8S,
  matches,
  only,
  quantity,
  rendered,
  resolvedEnv,
} from './manifests.js';

const REDIS_PORT = 6379;

/** The service's container and its resolved environment. */
function app(objects: K8sObject[]): { pod: Json; container: Json; env: Record<string, string> } {
  const pod = only(objects, 'Deployment').spec.template;
  const container = pod.spec.containers.find((c: Json) => c.name === 'tornode');
  return { pod, container, env: resolvedEnv(pod, container) };
}

/** A NetworkPolicy port (number or name) as the container's port number. */
function portNumber(port: number | string, container: Json): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports.find((p: Json) => p.name === port)?.containerPort;
}

/** Every label selector of the service's own objects (Deployment, Services, PDB, spread). */
function appSelectors(objects: K8sObject[], redisPodLabels: Record<string, string>): Json[] {
  const { pod } = app(objects);
  return [
    only(objects, 'Deployment').spec.selector.matchLabels,
    only(objects, 'PodDisruptionBudget').spec.selector.matchLabels,
    ...pod.spec.topologySpreadConstraints.map((t: Json) => t.labelSelector.matchLabels),
    ...objects
      .filter((o: Json) => o.kind === 'Service' && !matches(o.spec.selector, redisPodLabels))
      .map((o: Json) => o.spec.selector),
  ];
}

/** The checks every rendering with an in-cluster Redis must pass. */
function checkInClusterRedis(objects: K8sObject[]): void {
  const statefulSet = only(objects, 'StatefulSet');
  const redisPod = statefulSet.spec.template;
  const redis = redisPod.spec.containers[0];
  const { pod, container, env } = app(objects);

  // REDIS_URL names the Service that selects the Redis pods, on the port that reaches Redis.
  const url = new URL(env.REDIS_URL ?? '');
  expect(url.protocol).toBe('redis:');
  const services = objects.filter((o) => o.kind === 'Service' && o.metadata.name === url.hostname);
  expect(services.map(objectId), `a Service named ${url.hostname}`).toHaveLength(1);
  const service: Json = services[0];
  expect(matches(service.spec.selector, redisPod.metadata.labels)).toBe(true);
  const servicePort = service.spec.ports.find(
    (p: Json) => p.port === Number(url.port || REDIS_PORT),
  );
  expect(servicePort, `the Service has port ${url.port}`).toBeDefined();
  expect(portNumber(servicePort.targetPort, redis)).toBe(REDIS_PORT);
  expect(statefulSet.spec.serviceName).toBe(service.metadata.name);

  // Each side's selectors pick its own pods only.
  expect(matches(statefulSet.spec.selector.matchLabels, redisPod.metadata.labels)).toBe(true);
  for (const selector of [statefulSet.spec.selector.matchLabels, service.spec.selector]) {
    expect(matches(selector, pod.metadata.labels), 'a Redis selector picks the app').toBe(false);
  }
  for (const selector of appSelectors(objects, redisPod.metadata.labels)) {
    expect(matches(selector, pod.metadata.labels)).toBe(true);
    expect(matches(selector, redisPod.metadata.labels), 'an app selector picks Redis').toBe(false);
  }
  for (const monitor of objects.filter((o: Json) => o.kind === 'ServiceMonitor') as Json[]) {
    expect(matches(monitor.spec.selector.matchLabels, service.metadata.labels)).toBe(false);
  }

  // Only the service's pods reach Redis, on its port.
  const policy = only(
    objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] === 'redis'),
    'NetworkPolicy',
  );
  expect(matches(policy.spec.podSelector.matchLabels, redisPod.metadata.labels)).toBe(true);
  expect(matches(policy.spec.podSelector.matchLabels, pod.metadata.labels)).toBe(false);
  expect(policy.spec.policyTypes).toContain('Ingress');
  expect(policy.spec.ingress.length).toBeGreaterThan(0);
  for (const rule of policy.spec.ingress) {
    // A rule without `from` or without `ports` would let every pod in, or on every port.
    expect(rule.from?.length, 'every rule names its peers').toBeGreaterThan(0);
    expect(rule.ports?.length, 'every rule names its ports').toBeGreaterThan(0);
    for (const peer of rule.from) {
      expect(Object.keys(peer)).toEqual(['podSelector']); // no namespaceSelector, no ipBlock
      expect(matches(peer.podSelector.matchLabels, pod.metadata.labels)).toBe(true);
      expect(matches(peer.podSelector.matchLabels, redisPod.metadata.labels)).toBe(false);
    }
    for (const port of rule.ports) {
      expect(portNumber(port.port, redis)).toBe(REDIS_PORT);
      expect(port.protocol ?? 'TCP').toBe('TCP');
    }
  }
  expect(container.env.some((e: Json) => e.name === 'REDIS_URL')).toBe(true);
}

describe.each(IN_CLUSTER_REDIS)('the in-cluster Redis of %s', (dir) => {
  const objects = rendered[dir];

  it('is reached through REDIS_URL and only by the service', () => {
    checkInClusterRedis(objects);
  });
});

describe('the in-cluster Redis', () => {
  const objects = rendered['k8s/base'];
  const statefulSet = only(objects, 'StatefulSet');
  const podSpec = statefulSet.spec.template.spec;
  const redis = podSpec.containers[0];

  it('is one Redis 7 replica, pinned by tag, with an append-only file', () => {
    expect(statefulSet.spec.replicas).toBe(1);
    expect(podSpec.containers).toHaveLength(1);
    expect(redis.image).toMatch(/^redis:7\.\d+\.\d+(-[a-z0-9]+)?$/);
    const args: string[] = [...(redis.command ?? []), ...(redis.args ?? [])];
    expect(args[args.indexOf('--appendonly') + 1]).toBe('yes');
    expect(redis.ports).toEqual([
      expect.objectContaining({ containerPort: REDIS_PORT, protocol: 'TCP' }),
    ]);
  });

  it('runs as the image user, non-root, with a read-only root filesystem', () => {
    expect(podSpec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 999, // the official image's redis user
      runAsGroup: 999,
      fsGroup: 999, // so the volume at /data is writable by it
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(redis.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(redis.securityContext.privileged ?? false).toBe(false);
    expect(podSpec.automountServiceAccountToken).toBe(false);
  });

  it('keeps its data at /data on a volume that outlives the pod', () => {
    const mounts = redis.volumeMounts;
    expect(mounts.map((m: Json) => m.mountPath)).toEqual(['/data']);
    const claims = statefulSet.spec.volumeClaimTemplates ?? [];
    const claim = claims.find((c: Json) => c.metadata.name === mounts[0].name);
    expect(claim, 'a volumeClaimTemplate for /data').toBeDefined();
    expect(quantity(claim.spec.resources.requests.storage)).toBeGreaterThan(0);
    expect(podSpec.volumes ?? []).toEqual([]);
  });

  it('sets resource requests and limits, and a maxmemory below the memory limit', () => {
    const { requests, limits } = redis.resources;
    for (const resource of ['cpu', 'memory']) {
      expect(quantity(requests[resource])).toBeLessThanOrEqual(quantity(limits[resource]));
    }
    const args: string[] = redis.args;
    const maxmemory = /^(\d+)mb$/.exec(args[args.indexOf('--maxmemory') + 1] ?? '');
    expect(maxmemory, '--maxmemory <N>mb').not.toBeNull();
    // An AOF rewrite forks: the child's copied pages count against the same limit.
    expect(Number(maxmemory?.[1]) * 2 ** 20).toBeLessThanOrEqual(quantity(limits.memory) / 2);
    expect(args[args.indexOf('--maxmemory-policy') + 1]).toBe('noeviction');
  });

  it('has readiness and liveness probes that ask Redis itself', () => {
    const { readinessProbe: readiness, livenessProbe: liveness } = redis;
    for (const probe of [readiness, liveness]) {
      expect(probe.timeoutSeconds ?? 1).toBeLessThan(probe.periodSeconds ?? 10);
      const [command, ...rest] = probe.exec?.command ?? [];
      expect(command).toBe('redis-cli');
      expect(rest.at(-1)).toBe('ping');
    }
    // -e: an error reply (LOADING) fails readiness; liveness wants any reply, so a long load of
    // the append-only file is not killed.
    expect(readiness.exec.command).toContain('-e');
    expect(liveness.exec.command).not.toContain('-e');
  });
});

describe('k8s/overlays/managed-redis', () => {
  const objects = rendered['k8s/overlays/managed-redis'];
  const base = rendered['k8s/base'];

  it('has no Redis of its own', () => {
    const redisLabelled = (o: K8sObject): boolean =>
      o.metadata.labels?.['app.kubernetes.io/name'] === 'redis';
    expect(objects.filter((o) => o.kind === 'StatefulSet' || redisLabelled(o))).toEqual([]);
    const { pod } = app(objects);
    const services = objects.filter((o) => o.kind === 'Service') as Json[];
    expect(services.every((s) => matches(s.spec.selector, pod.metadata.labels))).toBe(true);
  });

  it('reads REDIS_URL from a Secret', () => {
    const { container, env } = app(objects);
    const entry = container.env.find((e: Json) => e.name === 'REDIS_URL');
    expect(entry.value).toBeUndefined();
    expect(entry.valueFrom.secretKeyRef).toEqual({ name: expect.any(String), key: 'url' });
    expect(entry.valueFrom.secretKeyRef.optional ?? false).toBe(false);
    expect(Object.values(env).some((v) => v.includes('$('))).toBe(false);
    expect(container.env.some((e: Json) => e.name === 'REDIS_SERVICE')).toBe(false);
  });

  it('is otherwise the base', () => {
    const strip = (list: K8sObject[]): Record<string, Json> =>
      Object.fromEntries(
        list
          .filter((o) => !['StatefulSet', 'NetworkPolicy'].includes(o.kind))
          .filter((o) => !(o.kind === 'Service' && o.metadata.name.endsWith('-redis')))
          .map((o) => {
            const copy: Json = structuredClone(o);
            if (o.kind === 'Deployment') {
              copy.spec.template.spec.containers[0].env =
                copy.spec.template.spec.containers[0].env.filter(
                  (e: Json) => !e.name.startsWith('REDIS_'),
                );
            }
            return [objectId(o), copy];
          }),
      );
    expect(strip(objects)).toEqual(strip(base));
  });
});

describe.runIf(kustomizeBinary() !== undefined)('renamed copies (kustomize binary)', () => {
  const work = mkdtempSync(path.join(tmpdir(), 'tornode-k8s-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  /** An overlay of `target` as docs/deploy.md shows for a second copy in one namespace. */
  function copy(name: string, target: string): K8sObject[] {
    const dir = path.join(work, name);
    mkdirSync(dir);
    const kustomization = [
      'apiVersion: kustomize.config.k8s.io/v1beta1',
      'kind: Kustomization',
      `namePrefix: ${name}-`,
      'namespace: chat',
      `resources: [${path.relative(dir, path.join(K8S, target))}]`,
      'labels:',
      `  - pairs: { app.kubernetes.io/instance: ${name} }`,
      '    includeSelectors: true',
    ].join('\n');
    writeFileSync(path.join(dir, 'kustomization.yaml'), `${kustomization}\n`);
    return renderWithBinary(dir) ?? [];
  }

  it('REDIS_URL follows the renamed Service; the selectors still pair up', () => {
    const objects = copy('team', 'base');
    expect(only(objects, 'StatefulSet').metadata.name).toBe('team-tornode-redis');
    expect(app(objects).env.REDIS_URL).toBe('redis://team-tornode-redis:6379');
    checkInClusterRedis(objects);
  });

  it('two copies in one namespace select none of each other’s pods', () => {
    const a = copy('blue', 'overlays/monitoring');
    const b = copy('green', 'base');
    for (const [mine, theirs] of [
      [a, b],
      [b, a],
    ] as const) {
      // Pods, and Services (what a ServiceMonitor selects).
      const targets = [
        only(theirs, 'Deployment').spec.template.metadata.labels,
        only(theirs, 'StatefulSet').spec.template.metadata.labels,
        ...theirs.filter((o) => o.kind === 'Service').map((o) => o.metadata.labels ?? {}),
      ];
      const selectors = mine.flatMap((o: Json) => [
        o.spec?.selector?.matchLabels ?? (o.kind === 'Service' ? o.spec.selector : undefined),
        o.spec?.podSelector?.matchLabels,
        ...(o.spec?.template?.spec?.topologySpreadConstraints ?? []).map(
          (t: Json) => t.labelSelector.matchLabels,
        ),
        // A peer without pod labels (`podSelector: {}`, a namespaceSelector) is the whole
        // namespace on purpose: the service's http port.
        ...(o.spec?.ingress ?? []).flatMap((r: Json) =>
          r.from.map((p: Json) => p.podSelector?.matchLabels),
        ),
      ]);
      const defined = selectors.filter((s: Json) => s !== undefined);
      expect(defined.length).toBeGreaterThanOrEqual(6);
      for (const selector of defined) {
        for (const labels of targets) expect(matches(selector, labels)).toBe(false);
      }
    }
  });
});
