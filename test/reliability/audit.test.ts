/**
 * `npm audit --omit=dev` through test/reliability/audit.sh: a high or critical advisory in a
 * production dependency fails. When the registry's audit endpoint cannot be reached, the test is
 * reported as skipped with the reason (never as passed); `RELIABILITY_AUDIT=required` makes that
 * a failure instead, for a CI that can reach the endpoint.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { report } from './support.js';

const SCRIPT = fileURLToPath(new URL('./audit.sh', import.meta.url));

it('npm audit --omit=dev: no high or critical advisory', { timeout: 120_000 }, (context) => {
  const run = spawnSync('bash', [SCRIPT], { encoding: 'utf8', timeout: 110_000 });
  const output = `${run.stdout}${run.stderr}`.trim();
  report('npm audit', { exit: run.status, output });
  if (run.status === 2 && process.env.RELIABILITY_AUDIT !== 'required') {
    console.warn(`[reliability] WARNING: ${output}`);
    context.skip(output);
  }
  expect(run.status, output).toBe(0);
});
