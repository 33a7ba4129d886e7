/**
 * bench/results.md's targets table is computed from bench/results.json, the run it sits under
 * (bench/targets.mjs, called by bench/run.mjs), never typed in by hand.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BENCH = fileURLToPath(new URL('../../bench/', import.meta.url));

/** targetsTable(results) run by Node itself on the given results (bench/ is plain JavaScript). */
function targets(results: unknown): string[] {
  const script = `
    const { targetsTable } = await import(${JSON.stringify(`${BENCH}targets.mjs`)});
    process.stdout.write(JSON.stringify(targetsTable(JSON.parse(process.argv[1]))));`;
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', script, JSON.stringify(results)],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as string[];
}

describe('bench/results.md', () => {
  const results = JSON.parse(readFileSync(`${BENCH}results.json`, 'utf8'));
  const markdown = readFileSync(`${BENCH}results.md`, 'utf8');

  it('shows the targets computed from results.json, and its date', () => {
    const table = targets(results);
    expect(table[0]).toBe('## Targets against the run above');
    expect(table.length).toBeGreaterThan(8);
    expect(markdown).toContain(table.join('\n'));
    expect(markdown).toContain(`- date: ${results.date}`);
  });

  it('computes each verdict from the figures', () => {
    const hello = (contender: string, ratio: number, cpuUsPerReq: number, rps: number) => ({
      scenario: 'hello',
      contender,
      ratio,
      cpuUsPerReq,
      rps,
    });
    const table = targets({
      http: [
        hello('node-http', 1, 10, 100),
        hello('framework', 0.96, 10.4, 96),
        hello('service', 0.79, 12.6, 79),
        hello('bare-prod', 0.5, 20, 50),
        hello('fastify-logger', 0.5, 20, 50),
      ],
      startup: { startupToReadyMs: 300, idleRssMiB: 50 },
    }).join('\n');
    expect(table).toContain('| framework alone ≥ 0.95 × node:http (hello, req/s) | 0.960');
    expect(table).toMatch(/full service ≥ 0\.8 × node:http.* \| no \|/);
    expect(table).toMatch(/full service ≥ 1\.0 × bare-prod.* \| 1\.587 .* \| yes \|/);
    expect(table).toMatch(/fastify with its logger.*hello 1\.580 \| yes \|/);
    expect(table).toContain('| start-up to ready ≤ 250 ms | 300 ms | no |');
    expect(table).toContain('| idle RSS ≤ 60 MiB | 50 MiB | yes |');
    expect(table).not.toContain('C10K'); // no long-poll figures in this run
  });

  it('computes the held-connection verdicts against bare servers and the seed', () => {
    const poll = (contender: string, perPollKiB: number, broadcastMs: number) => ({
      contender,
      held: 10_000,
      answered: 10_000,
      perPollKiB,
      broadcastMs,
    });
    const table = targets({
      http: [
        { scenario: 'hello', contender: 'node-http', ratio: 1, cpuUsPerReq: 10, rps: 100 },
        { scenario: 'hello', contender: 'service', ratio: 0.8, cpuUsPerReq: 12, rps: 80 },
        { scenario: 'hello', contender: 'tornado', ratio: 0.1, cpuUsPerReq: 90, rps: 10 },
      ],
      longPoll: [poll('service', 10, 330), poll('node-http', 10.5, 288), poll('tornado', 15, 1000)],
      websockets: [
        {
          contender: 'service',
          sockets: 10_000,
          perSocketKiB: 16,
          fdsPerSocket: 1,
          broadcastMs: 40,
        },
        {
          contender: 'ws-bare',
          sockets: 10_000,
          perSocketKiB: 8,
          fdsPerSocket: 1,
          broadcastMs: 50,
        },
      ],
    }).join('\n');
    expect(table).toContain(
      '| held poll ≤ 1.0 × bare node:http (RSS per poll) | 0.95 (10.00 vs 10.50 KiB) | yes |',
    );
    expect(table).toMatch(
      /broadcast to every held poll ≤ 1\.1 × bare node:http \| 1\.15 .* \| no \|/,
    );
    expect(table).toMatch(
      /ahead of the seed \(Tornado\) \| .*1\.50 × less.*3\.03 × faster\) \| yes \|/,
    );
    expect(table).toMatch(/WebSockets against bare `ws`.*memory 2\.00 ×.*broadcast 0\.80 ×/);
    expect(table).toMatch(/Tornado 0\.100 × node:http; service 8\.00 × Tornado \| yes \|/);
  });
});
