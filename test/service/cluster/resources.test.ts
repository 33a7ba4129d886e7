import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cgroupCpuQuota,
  cgroupMemoryLimit,
  HEAP_FRACTION,
  resolveWorkerCount,
  workerHeapLimitMiB,
} from '../../../src/service/cluster/resources.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const roots: string[] = [];

afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});

/** A fake cgroup tree: `files` maps paths relative to the root to their contents. */
function cgroup(files: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, `${content}\n`);
  }
  return root;
}

describe('cgroupCpuQuota', () => {
  it('v2 cpu.max "max 100000" means no quota', () => {
    expect(cgroupCpuQuota(cgroup({ 'cpu.max': 'max 100000' }))).toBeUndefined();
  });

  it('v2 cpu.max "150000 100000" is 1.5 CPUs', () => {
    expect(cgroupCpuQuota(cgroup({ 'cpu.max': '150000 100000' }))).toBe(1.5);
  });

  it('v2 cpu.max with another period', () => {
    expect(cgroupCpuQuota(cgroup({ 'cpu.max': '25000 50000' }))).toBe(0.5);
  });

  it('v2 wins over v1 files when both are there', () => {
    const root = cgroup({
      'cpu.max': '300000 100000',
      'cpu/cpu.cfs_quota_us': '100000',
      'cpu/cpu.cfs_period_us': '100000',
    });
    expect(cgroupCpuQuota(root)).toBe(3);
  });

  it('v1 cfs_quota_us -1 means no quota', () => {
    const root = cgroup({ 'cpu/cpu.cfs_quota_us': '-1', 'cpu/cpu.cfs_period_us': '100000' });
    expect(cgroupCpuQuota(root)).toBeUndefined();
  });

  it('v1 positive quota over the period', () => {
    const root = cgroup({ 'cpu/cpu.cfs_quota_us': '250000', 'cpu/cpu.cfs_period_us': '100000' });
    expect(cgroupCpuQuota(root)).toBe(2.5);
  });

  it('v1 under the combined cpu,cpuacct mount', () => {
    const root = cgroup({
      'cpu,cpuacct/cpu.cfs_quota_us': '50000',
      'cpu,cpuacct/cpu.cfs_period_us': '100000',
    });
    expect(cgroupCpuQuota(root)).toBe(0.5);
  });

  it('v1 quota without its period file is ignored', () => {
    expect(cgroupCpuQuota(cgroup({ 'cpu/cpu.cfs_quota_us': '200000' }))).toBeUndefined();
  });

  it('no files at all: no quota', () => {
    expect(cgroupCpuQuota(cgroup())).toBeUndefined();
    expect(cgroupCpuQuota(join(cgroup(), 'does-not-exist'))).toBeUndefined();
  });
});

describe('cgroupMemoryLimit', () => {
  it('v2 memory.max "max" means no limit', () => {
    expect(cgroupMemoryLimit(cgroup({ 'memory.max': 'max' }))).toBeUndefined();
  });

  it('v2 memory.max in bytes', () => {
    expect(cgroupMemoryLimit(cgroup({ 'memory.max': String(512 * MiB) }))).toBe(512 * MiB);
  });

  it('v1 memory.limit_in_bytes in bytes', () => {
    const root = cgroup({ 'memory/memory.limit_in_bytes': String(GiB) });
    expect(cgroupMemoryLimit(root)).toBe(GiB);
  });

  it('v1 huge value (PAGE_COUNTER_MAX pages) means no limit', () => {
    const root = cgroup({ 'memory/memory.limit_in_bytes': '9223372036854771712' });
    expect(cgroupMemoryLimit(root)).toBeUndefined();
  });

  it('missing files: no limit', () => {
    expect(cgroupMemoryLimit(cgroup())).toBeUndefined();
  });
});

describe('resolveWorkerCount', () => {
  it('a number passes through, with WORKERS=N as the reason', () => {
    const root = cgroup({ 'cpu.max': '100000 100000' });
    expect(resolveWorkerCount(3, root, 8)).toEqual({ count: 3, reason: 'WORKERS=3' });
    // Not capped by the quota nor by the CPUs: the operator asked for it.
    expect(resolveWorkerCount(16, root, 2).count).toBe(16);
  });

  it('auto: a quota of 1.5 CPUs rounds up to 2 workers', () => {
    const result = resolveWorkerCount('auto', cgroup({ 'cpu.max': '150000 100000' }), 8);
    expect(result.count).toBe(2);
    expect(result.reason).toMatch(/1\.5/);
  });

  it('auto: the quota is capped by the CPUs available', () => {
    expect(resolveWorkerCount('auto', cgroup({ 'cpu.max': '400000 100000' }), 2).count).toBe(2);
    expect(resolveWorkerCount('auto', cgroup({ 'cpu.max': '150000 100000' }), 1).count).toBe(1);
  });

  it('auto: a fractional quota below one CPU still gives one worker', () => {
    expect(resolveWorkerCount('auto', cgroup({ 'cpu.max': '20000 100000' }), 4).count).toBe(1);
  });

  it('auto without a quota: the CPUs available, at least 1', () => {
    const none = cgroup({ 'cpu.max': 'max 100000' });
    const result = resolveWorkerCount('auto', none, 6);
    expect(result.count).toBe(6);
    expect(result.reason).toMatch(/no CPU quota/);
    expect(resolveWorkerCount('auto', none, 0).count).toBe(1);
  });

  it('auto without a CPU quota: bounded by the memory limit too, and says why', () => {
    // 512 MiB × 0.75 = 384 MiB of heap: three workers of 128 MiB, not one per CPU.
    const root = cgroup({ 'cpu.max': 'max 100000', 'memory.max': String(512 * MiB) });
    const result = resolveWorkerCount('auto', root, 16);
    expect(result.count).toBe(3);
    expect(result.reason).toMatch(/no CPU quota; 16 CPUs/);
    expect(result.reason).toMatch(/memory limit 512 MiB/);
    // A tiny limit still gives one worker; a large one leaves the CPU count alone.
    const tiny = cgroup({ 'cpu.max': 'max 100000', 'memory.max': String(100 * MiB) });
    expect(resolveWorkerCount('auto', tiny, 16).count).toBe(1);
    const large = cgroup({ 'cpu.max': 'max 100000', 'memory.max': String(64 * GiB) });
    expect(resolveWorkerCount('auto', large, 4)).toEqual({
      count: 4,
      reason: 'no CPU quota; 4 CPUs available',
    });
    // With a quota, the memory bound applies as well.
    const both = cgroup({ 'cpu.max': '800000 100000', 'memory.max': String(256 * MiB) });
    expect(resolveWorkerCount('auto', both, 8).count).toBe(1);
  });

  it('auto with a v1 quota', () => {
    const root = cgroup({ 'cpu/cpu.cfs_quota_us': '300000', 'cpu/cpu.cfs_period_us': '100000' });
    expect(resolveWorkerCount('auto', root, 8).count).toBe(3);
  });
});

describe('workerHeapLimitMiB', () => {
  const clean = { execArgv: [] as string[], nodeOptions: undefined };

  it('is the limit × 0.75 ÷ workers, in MiB', () => {
    expect(HEAP_FRACTION).toBe(0.75);
    const root = cgroup({ 'memory.max': String(2 * GiB) });
    expect(workerHeapLimitMiB(2, { ...clean, root })).toBe(768);
    expect(workerHeapLimitMiB(1, { ...clean, root })).toBe(1536);
    expect(workerHeapLimitMiB(3, { ...clean, root })).toBe(512);
  });

  it('rounds down to whole MiB', () => {
    const root = cgroup({ 'memory.max': String(1000 * MiB) });
    // 1000 × 0.75 ÷ 7 = 107.14…
    expect(workerHeapLimitMiB(7, { ...clean, root })).toBe(107);
  });

  it('works with a v1 limit', () => {
    const root = cgroup({ 'memory/memory.limit_in_bytes': String(4 * GiB) });
    expect(workerHeapLimitMiB(4, { ...clean, root })).toBe(768);
  });

  it('is undefined without a memory limit', () => {
    expect(workerHeapLimitMiB(2, { ...clean, root: cgroup({ 'memory.max': 'max' }) })).toBe(
      undefined,
    );
    expect(workerHeapLimitMiB(2, { ...clean, root: cgroup() })).toBeUndefined();
    const v1 = cgroup({ 'memory/memory.limit_in_bytes': '9223372036854771712' });
    expect(workerHeapLimitMiB(2, { ...clean, root: v1 })).toBeUndefined();
  });

  it('is undefined when --max-old-space-size is already in execArgv', () => {
    const root = cgroup({ 'memory.max': String(2 * GiB) });
    expect(
      workerHeapLimitMiB(2, { root, execArgv: ['--max-old-space-size=300'], nodeOptions: '' }),
    ).toBeUndefined();
  });

  it('is undefined when --max-old-space-size is already in NODE_OPTIONS', () => {
    const root = cgroup({ 'memory.max': String(2 * GiB) });
    expect(
      workerHeapLimitMiB(2, {
        root,
        execArgv: [],
        nodeOptions: '--enable-source-maps --max-old-space-size=300',
      }),
    ).toBeUndefined();
  });

  it('other flags in execArgv or NODE_OPTIONS do not count', () => {
    const root = cgroup({ 'memory.max': String(2 * GiB) });
    expect(
      workerHeapLimitMiB(2, {
        root,
        execArgv: ['--enable-source-maps'],
        nodeOptions: '--max-semi-space-size=16',
      }),
    ).toBe(768);
  });
});
