/**
 * The OpenMetrics 1.0 text exposition of `/metrics`, with exemplars, next to the Prometheus text
 * format 0.0.4 that prom-client renders: which of the two a scrape asked for (`Accept`), the
 * rendering from prom-client's JSON form of a registry (`getMetricsAsJSON`, also what cluster
 * workers send the primary), and the newest exemplar per bucket over several such snapshots.
 *
 * prom-client renders OpenMetrics itself when a registry's content type says so, but not soundly
 * for a registry that serves both formats: it renames every counter in place (the `_total` goes
 * from the metric's name, and stays gone for the next 0.0.4 scrape), escapes no `"` in HELP,
 * writes `le` as JavaScript prints numbers (`1`, where OpenMetrics asks for `1.0`), has no UNIT
 * lines, and its cluster aggregation drops exemplars. Hence this renderer.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** The two exposition formats of `/metrics`. */
export type MetricsFormat = 'text' | 'openmetrics';

/** Content type of the Prometheus text format 0.0.4 (prom-client's `Registry.PROMETHEUS_CONTENT_TYPE`). */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Content type of OpenMetrics 1.0. */
export const OPENMETRICS_CONTENT_TYPE =
  'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** The content type of `format`. */
export function contentTypeOf(format: MetricsFormat): string {
  return format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
}

/** An exemplar as prom-client's values carry it. */
export interface Exemplar {
  readonly labelSet: Readonly<Record<string, string>>;
  readonly value: number;
  /** Seconds since the epoch. */
  readonly timestamp?: number;
}

/** One value of a metric in prom-client's JSON form, with the exemplar it may carry. */
export type MetricJsonValue = MetricValue<string> & {
  metricName?: string;
  /** prom-client's own histograms carry `null` when they keep no exemplars. */
  exemplar?: Exemplar | null;
};
/** A metric in prom-client's JSON form (`registry.getMetricsAsJSON()`). */
export type MetricJson = MetricObjectWithValues<MetricJsonValue>;

/** How well a media range matched: by its q-value, then by how specific the range was. */
interface Match {
  q: number;
  specificity: number;
}

/**
 * The format a scrape asked for in its `Accept` header (RFC 9110 content negotiation):
 * OpenMetrics 1.0 when `application/openmetrics-text` (without `version`, or `version=1.0.0`)
 * has a higher q-value than the text format 0.0.4 (`text/plain` without `version` or with
 * `0.0.4`, `text/*`, `*\/*`), or the same q-value named more specifically; the text format 0.0.4
 * otherwise, also when nothing acceptable is listed (no 406: a scraper that can read nothing
 * else still gets the format every Prometheus reads). Prometheus's own header, e.g.
 * `application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*\/*;q=0.2`,
 * gets OpenMetrics. Never throws.
 */
export function negotiateFormat(accept: string | undefined): MetricsFormat {
  if (accept === undefined || !/openmetrics/i.test(accept)) return 'text';
  const om: Match = { q: 0, specificity: 0 };
  const text: Match = { q: 0, specificity: 0 };
  for (const range of accept.split(',')) {
    const [rawType = '', ...params] = range.split(';');
    const type = rawType.trim().toLowerCase();
    let q = 1;
    let version: string | undefined;
    let valid = true;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq < 0) continue;
      const key = param.slice(0, eq).trim().toLowerCase();
      const value = param
        .slice(eq + 1)
        .trim()
        .replace(/^"(.*)"$/, '$1');
      if (key === 'q') {
        q = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value) ? Number(value) : Number.NaN;
        valid = !Number.isNaN(q);
      } else if (key === 'version') {
        version = value;
      }
    }
    if (!valid) continue;
    if (type === 'application/openmetrics-text') {
      if (version === undefined || version === '1.0.0') consider(om, q, 3);
    } else if (type === 'text/plain') {
      if (version === undefined || version === '0.0.4') consider(text, q, 3);
    } else if (type === 'text/*') {
      consider(text, q, 2);
    } else if (type === '*/*') {
      consider(text, q, 1);
    }
  }
  if (om.q === 0) return 'text';
  if (om.q > text.q || (om.q === text.q && om.specificity > text.specificity)) {
    return 'openmetrics';
  }
  return 'text';
}

/** The most specific range naming a type decides its q-value (RFC 9110, 12.5.1). */
function consider(match: Match, q: number, specificity: number): void {
  if (specificity > match.specificity || (specificity === match.specificity && q > match.q)) {
    match.q = q;
    match.specificity = specificity;
  }
}

/** OpenMetrics' escaping of HELP text and label values: backslash, double quote, line feed. */
function escapeText(text: string): string {
  return text.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** A sample value or exemplar value: integers as they are, `NaN`, `+Inf`, `-Inf`. */
function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/**
 * A number as OpenMetrics' canonical form for `le` and `quantile` label values: Go's `%g` with
 * `.0` added to an integer (`0.001`, `1.0`, `10.0`, `100000.0`, `1e+06`, `1e-05`, `+Inf`).
 */
export function canonicalNumber(value: number | string): string {
  if (typeof value === 'string') {
    if (value === '+Inf' || value === '-Inf' || value === 'NaN') return value;
    const parsed = Number(value);
    if (value.trim() === '' || Number.isNaN(parsed)) return value;
    return canonicalNumber(parsed);
  }
  if (!Number.isFinite(value)) return formatNumber(value);
  if (value === 0) return '0.0';
  // %g switches to exponent form below 1e-4 and from 1e+06 on (for the shortest digits).
  const [mantissa = '', exp = '0'] = value.toExponential().split('e');
  const e = Number(exp);
  if (e < -4 || e >= 6) {
    const sign = e < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const plain = String(value);
  return plain.includes('.') ? plain : `${plain}.0`;
}

/** The unit OpenMetrics' UNIT line names, from a family name's conventional suffix. */
function unitOf(family: string): string | undefined {
  return /_(seconds|bytes)$/.exec(family)?.[1];
}

/** An exemplar's label set is at most 128 characters (names and values, in code points). */
const EXEMPLAR_LABELS_MAX = 128;

function exemplarText(exemplar: Exemplar): string {
  let length = 0;
  const labels: string[] = [];
  for (const [name, value] of Object.entries(exemplar.labelSet)) {
    length += [...name].length + [...value].length;
    labels.push(`${name}="${escapeText(value)}"`);
  }
  if (length > EXEMPLAR_LABELS_MAX) return '';
  const time = exemplar.timestamp === undefined ? '' : ` ${exemplar.timestamp}`;
  return ` # {${labels.join(',')}} ${formatNumber(exemplar.value)}${time}`;
}

function labelsText(labels: MetricJsonValue['labels'], numeric: string | undefined): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels)) {
    if (value === undefined) continue;
    const text = name === numeric ? canonicalNumber(value) : String(value);
    parts.push(`${name}="${escapeText(text)}"`);
  }
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/**
 * Renders metrics (prom-client's JSON form) as an OpenMetrics 1.0 exposition: per family TYPE,
 * UNIT (for names ending in `_seconds` or `_bytes`) and HELP lines, counters as a family without
 * `_total` whose samples end in `_total`, `le` and `quantile` in canonical form, exemplars on
 * histogram buckets and counter totals, and `# EOF` at the end.
 */
export function openMetricsText(metrics: readonly MetricJson[]): string {
  const lines: string[] = [];
  for (const metric of metrics) {
    // prom-client's typings declare `type` as an enum; the JSON carries its string name.
    const type = String(metric.type);
    const counter = type === 'counter';
    const family = counter ? metric.name.replace(/_total$/, '') : metric.name;
    const known = ['counter', 'gauge', 'histogram', 'summary'].includes(type);
    lines.push(`# TYPE ${family} ${known ? type : 'unknown'}`);
    const unit = unitOf(family);
    if (unit !== undefined) lines.push(`# UNIT ${family} ${unit}`);
    lines.push(`# HELP ${family} ${escapeText(metric.help)}`);
    const numeric = type === 'histogram' ? 'le' : type === 'summary' ? 'quantile' : undefined;
    for (const value of metric.values) {
      const name = counter ? `${family}_total` : (value.metricName ?? metric.name);
      let line = `${name}${labelsText(value.labels, numeric)} ${formatNumber(value.value)}`;
      const exemplar = value.exemplar;
      if (exemplar != null && (counter || name === `${family}_bucket`)) {
        line += exemplarText(exemplar);
      }
      lines.push(line);
    }
  }
  lines.push('# EOF', '');
  return lines.join('\n');
}

/** Newest exemplars by metric, sample name and label set (see {@link exemplarKey}). */
export type ExemplarMap = Map<string, Exemplar>;

/** The key of one sample: metric name, sample name and its labels, in label-name order. */
function exemplarKey(metric: string, value: MetricJsonValue): string {
  const labels = Object.entries(value.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([metric, value.metricName ?? metric, labels]);
}

/** Adds the exemplars of `snapshot` to `into`, keeping the newer one of each sample. */
export function collectExemplars(into: ExemplarMap, snapshot: readonly MetricJson[]): void {
  for (const metric of snapshot) {
    for (const value of metric.values) {
      const exemplar = value.exemplar;
      if (exemplar == null) continue;
      const key = exemplarKey(metric.name, value);
      const held = into.get(key);
      if (held === undefined || (exemplar.timestamp ?? 0) > (held.timestamp ?? 0)) {
        into.set(key, exemplar);
      }
    }
  }
}

/**
 * Puts on each sample of `metrics` (aggregated values, which prom-client's aggregation leaves
 * without exemplars) the exemplar `exemplars` holds for it.
 */
export function attachExemplars(metrics: readonly MetricJson[], exemplars: ExemplarMap): void {
  if (exemplars.size === 0) return;
  const names = new Set([...exemplars.keys()].map((key) => (JSON.parse(key) as string[])[0]));
  for (const metric of metrics) {
    if (!names.has(metric.name)) continue;
    for (const value of metric.values) {
      const exemplar = exemplars.get(exemplarKey(metric.name, value));
      if (exemplar !== undefined) value.exemplar = exemplar;
    }
  }
}
