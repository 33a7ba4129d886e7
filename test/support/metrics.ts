/**
 * Reading Prometheus text expositions in tests (samples by name and labels), and
 * `promtool check metrics` on one; OpenMetrics expositions too (parsed with their exemplars,
 * checked against the specification's rules and by promtool's OpenMetrics parser). Tests that run promtool declare it: `it.runIf(has('promtool'))`
 * (see `programs.ts`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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

/**
 * `Accept` headers real Prometheus servers send: 2.x before 2.49, 2.49 and later (from its
 * `scrape_protocols`), 3.x. Each puts OpenMetrics 1.0.0 first.
 */
export const PROMETHEUS_ACCEPT = {
  v2: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  v2_49:
    'application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2',
  v3: 'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1',
} as const;

/** One exemplar of an OpenMetrics sample. */
export interface ExemplarSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestamp: number | undefined;
}

/** One sample line of an OpenMetrics exposition, with its exemplar. */
export interface OpenMetricsSample extends Sample {
  readonly exemplar: ExemplarSample | undefined;
}

const NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/y;

/** Reads `{a="b",…}` at `at`; returns the labels and where they end. */
function labelSet(line: string, at: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  if (line[at] !== '{') throw new Error(`expected { at ${at}: ${JSON.stringify(line)}`);
  let i = at + 1;
  while (line[i] !== '}') {
    LABEL_PAIR.lastIndex = i;
    const match = LABEL_PAIR.exec(line);
    if (match === null) throw new Error(`unparsable labels: ${JSON.stringify(line)}`);
    const name = match[1] as string;
    if (name in labels) throw new Error(`label ${name} twice: ${JSON.stringify(line)}`);
    labels[name] = JSON.parse(`"${match[2] as string}"`) as string;
    i = LABEL_PAIR.lastIndex;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`expected , or } at ${i}: ${JSON.stringify(line)}`);
  }
  return [labels, i + 1];
}

function number(raw: string | undefined, line: string): number {
  if (raw === undefined || !/^(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|[+-]Inf|NaN)$/i.test(raw)) {
    throw new Error(`not a number: ${JSON.stringify(raw)} in ${JSON.stringify(line)}`);
  }
  return parseValue(raw);
}

/** One OpenMetrics sample line: name, labels, value, optional timestamp, optional exemplar. */
function openMetricsSample(line: string): OpenMetricsSample {
  NAME.lastIndex = 0;
  const name = NAME.exec(line)?.[0];
  if (name === undefined) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
  let at = name.length;
  let labels: Record<string, string> = {};
  if (line[at] === '{') [labels, at] = labelSet(line, at);
  const hash = line.indexOf(' # ', at);
  const [value, timestamp, ...extra] = line
    .slice(at, hash < 0 ? undefined : hash)
    .replace(/^ /, '')
    .split(' ');
  if (extra.length > 0 || line[at] !== ' ') throw new Error(`bad sample: ${JSON.stringify(line)}`);
  if (timestamp !== undefined) number(timestamp, line);
  let exemplar: ExemplarSample | undefined;
  if (hash >= 0) {
    const [exLabels, end] = labelSet(line, hash + 3);
    const [exValue, exTime, ...rest] = line.slice(end + 1).split(' ');
    if (line[end] !== ' ' || rest.length > 0)
      throw new Error(`bad exemplar: ${JSON.stringify(line)}`);
    exemplar = {
      labels: exLabels,
      value: number(exValue, line),
      timestamp: exTime === undefined ? undefined : number(exTime, line),
    };
  }
  return { name, labels, value: number(value, line), exemplar };
}

/** The sample names each OpenMetrics type allows a family `f`. */
const SUFFIXES: Record<string, readonly string[]> = {
  counter: ['_total', '_created'],
  gauge: [''],
  histogram: ['_bucket', '_count', '_sum', '_created'],
  summary: ['', '_count', '_sum', '_created'],
  unknown: [''],
};

/** A parsed OpenMetrics exposition and what it breaks of the specification's rules. */
export interface OpenMetricsDocument {
  readonly samples: OpenMetricsSample[];
  /** Each family's TYPE. */
  readonly types: ReadonlyMap<string, string>;
  /** Rule violations found (empty for a valid exposition). */
  readonly problems: string[];
}

/**
 * Parses an OpenMetrics 1.0 text exposition and checks the rules promtool's OpenMetrics parser
 * leaves alone: `# EOF` last; only TYPE, UNIT and HELP comments, at most one of each per family,
 * before its samples; families not interleaved; sample names that the family's type allows
 * (`_total` for counters, whose family name has none); a UNIT that is the name's suffix;
 * exemplars only on counter totals and histogram buckets, with at most 128 characters of labels
 * and a value within the bucket; canonical `le` values (`1.0`, not `1`); cumulative buckets
 * whose `+Inf` equals `_count`. Throws on a line it cannot parse.
 */
export function parseOpenMetrics(text: string): OpenMetricsDocument {
  const problems: string[] = [];
  const samples: OpenMetricsSample[] = [];
  const types = new Map<string, string>();
  if (!text.endsWith('# EOF\n') && !text.endsWith('# EOF')) problems.push('no # EOF at the end');
  const lines = text.replace(/\n$/, '').split('\n');
  const done = new Set<string>();
  let family: string | undefined;
  const meta = new Set<string>();
  let sawSample = false;
  const begin = (name: string): void => {
    if (family !== undefined) done.add(family);
    if (done.has(name)) problems.push(`family ${name} interleaved`);
    family = name;
    meta.clear();
    sawSample = false;
  };
  const buckets = new Map<string, number[]>();
  lines.forEach((line, index) => {
    if (line === '# EOF') {
      if (index !== lines.length - 1) problems.push('lines after # EOF');
      return;
    }
    if (line.startsWith('#')) {
      const match = /^# (TYPE|UNIT|HELP) ([a-zA-Z_:][a-zA-Z0-9_:]*)(?: (.*))?$/.exec(line);
      if (match === null) {
        problems.push(`comment not allowed: ${line}`);
        return;
      }
      const [, kind = '', name = '', rest = ''] = match;
      if (name !== family) begin(name);
      else if (sawSample) problems.push(`${kind} of ${name} after its samples`);
      if (meta.has(kind)) problems.push(`two ${kind} lines for ${name}`);
      meta.add(kind);
      if (kind === 'TYPE') {
        if (!(rest in SUFFIXES)) problems.push(`type ${rest} of ${name}`);
        types.set(name, rest);
        if (rest === 'counter' && name.endsWith('_total')) problems.push(`counter family ${name}`);
      }
      if (kind === 'UNIT' && rest !== '' && !name.endsWith(`_${rest}`)) {
        problems.push(`unit ${rest} is not the suffix of ${name}`);
      }
      if (kind === 'HELP' && /(?<!\\)"/.test(rest)) problems.push(`unescaped " in HELP of ${name}`);
      return;
    }
    const sample = openMetricsSample(line);
    samples.push(sample);
    const type = family === undefined ? undefined : (types.get(family) ?? 'unknown');
    const suffix =
      family !== undefined && sample.name.startsWith(family)
        ? sample.name.slice(family.length)
        : undefined;
    if (type === undefined || suffix === undefined || !SUFFIXES[type]?.includes(suffix)) {
      problems.push(`sample ${sample.name} outside a family of its type (${family}: ${type})`);
      return;
    }
    sawSample = true;
    const { exemplar } = sample;
    const bucket = type === 'histogram' && suffix === '_bucket';
    if (exemplar !== undefined) {
      if (!bucket && !(type === 'counter' && suffix === '_total')) {
        problems.push(`exemplar on ${sample.name}`);
      }
      const length = Object.entries(exemplar.labels).reduce(
        (n, [k, v]) => n + [...k].length + [...v].length,
        0,
      );
      if (length > 128) problems.push(`exemplar labels of ${length} characters`);
      if (bucket && !(exemplar.value <= parseValue(sample.labels.le ?? 'NaN'))) {
        problems.push(`exemplar ${exemplar.value} outside bucket le=${sample.labels.le}`);
      }
    }
    const { le, ...rest } = sample.labels;
    const series = `${family}${JSON.stringify(rest)}`;
    if (bucket) {
      if (le === undefined || !/^(?:\+Inf|-?\d+\.\d+|-?\d(?:\.\d+)?e[+-]\d\d+)$/.test(le)) {
        problems.push(`le="${le}" is not canonical`);
      }
      const counts = buckets.get(series) ?? [];
      if (counts.length > 0 && sample.value < (counts.at(-1) as number)) {
        problems.push(`buckets of ${series} not cumulative`);
      }
      buckets.set(series, [...counts, sample.value]);
    }
    if (type === 'histogram' && suffix === '_count') {
      if (buckets.get(series)?.at(-1) !== sample.value) problems.push(`+Inf != _count: ${series}`);
    }
  });
  return { samples, types, problems };
}

/**
 * Parses `text` with promtool's OpenMetrics parser (Prometheus' own, the one a scrape of
 * `application/openmetrics-text` uses; `promtool check metrics` reads only the text format 0.0.4).
 * That parser is reached through `promtool tsdb create-blocks-from openmetrics`, which wants a
 * timestamp on every sample: one is put after each sample's value, before its exemplar.
 */
export function promtoolOpenMetrics(text: string, timeoutMs = 20_000): PromtoolResult {
  const dir = mkdtempSync(path.join(tmpdir(), 'tornode-om-'));
  try {
    const stamped = text
      .split('\n')
      .map((line) => {
        if (line === '' || line.startsWith('#')) return line;
        const hash = line.indexOf(' # ');
        const head = hash < 0 ? line : line.slice(0, hash);
        return `${head} 1700000000${hash < 0 ? '' : line.slice(hash)}`;
      })
      .join('\n');
    const input = path.join(dir, 'input.om');
    writeFileSync(input, stamped);
    const result = spawnSync(
      programPath('promtool'),
      ['tsdb', 'create-blocks-from', 'openmetrics', input, path.join(dir, 'blocks')],
      { encoding: 'utf8', timeout: timeoutMs },
    );
    if (result.error !== undefined) throw result.error;
    const output = `${result.stdout}${result.stderr}`.trim();
    return { status: result.status, output: result.status === 0 ? '' : output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
