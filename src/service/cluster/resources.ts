/**
 * What this container may use: CPUs from the cgroup CPU quota and memory from the cgroup memory
 * limit (v2 and v1), so that `WORKERS=auto` and each worker's heap fit the container rather than
 * the host (`os.cpus()` and V8's defaults see the host).
 */
import { availableParallelism } from 'node:os';

// `node:fs` without its ES namespace, which would load `fs/promises` (src/web/builtins.ts).
const { readFileSync } = process.getBuiltinModule('node:fs');

import { join } from 'node:path';

/** Share of the memory limit given to V8 heaps (the rest: stacks, buffers, native memory). */
export const HEAP_FRACTION = 0.75;

/** The smallest heap a worker is given; `WORKERS=auto` starts no more workers than fit. */
export const MIN_WORKER_HEAP_MIB = 128;

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The cgroup CPU quota in CPUs (may be fractional), or `undefined` when there is none. */
export function cgroupCpuQuota(root = '/sys/fs/cgroup'): number | undefined {
  const v2 = read(join(root, 'cpu.max'));
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    if (quota === undefined || quota === 'max') return undefined;
    const q = Number(quota);
    const p = Number(period ?? '100000');
    return q > 0 && p > 0 ? q / p : undefined;
  }
  for (const dir of ['cpu', 'cpu,cpuacct', 'cpuacct,cpu']) {
    const quota = read(join(root, dir, 'cpu.cfs_quota_us'));
    const period = read(join(root, dir, 'cpu.cfs_period_us'));
    if (quota === undefined || period === undefined) continue;
    const q = Number(quota);
    const p = Number(period);
    return q > 0 && p > 0 ? q / p : undefined;
  }
  return undefined;
}

/** The cgroup memory limit in bytes, or `undefined` when there is none. */
export function cgroupMemoryLimit(root = '/sys/fs/cgroup'): number | undefined {
  const v2 = read(join(root, 'memory.max'));
  if (v2 !== undefined) {
    if (v2 === 'max') return undefined;
    const limit = Number(v2);
    return Number.isFinite(limit) && limit > 0 ? limit : undefined;
  }
  const v1 = read(join(root, 'memory', 'memory.limit_in_bytes'));
  if (v1 === undefined) return undefined;
  const limit = Number(v1);
  // v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages).
  return Number.isFinite(limit) && limit > 0 && limit < 2 ** 60 ? limit : undefined;
}

/** How the worker count was chosen, for the primary's start-up line. */
export interface WorkerCount {
  readonly count: number;
  readonly reason: string;
}

/**
 * Resolves `WORKERS`: a number is taken as it is; `auto` is the cgroup CPU quota rounded up (the
 * CPUs available without one), capped by the CPUs the process may run on and by the workers whose
 * heap ({@link MIN_WORKER_HEAP_MIB} at least) fits the cgroup memory limit, and at least 1.
 */
export function resolveWorkerCount(
  workers: 'auto' | number,
  root = '/sys/fs/cgroup',
  cpus = availableParallelism(),
): WorkerCount {
  if (workers !== 'auto') return { count: workers, reason: `WORKERS=${workers}` };
  const quota = cgroupCpuQuota(root);
  const byCpu = quota === undefined ? cpus : Math.min(Math.ceil(quota), cpus);
  const cpuReason =
    quota === undefined
      ? `no CPU quota; ${cpus} CPUs available`
      : `cgroup CPU quota ${quota} (capped by ${cpus} CPUs available)`;
  const memory = cgroupMemoryLimit(root);
  const byMemory =
    memory === undefined
      ? Number.POSITIVE_INFINITY
      : Math.floor((memory * HEAP_FRACTION) / (MIN_WORKER_HEAP_MIB * 1024 * 1024));
  if (byMemory < byCpu) {
    const count = Math.max(1, byMemory);
    const mib = Math.round((memory ?? 0) / (1024 * 1024));
    return {
      count,
      reason: `${cpuReason}; capped by the cgroup memory limit ${mib} MiB (${MIN_WORKER_HEAP_MIB} MiB of heap per worker at least)`,
    };
  }
  return { count: Math.max(1, byCpu), reason: cpuReason };
}

/**
 * The `--max-old-space-size` (MiB) for each of `workers` processes under the cgroup memory limit:
 * limit × {@link HEAP_FRACTION} ÷ workers. `undefined` when there is no limit, or when the user
 * already chose one (in `execArgv` or `NODE_OPTIONS`).
 */
export function workerHeapLimitMiB(
  workers: number,
  options: {
    root?: string;
    execArgv?: readonly string[];
    nodeOptions?: string | undefined;
  } = {},
): number | undefined {
  const userSet = [...(options.execArgv ?? process.execArgv), options.nodeOptions ?? ''].some((a) =>
    /--max-old-space-size/.test(a),
  );
  if (userSet) return undefined;
  const limit = cgroupMemoryLimit(options.root);
  if (limit === undefined) return undefined;
  return Math.max(32, Math.floor((limit * HEAP_FRACTION) / workers / (1024 * 1024)));
}
