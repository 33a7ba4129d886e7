/**
 * compose.yaml (two instances of the service and Redis, for trying the chat across instances):
 * checked statically, since running it needs a Docker daemon with bridge networking.
 *
 * - Against the Compose Specification's schema by `docker compose config -q` or Debian's
 *   `docker-compose config -q`, whichever is installed. Neither: the test is skipped with one line,
 *   except under CI (CI set), where that is a failure.
 * - Against the project: two instances built from the Dockerfile on distinct loopback ports, both
 *   pointing REDIS_URL at the file's Redis and waiting for it to be healthy; Redis the same image
 *   and flags as k8s/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type Json, only, ROOT, rendered } from './manifests.js';

const FILE = path.join(ROOT, 'compose.yaml');
const compose: Json = parseYaml(readFileSync(FILE, 'utf8'), { merge: true });

/** `docker compose` (the plugin) or `docker-compose`, whichever answers; undefined when neither. */
function findValidator(): string[] | undefined {
  for (const command of [['docker', 'compose'], ['docker-compose']] as const) {
    const [bin = '', ...rest] = command;
    const probe = spawnSync(bin, [...rest, 'version'], { stdio: 'ignore', timeout: 30_000 });
    if (probe.status === 0) return [...command];
  }
  return undefined;
}

/** Runs the validator on `file`: its exit status and what it printed. */
function validate(validator: string[], file: string): { status: number | null; output: string } {
  const [bin = '', ...rest] = validator;
  const result = spawnSync(bin, [...rest, '-f', file, 'config', '-q'], {
    encoding: 'utf8',
    timeout: 60_000,
    cwd: ROOT,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

const validator = findValidator();

describe('compose.yaml', () => {
  const services: Record<string, Json> = compose.services;
  const instances = Object.entries(services).filter(([, s]) => s.build !== undefined);

  it('is valid against the Compose Specification', (ctx) => {
    if (validator === undefined) {
      const message = 'compose.yaml: neither `docker compose` nor `docker-compose` is installed';
      if (process.env.CI)
        throw new Error(`${message} (CI needs one: apt-get install docker-compose)`);
      console.warn(`${message}; schema check skipped`);
      ctx.skip();
      return;
    }
    expect(validate(validator, FILE)).toEqual({ status: 0, output: '' });
  }, 60_000);

  it.runIf(validator !== undefined)(
    'the validator rejects a misspelt field',
    () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'tornode-compose-'));
      try {
        const broken = path.join(dir, 'compose.yaml');
        const text = readFileSync(FILE, 'utf8').replace('start_period: 5s', 'start_periodd: 5s');
        expect(text).toContain('start_periodd');
        writeFileSync(broken, text);
        const { status, output } = validate(validator ?? [], broken);
        expect(status).not.toBe(0);
        expect(output).toContain('start_periodd');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );

  it('runs two instances built from the Dockerfile, on distinct loopback ports', () => {
    expect(instances.map(([name]) => name)).toHaveLength(2);
    const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const exposed = Number(/^EXPOSE\s+(\d+)/m.exec(dockerfile)?.[1]);
    const hostPorts: number[] = [];
    for (const [, service] of instances) {
      const context = typeof service.build === 'string' ? service.build : service.build.context;
      expect(existsSync(path.join(ROOT, context, 'Dockerfile'))).toBe(true);
      expect(service.ports).toHaveLength(1);
      const [host, hostPort, containerPort] = String(service.ports[0]).split(':');
      expect(host).toBe('127.0.0.1');
      expect(Number(containerPort)).toBe(exposed);
      hostPorts.push(Number(hostPort));
    }
    expect(hostPorts.sort()).toEqual([8081, 8082]);
  });

  it('points every instance at its Redis, started first and healthy', () => {
    for (const [name, service] of instances) {
      const url = new URL(service.environment.REDIS_URL);
      expect(url.protocol, name).toBe('redis:');
      const redis = services[url.hostname];
      expect(redis, `${name}: REDIS_URL names a service of the file`).toBeDefined();
      expect(Number(url.port || 6379)).toBe(6379);
      expect(service.depends_on[url.hostname]).toEqual({ condition: 'service_healthy' });
      expect(redis.healthcheck.test.slice(0, 2)).toEqual(['CMD', 'redis-cli']);
      expect(redis.healthcheck.test.at(-1)).toBe('ping');
    }
  });

  it('runs Redis as k8s/ does: same image and flags, non-root, data on a volume', () => {
    const redis = services.redis;
    const inCluster = only(rendered['k8s/base'], 'StatefulSet').spec.template.spec;
    const container = inCluster.containers[0];
    expect(redis.image).toBe(container.image);
    expect(redis.command).toEqual(container.args);
    expect(redis.user).toBe(
      `${inCluster.securityContext.runAsUser}:${inCluster.securityContext.runAsGroup}`,
    );
    expect(redis.volumes).toEqual([expect.stringMatching(/^[a-z-]+:\/data$/)]);
    expect(Object.keys(compose.volumes ?? {})).toContain(redis.volumes[0].split(':')[0]);
  });

  it('locks every container down: read-only root, no capabilities, no privilege gain', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.read_only, name).toBe(true);
      expect(service.cap_drop, name).toEqual(['ALL']);
      expect(service.security_opt, name).toContain('no-new-privileges:true');
    }
  });

  it('is not needed by the README commands', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const quickStart = /## Quick start\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    expect(quickStart).toContain('npm start');
    expect(quickStart).not.toContain('compose');
    // The image alone serves: no REDIS_URL or other Redis setting is baked into it.
    expect(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8')).not.toMatch(/REDIS/);
  });
});
