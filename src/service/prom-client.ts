/**
 * The parts of prom-client the service uses, loaded from their own files.
 *
 * prom-client's index also loads its Pushgateway, and with it `https`, `tls` and `zlib`: about a
 * third of the library's load time and ~5 MiB of idle RSS that a scraped service never uses.
 * The classes are the very ones the index exports (one module cache), so metrics made here and
 * metrics a user makes with `import client from 'prom-client'` go in the same registries.
 * Values come through `require` typed as prom-client's own declarations.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry: typeof PromClient.Registry = require('prom-client/lib/registry');
export type Registry = PromClient.Registry;
export const Counter: typeof PromClient.Counter = require('prom-client/lib/counter');
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Gauge: typeof PromClient.Gauge = require('prom-client/lib/gauge');
export type Gauge<T extends string = string> = PromClient.Gauge<T>;

/** prom-client's default metrics but the CPU counters, in the order its `collectDefaultMetrics` registers them. */
const DEFAULT_METRICS = [
  'processStartTime',
  'osMemoryHeap',
  'processOpenFileDescriptors',
  'processMaxFileDescriptors',
  'eventLoopLag',
  // prom-client registers it where Node has `getActiveResourcesInfo` (≥ 17.3): always here.
  'processResources',
  'processHandles',
  'processRequests',
  'heapSizeAndUsed',
  'heapSpacesSizeAndUsed',
  'version',
  'gc',
] as const;

type DefaultMetric = (
  registry: Registry,
  config: PromClient.DefaultMetricsCollectorConfiguration<'text/plain; version=0.0.4; charset=utf-8'>,
) => void;

/**
 * prom-client's `collectDefaultMetrics({ register })`: the same metrics, registered in the same
 * order, from the same modules, but for its first one, `process_cpu_*_seconds_total`, which is made
 * here. prom-client's module for it loads `@opentelemetry/api` (45 files, ~1 MiB of idle RSS and
 * start-up time, bench/analysis.md "Idle memory") only to read the active span when exemplars are
 * on, which the default metrics never turn on.
 */
export function collectDefaultMetrics(config: { readonly register: Registry }): void {
  const { register } = config;
  processCpuTotal(register);
  const options = { eventLoopMonitoringPrecision: 10, register };
  for (const name of DEFAULT_METRICS) {
    (require(`prom-client/lib/metrics/${name}`) as DefaultMetric)(register, options);
  }
}

/**
 * `process_cpu_user_seconds_total`, `process_cpu_system_seconds_total` and
 * `process_cpu_seconds_total`, as prom-client makes them: the CPU time used since they were made,
 * brought up to date when the registry is read.
 */
function processCpuTotal(register: Registry): void {
  let last = process.cpuUsage();
  const registers = [register];
  const user = new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const userMicros = now.user - last.user;
      const systemMicros = now.system - last.system;
      last = now;
      user.inc(userMicros / 1e6);
      system.inc(systemMicros / 1e6);
      total.inc((userMicros + systemMicros) / 1e6);
    },
  });
  const system = new Counter({
    name: 'process_cpu_system_seconds_total',
    help: 'Total system CPU time spent in seconds.',
    registers,
  });
  const total = new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  });
}

/** prom-client's AggregatorRegistry (the cluster primary's), loaded on first use. */
export function aggregatorRegistry(): typeof PromClient.AggregatorRegistry {
  return require('prom-client/lib/cluster');
}
