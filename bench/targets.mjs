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
  const versusFastify = [...new Set(http.map((r) => r.scenario))]
    .map((scenario) => [scenario, find(scenario, 'framework'), find(scenario, 'fastify')])
    .filter(([, w, f]) => w && f)
    .map(([scenario, w, f]) => [scenario, w.rps / f.rps, w.cpuUsPerReq, f.cpuUsPerReq]);
  if (versusFastify.length > 0) {
    rows.push([
      'framework alone ≥ 1.0 × fastify alone (req/s; CPU µs per request)',
      versusFastify
        .map(
          ([scenario, ratio, ours, theirs]) => `${scenario} ${fmt(ratio)} (${ours} vs ${theirs})`,
        )
        .join(', '),
      yes(versusFastify.every(([, ratio]) => ratio >= 1)),
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
      'full service ≥ 1.3 × fastify with its logger (req/s)',
      versusLogger.map(([scenario, ratio]) => `${scenario} ${fmt(ratio)}`).join(', '),
      yes(versusLogger.every(([, ratio]) => ratio >= 1.3)),
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
  const seedHeld = polls.find((r) => r.contender === 'tornado');
  if (held) {
    rows.push([
      `C10K: ${held.held.toLocaleString('en')} polls held and answered`,
      `${held.answered.toLocaleString('en')} / ${held.held.toLocaleString('en')}`,
      yes(held.answered === held.held),
    ]);
    if (bareHeld) {
      const ratio = held.perPollKiB / bareHeld.perPollKiB;
      rows.push([
        'held poll ≤ 1.0 × bare node:http (RSS per poll)',
        `${fmt(ratio, 2)} (${fmt(held.perPollKiB, 2)} vs ${fmt(bareHeld.perPollKiB, 2)} KiB)`,
        ratio <= 1 ? 'yes' : `no (${fmt(held.perPollKiB - bareHeld.perPollKiB, 2)} KiB over)`,
      ]);
      const broadcast = held.broadcastMs / bareHeld.broadcastMs;
      rows.push([
        'broadcast to every held poll ≤ 1.1 × bare node:http',
        `${fmt(broadcast, 2)} (${held.broadcastMs} vs ${bareHeld.broadcastMs} ms)`,
        yes(broadcast <= 1.1),
      ]);
    }
    rows.push([
      'C10K: broadcast ≤ 300 ms',
      `${held.broadcastMs} ms${bareHeld ? ` (bare node:http in the same run: ${bareHeld.broadcastMs} ms)` : ''}`,
      yes(held.broadcastMs <= 300),
    ]);
    if (seedHeld) {
      rows.push([
        'held polls: the service ahead of the seed (Tornado)',
        `${fmt(held.perPollKiB, 2)} vs ${fmt(seedHeld.perPollKiB, 2)} KiB per poll (${fmt(seedHeld.perPollKiB / held.perPollKiB, 2)} × less), broadcast ${held.broadcastMs} vs ${seedHeld.broadcastMs} ms (${fmt(seedHeld.broadcastMs / held.broadcastMs, 2)} × faster)`,
        yes(held.perPollKiB <= seedHeld.perPollKiB && held.broadcastMs <= seedHeld.broadcastMs),
      ]);
    }
  }
  const sockets = results.websockets ?? [];
  const ws = sockets.find((r) => r.contender === 'service');
  const bareWs = sockets.find((r) => r.contender === 'ws-bare');
  if (ws) {
    rows.push([
      `${ws.sockets.toLocaleString('en')} WebSockets held in one worker, broadcast to all`,
      `${ws.perSocketKiB} KiB per socket, ${ws.fdsPerSocket} fd per socket, broadcast ${ws.broadcastMs} ms`,
      'yes', // a round where a socket failed or missed the message throws instead
    ]);
    if (bareWs) {
      rows.push([
        'WebSockets against bare `ws` (measured; no target)',
        `memory ${fmt(ws.perSocketKiB / bareWs.perSocketKiB, 2)} × (${ws.perSocketKiB} vs ${bareWs.perSocketKiB} KiB per socket), broadcast ${fmt(ws.broadcastMs / bareWs.broadcastMs, 2)} × (${ws.broadcastMs} vs ${bareWs.broadcastMs} ms)`,
        '—',
      ]);
    }
  }
  const seedHello = find('hello', 'tornado');
  if (base && seedHello) {
    const ours = [framework && ['framework', framework], service && ['service', service]].filter(
      Boolean,
    );
    rows.push([
      'hello: the seed (Tornado) against node:http, and what the framework and service gain over it',
      `Tornado ${fmt(seedHello.ratio)} × node:http${ours.map(([name, r]) => `; ${name} ${fmt(r.rps / seedHello.rps, 2)} × Tornado`).join('')}`,
      yes(ours.every(([, r]) => r.rps > seedHello.rps)),
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
