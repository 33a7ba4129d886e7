import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { collectDefaultMetrics, Registry } from '../../src/service/prom-client.js';
import { loadedModules, startWatchedService } from '../support/loaded-modules.js';

/** Name, type and help of every metric of `registry`, in exposition order. */
async function shape(registry: client.Registry | Registry) {
  const metrics = await registry.getMetricsAsJSON();
  return metrics.map(({ name, type, help }) => ({ name, type, help }));
}

describe('collectDefaultMetrics', () => {
  it("registers what prom-client's own does, in the same order", async () => {
    const theirs = new client.Registry();
    client.collectDefaultMetrics({ register: theirs });
    const ours = new Registry();
    collectDefaultMetrics({ register: ours });
    const expected = await shape(theirs);
    expect(expected.map((m) => m.name)).toContain('process_cpu_seconds_total');
    expect(await shape(ours)).toEqual(expected);
  });

  it('counts the CPU time of the process, user plus system', async () => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const started = process.cpuUsage();
    let x = 0;
    while ((process.cpuUsage().user - started.user) / 1e6 < 0.05) x += Math.sqrt(x + 1);
    const text = await registry.metrics();
    const value = (name: string) =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    const user = value('process_cpu_user_seconds_total');
    const system = value('process_cpu_system_seconds_total');
    expect(user).toBeGreaterThanOrEqual(0.05);
    expect(system).toBeGreaterThanOrEqual(0);
    expect(value('process_cpu_seconds_total')).toBeCloseTo(user + system, 9);
    expect(x).toBeGreaterThan(0);
  });

  it('the service loads prom-client without @opentelemetry/api', async () => {
    const service = await startWatchedService();
    const files = (await loadedModules(service)).requiredFiles;
    expect(files.some((f) => f.includes('/node_modules/prom-client/lib/registry.js'))).toBe(true);
    expect(files.filter((f) => f.includes('/node_modules/@opentelemetry/api/'))).toEqual([]);
  });
});
