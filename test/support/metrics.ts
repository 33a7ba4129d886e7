/**
 * Reading Prometheus text expositions in tests (samples by name and labels), and
 * `promtool check metrics` on one. Tests that run promtool declare it: `it.runIf(has('promtool'))`
 * (see `programs.ts`).
 */
import { spawnSync } from 'node:child_process';
import { programPath } from './programs.js';
import { send } from './socket.js';
import { eventually } from './wait.js';

/** One sample line of an exposition. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;

function parseValue(raw: string): number {
  if (raw === '+Inf') return Number.POSITIVE_INFINITY;
  if (raw === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(raw);
}

/**
 * Every sample of an exposition (comments and blank lines skipped). Throws on a line that is not
 * a sample, or whose labels do not parse to the end.
 */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = match[2] ?? '';
    let consumed = 0;
    for (const label of body.matchAll(LABEL)) {
      // The exposition escapes \\, \" and \n exactly as JSON strings do.
      labels[label[1] as string] = JSON.parse(`"${label[2] as string}"`) as string;
      consumed += label[0].length;
    }
    if (consumed !== body.length) throw new Error(`unparsable labels: ${JSON.stringify(line)}`);
    samples.push({ name: match[1] as string, labels, value: parseValue(match[3] as string) });
  }
  return samples;
}

/**
 * The value of the one sample named `name` whose labels are exactly `labels`; `undefined` when
 * there is none. Throws when several match.
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

/** The `http_request_duration_seconds_count` samples. */
export function durationCounts(text: string): Sample[] {
  return parseExposition(text).filter((s) => s.name === 'http_request_duration_seconds_count');
}

/** Sum of `http_request_duration_seconds_count` over the samples whose labels include `labels`. */
export function countOf(text: string, labels: Readonly<Record<string, string>> = {}): number {
  let total = 0;
  for (const sample of durationCounts(text)) {
    if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) total += sample.value;
  }
  return total;
}

/** The count of `GET /` answered 200, as `http_request_duration_seconds_count` says. */
export function homeCount(text: string): number | undefined {
  return sampleValue(text, 'http_request_duration_seconds_count', {
    method: 'GET',
    route: '/',
    status_code: '200',
  });
}

/** The result of `promtool check metrics` on an exposition. */
export interface PromtoolResult {
  readonly status: number | null;
  /** stdout and stderr together, trimmed: empty when promtool has nothing to say. */
  readonly output: string;
}

/**
 * Runs `promtool check metrics` with `text` on stdin, bounded by `timeoutMs`. Throws the one-line
 * "promtool missing" message when promtool is not installed.
 */
export function promtoolCheck(text: string, timeoutMs = 20_000): PromtoolResult {
  const result = spawnSync(programPath('promtool'), ['check', 'metrics'], {
    input: text,
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  if (result.error !== undefined) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
}

/** `http_requests_in_flight` from the service's `/metrics` (application requests only). */
export async function inFlight(port: number): Promise<number> {
  const metrics = await send(port, '/metrics');
  const value = parseExposition(metrics.body).find(
    (s) => s.name === 'http_requests_in_flight',
  )?.value;
  if (value === undefined) throw new Error('no http_requests_in_flight in /metrics');
  return value;
}

/** Waits (bounded poll: no event announces it) until at least `n` requests are being handled. */
export function waitInFlight(port: number, n: number, timeoutMs = 5_000): Promise<number> {
  return eventually(
    async () => {
      const value = await inFlight(port);
      return value >= n ? value : undefined;
    },
    `${n} requests in flight`,
    { timeoutMs },
  );
}
