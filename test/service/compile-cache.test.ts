import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startService } from '../support/process.js';
import { until } from '../support/wait.js';

/** Every file under `dir` (Node keeps one directory per Node version and user inside). */
function cacheFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name);
}

/**
 * Fewer files than start-up loads modules, more than a few: one per module compiled (dist/main.js,
 * its chunks, dist/vendor/'s bundles, prom-client's files: ~30 on Node 24).
 */
const MANY = 20;

const canFlush =
  typeof (module as { flushCompileCache?: unknown }).flushCompileCache === 'function';
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'compile-cache-'));
  dirs.push(dir);
  return dir;
}

// Node 20 has no compile cache (and Node 22.1 to 22.9 write it at exit only): there the service
// starts without one and writes nothing.
describe('the module compile cache', () => {
  it('is written once the service is ready, before it exits (Node >= 22.10)', async () => {
    const dir = freshDir();
    const service = await startService({ NODE_COMPILE_CACHE: dir });
    if (canFlush) {
      // Written at ready: a process killed later (SIGKILL, OOM) has left it for the next start.
      await until(() => cacheFiles(dir).length > MANY, `compile cache files in ${dir}`);
    } else {
      expect(cacheFiles(dir)).toEqual([]);
    }
    expect(service.isRunning).toBe(true);
  });

  it('is neither read nor written with NODE_DISABLE_COMPILE_CACHE=1', async () => {
    const dir = freshDir();
    const service = await startService({
      NODE_COMPILE_CACHE: dir,
      NODE_DISABLE_COMPILE_CACHE: '1',
    });
    if (canFlush) {
      // The same service with the cache on, as the clock for "ready and written by now".
      const other = freshDir();
      await startService({ NODE_COMPILE_CACHE: other });
      await until(() => cacheFiles(other).length > MANY, `compile cache files in ${other}`);
    }
    expect(service.isRunning).toBe(true);
    expect(cacheFiles(dir)).toEqual([]);
  });
});
