/**
 * Reading Prometheus text expositions in tests: samples by name and labels, and
 * `promtool check metrics` (which must be installed: a missing promtool fails the test).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where the tests expect promtool. */
export const PROMTOOL = '/usr/bin/promtool';

/** One sample line. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of an exposition (comments and blank lines skipped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, name, raw] of (match[2] ?? '').matchAll(LABEL)) {
      labels[name as string] = (raw as string).replace(/\\(.)/g, (_, c: string) =>
        c === 'n' ? '\n' : c,
      );
    }
    const rawValue = match[3] as string;
    const value =
      rawValue === '+Inf' ? Number.POSITIVE_INFINITY : rawValue === '-Inf' ? -Infinity : +rawValue;
    samples.push({ name: match[1] as string, labels, value });
  }
  return samples;
}

/**
 * The value of the one sample named `name` whose labels are exactly `labels`; `undefined` when
 * there is none.
 */
export function sampleValue(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const wanted = Object.entries(labels);
  const found = parseExposition(text).filter(
    (s) =>
      s.name === name &&
      Object.keys(s.labels).length === wanted.length &&
      wanted.every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match`);
  return found[0]?.value;
}

/** The count of `GET /` answered 200, as `http_request_duration_seconds_count` says. */
export function homeCount(text: string): number | undefined {
  return sampleValue(text, 'http_request_duration_seconds_count', {
    method: 'GET',
    route: '/',
    status_code: '200',
  });
}

/** The result of `promtool check metrics` on `text`. */
export interface PromtoolResult {
  readonly status: number | null;
  /** stdout and stderr together: empty when promtool has nothing to say. */
  readonly output: string;
}

/** Runs `promtool check metrics` on `text`. Throws (never skips) when promtool is missing. */
export function promtoolCheck(text: string): PromtoolResult {
  if (!existsSync(PROMTOOL)) {
    throw new Error(
      `${PROMTOOL} is missing: install promtool (Debian: apt-get install prometheus) to run this test`,
    );
  }
  const result = spawnSync(PROMTOOL, ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}
