/**
 * Just enough PromQL and Prometheus text format for the dashboard tests: which metric names a
 * query selects, and whether a /metrics exposition has them.
 */

/** A metric selector in a query: the name and its `{…}` matchers (undefined when it has none). */
export interface Selector {
  readonly name: string;
  readonly matchers: string | undefined;
}

/** Words that are PromQL syntax, not metric names, when not followed by `(`. */
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
]);
/** Keywords followed by a parenthesised label list (not an expression). */
const LABEL_LIST_KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
]);

function skipString(expr: string, i: number): number {
  const quote = expr[i];
  let j = i + 1;
  while (j < expr.length && expr[j] !== quote) j += expr[j] === '\\' && quote !== '`' ? 2 : 1;
  return j + 1;
}

function skipTo(expr: string, i: number, close: string): number {
  let j = i + 1;
  while (j < expr.length && expr[j] !== close) {
    j = expr[j] === '"' || expr[j] === "'" || expr[j] === '`' ? skipString(expr, j) : j + 1;
  }
  return j + 1;
}

/**
 * The metric selectors of a PromQL expression, in order. Grafana variables (`$job`,
 * `$__rate_interval`, `${x}`) may appear where PromQL allows a string or a duration.
 */
export function selectors(expr: string): Selector[] {
  const found: Selector[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr.charAt(i);
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(expr, i);
    } else if (c === '[') {
      i = skipTo(expr, i, ']'); // range or subquery
    } else if (c === '{') {
      i = skipTo(expr, i, '}'); // matchers without a name before them (`{__name__=…}`)
    } else if (c === '$') {
      const m = /^\$(\{[^}]*\}|\w+)/.exec(expr.slice(i));
      i += m ? m[0].length : 1;
    } else if (/[0-9.]/.test(c)) {
      const m = /^[0-9.][0-9a-zA-Z_.]*(?:[eE][+-]?[0-9]+)?/.exec(expr.slice(i));
      i += m ? m[0].length : 1;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const word = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))?.[0] ?? c;
      i += word.length;
      let j = i;
      while (j < expr.length && /\s/.test(expr.charAt(j))) j++;
      if (LABEL_LIST_KEYWORDS.has(word) && expr[j] === '(') {
        i = skipTo(expr, j, ')');
      } else if (
        expr[j] === '(' ||
        KEYWORDS.has(word.toLowerCase()) ||
        /^(by|without)\s*\(/.test(expr.slice(j)) // `sum by (le) (…)`
      ) {
        // a function or an aggregation, or an operator word
      } else if (expr[j] === '{') {
        const end = skipTo(expr, j, '}');
        found.push({ name: word, matchers: expr.slice(j + 1, end - 1) });
        i = end;
      } else {
        found.push({ name: word, matchers: undefined });
      }
    } else {
      i++;
    }
  }
  return found;
}

/**
 * The PromQL inside a Grafana Prometheus variable query: `label_values(metric{…}, label)` →
 * `metric{…}`, `query_result(q)` → `q`; `label_values(label)` and `label_names()` select nothing.
 */
export function variableQueryExpr(query: string): string {
  const q = query.trim();
  const labelValues = /^label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$/s.exec(q);
  if (labelValues) return labelValues[1] ?? '';
  if (/^label_values\(\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$/.test(q) || /^label_names\(/.test(q))
    return '';
  const queryResult = /^query_result\((.*)\)$/s.exec(q);
  if (queryResult) return queryResult[1] ?? '';
  return q;
}

/** Where each PromQL expression of a Grafana dashboard is. */
export interface DashboardQuery {
  readonly where: string;
  readonly expr: string;
  /** A panel target (true) or a template variable (false). */
  readonly panel: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: a Grafana dashboard is untyped JSON.
type Json = any;

/** Every PromQL expression of a dashboard: panel targets (rows included) and query variables. */
export function dashboardQueries(dashboard: Json): DashboardQuery[] {
  const queries: DashboardQuery[] = [];
  const visit = (panels: Json[] | undefined): void => {
    for (const panel of panels ?? []) {
      for (const target of panel.targets ?? []) {
        if (typeof target.expr === 'string') {
          queries.push({
            where: `panel "${panel.title}" ${target.refId}`,
            expr: target.expr,
            panel: true,
          });
        }
      }
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    if (typeof query === 'string') {
      queries.push({
        where: `variable $${variable.name}`,
        expr: variableQueryExpr(query),
        panel: false,
      });
    }
  }
  return queries;
}

/** A Prometheus text exposition: family types (`# TYPE`) and the sample names present. */
export interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  readonly samples: ReadonlySet<string>;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type) types.set(type[1] ?? '', type[2] ?? '');
    else if (line !== '' && !line.startsWith('#')) samples.add(/^[^{\s]*/.exec(line)?.[0] ?? '');
  }
  return { types, samples };
}

/** Series that Prometheus adds to every target itself; they are never in /metrics. */
export const SCRAPE_SERIES: ReadonlySet<string> = new Set([
  'up',
  'scrape_duration_seconds',
  'scrape_samples_scraped',
  'scrape_samples_post_metric_relabeling',
  'scrape_series_added',
]);

/**
 * Series the dashboard and the alerts read from kube-state-metrics rather than from the service's
 * /metrics (scraped under their own job, so filtered by namespace, pod and container instead).
 */
export const KUBE_STATE_SERIES: ReadonlySet<string> = new Set([
  'kube_pod_container_status_restarts_total',
]);

/**
 * Whether a query can find series named `name` in this exposition: a sample of that name is there,
 * or `name` is a histogram's `_bucket`/`_sum`/`_count` (a summary's `_sum`/`_count`) and the family
 * is declared (labelled series appear only once something was observed). A histogram's own family
 * name is not a series.
 */
export function hasSeries(exposition: Exposition, name: string): boolean {
  if (SCRAPE_SERIES.has(name) || exposition.samples.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!m) return false;
  const type = exposition.types.get(m[1] ?? '');
  return type === 'histogram' || (type === 'summary' && m[2] !== 'bucket');
}
