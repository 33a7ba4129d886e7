// The "Targets" table of bench/results.md, computed from the results of the run it sits under
// (never typed in by hand, so it cannot show another run's figures). A target whose figures the
// run lacks (BENCH_ONLY, BENCH_CONTENDERS) is left out.

const fmt = (n, digits = 3) => Number(n).toFixed(digits);
const yes = (ok) => (ok ? 'yes' : 'no');

/** Markdown lines of the targets table for `results` (the object run.mjs writes to results.json). */
export function targetsTable(results) {
  const rows = [];
  const http = results.http ?? [];
  const find = (scenario, contender) =>
    http.find((r) => r.scenario === scenario && r.contender === contender);
  const base = find('hello', 'node-http');
  const framework = find('hello', 'framework');
  const service = find('hello', 'service');
  const main = find('hello', 'service-main');
  const bare = find('hello', 'bare-prod');
  if (base && framework) {
    rows.push([
      'framework alone ≥ 0.95 × node:http (hello, req/s)',
      `${fmt(framework.ratio)} (${framework.cpuUsPerReq} vs ${base.cpuUsPerReq} µs CPU per request)`,
      yes(framework.ratio >= 0.95),
    ]);
  }
  if (base && service) {
    const best = Math.max(service.ratio, main?.ratio ?? 0);
    rows.push([
      'full service ≥ 0.8 × node:http (hello, req/s)',
      `${fmt(service.ratio)} (\`service\`)${main ? `, ${fmt(main.ratio)} (\`dist/main.js\`)` : ''}`,
      yes(best >= 0.8),
    ]);
  }
  if (service && bare) {
    const ratio = bare.cpuUsPerReq / service.cpuUsPerReq;
    rows.push([
      'full service ≥ 1.0 × bare-prod (hello, CPU per request)',
      `${fmt(ratio)} (${service.cpuUsPerReq} vs ${bare.cpuUsPerReq} µs)`,
      yes(ratio >= 1),
    ]);
  }
  const versusLogger = [...new Set(http.map((r) => r.scenario))]
    .map((scenario) => [scenario, find(scenario, 'service'), find(scenario, 'fastify-logger')])
    .filter(([, s, f]) => s && f)
    .map(([scenario, s, f]) => [scenario, s.rps / f.rps]);
  if (versusLogger.length > 0) {
    rows.push([
      'full service ≥ 1.2 × fastify with its logger (req/s)',
      versusLogger.map(([scenario, ratio]) => `${scenario} ${fmt(ratio)}`).join(', '),
      yes(versusLogger.every(([, ratio]) => ratio >= 1.2)),
    ]);
  }
  if (results.router) {
    const { oursNs, findMyWayNs } = results.router;
    rows.push([
      'router lookup ≥ find-my-way',
      `${fmt(oursNs, 1)} vs ${fmt(findMyWayNs, 1)} ns, ${fmt(findMyWayNs / oursNs, 2)} × faster`,
      yes(oursNs <= findMyWayNs),
    ]);
  }
  const polls = results.longPoll ?? [];
  const held = polls.find((r) => r.contender === 'service');
  const bareHeld = polls.find((r) => r.contender === 'node-http');
  if (held) {
    rows.push([
      `C10K: ${held.held.toLocaleString('en')} polls held and answered`,
      `${held.answered.toLocaleString('en')} / ${held.held.toLocaleString('en')}`,
      yes(held.answered === held.held),
    ]);
    if (bareHeld) {
      const over = held.perPollKiB - bareHeld.perPollKiB;
      rows.push([
        'C10K: RSS per poll ≤ bare node:http',
        `${fmt(held.perPollKiB, 2)} vs ${fmt(bareHeld.perPollKiB, 2)} KiB`,
        over <= 0 ? 'yes' : `no (${fmt(over, 2)} KiB over)`,
      ]);
    }
    rows.push([
      'C10K: broadcast ≤ 300 ms',
      `${held.broadcastMs} ms${bareHeld ? ` (bare node:http in the same run: ${bareHeld.broadcastMs} ms)` : ''}`,
      yes(held.broadcastMs <= 300),
    ]);
  }
  if (results.startup) {
    const { startupToReadyMs, idleRssMiB } = results.startup;
    rows.push([
      'start-up to ready ≤ 250 ms',
      `${startupToReadyMs} ms`,
      yes(startupToReadyMs <= 250),
    ]);
    rows.push(['idle RSS ≤ 60 MiB', `${idleRssMiB} MiB`, yes(idleRssMiB <= 60)]);
  }
  if (rows.length === 0) return [];
  return [
    '## Targets against the run above',
    '',
    '| target | measured | met |',
    '| --- | --- | --- |',
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
    '',
  ];
}
