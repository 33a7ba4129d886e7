/**
 * System programs some tests need (a browser, Prometheus, Redis, Docker), declared in one way.
 *
 * A test file asks {@link has} whether a program is there and runs its suite only then
 * (`describe.runIf(has('chromium'))(…)`). When the program is missing:
 * - without `CI`, the suite is skipped and ONE line says which program and how to install it
 *   (`chromium missing: apt-get install chromium`), so `npm test` passes on a machine with only
 *   Node and npm;
 * - with `CI` set (as `.ci/run` does), {@link has} says yes anyway and {@link programPath} throws
 *   that same line inside the suite, so CI fails instead of silently running less.
 *
 * A program is looked up by the environment variable named after it (`CHROMIUM`, `PROMETHEUS`,
 * `PROMTOOL`, `REDIS_SERVER`, `DOCKER`, `KUBECTL`: a path, which may point nowhere to try the skip), else on
 * `PATH`.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** How to install each program the tests know about (Debian, as `.ci/run` does). */
const INSTALL = {
  chromium: 'apt-get install chromium',
  prometheus: 'apt-get install prometheus',
  promtool: 'apt-get install prometheus',
  'redis-server': 'apt-get install redis-server',
  docker: 'apt-get install docker.io (and a running daemon)',
  kubectl: 'install kubectl or kustomize (https://kubernetes.io/docs/tasks/tools/)',
} as const;

/** A system program a test may need. */
export type Program = keyof typeof INSTALL;

/** The variable that overrides where `program` is looked up (`redis-server` → `REDIS_SERVER`). */
export function overrideVariable(program: Program): string {
  return program.toUpperCase().replace(/-/g, '_');
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `program` is, or `undefined` when it is not installed. */
export function findProgram(program: Program): string | undefined {
  const override = process.env[overrideVariable(program)];
  if (override !== undefined && override !== '') {
    return executable(override) ? override : undefined;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, program);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

/** The one line that says `program` is missing and how to install it. */
export function missingLine(program: Program): string {
  return `${program} missing: ${INSTALL[program]}`;
}

/** Whether `CI` is set (to anything but the empty string, `0` or `false`). */
export function inCi(): boolean {
  const value = process.env.CI;
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

const announced = new Set<Program>();

/**
 * Whether the suite that needs `programs` should run: true when all are installed, and always
 * true under `CI` (a missing one then fails in {@link programPath}). Otherwise false, after
 * writing one line a missing program (once per test file).
 */
export function has(...programs: Program[]): boolean {
  const missing = programs.filter((program) => findProgram(program) === undefined);
  if (missing.length === 0 || inCi()) return true;
  for (const program of missing) {
    if (announced.has(program)) continue;
    announced.add(program);
    process.stderr.write(`${missingLine(program)}\n`);
  }
  return false;
}

/** Where `program` is; throws the one-line "missing" message when it is not installed. */
export function programPath(program: Program): string {
  const path = findProgram(program);
  if (path === undefined) throw new Error(missingLine(program));
  return path;
}
