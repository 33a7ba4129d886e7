/**
 * Black-box tests of `dist/main.js` with `WORKERS=2` (run `npm run build` first): requests spread
 * over the workers, metrics that answer for the whole service from any worker, one chat across
 * workers; and `WORKERS=1` without a primary.
 */
import { describe, expect, it } from 'vitest';
import { homeCount, promtoolCheck } from '../support/metrics.js';
import { msgMatches, startService } from '../support/process.js';
import { has } from '../support/programs.js';
import { type Answer, send } from '../support/socket.js';
import {
  newRequestId,
  type ServedBy,
  scrape,
  servedBy,
  startCluster,
  tagged,
} from './cluster-util.js';

interface ChatMessage {
  readonly id: number;
  readonly text: string;
  readonly at: unknown;
}

describe('WORKERS=2', () => {
  it('serves requests from two distinct worker processes', async () => {
    const { service, workers } = await startCluster();
    const pids = new Set<number>();
    for (let i = 0; i < 10 && pids.size < 2; i++) {
      const answer = await tagged(service, '/');
      expect(answer.status).toBe(200);
      pids.add((await servedBy(service, answer.reqId)).pid);
    }
    expect([...pids].sort()).toEqual([...workers].sort());
    // The primary serves nothing itself.
    expect(pids.has(service.child.pid as number)).toBe(false);
    const primaryLines = service.logLines.filter((l) => l.role === 'primary');
    expect(primaryLines.length).toBeGreaterThan(0);
    expect(primaryLines.every((l) => l.pid === service.child.pid)).toBe(true);
  });

  it.runIf(has('promtool'))(
    'counts 200 requests spread over both workers as 200, whichever worker is scraped',
    async () => {
      const { service, workers } = await startCluster({ LOG_LEVEL: 'debug' });
      const ids: string[] = [];
      const lanes = Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 50; i++) {
          const answer = await tagged(service, '/', { tag: 'home' });
          expect(answer.status).toBe(200);
          ids.push(answer.reqId);
        }
      });
      await Promise.all(lanes);
      expect(ids).toHaveLength(200);
      // Every access line written means every request was observed by the metrics (same observer
      // pass, metrics first).
      const served = await Promise.all(ids.map((id) => servedBy(service, id)));
      const perWorker = new Map<number, number>();
      for (const { pid } of served) perWorker.set(pid, (perWorker.get(pid) ?? 0) + 1);
      expect([...perWorker.keys()].sort()).toEqual([...workers].sort());
      for (const count of perWorker.values()) expect(count).toBeGreaterThanOrEqual(20);

      // Scrape until both workers have answered at least one scrape (and at least 4 times).
      const scrapedBy = new Set<number>();
      const checkedBy = new Set<number>();
      let scrapes = 0;
      while ((scrapedBy.size < 2 || scrapes < 4) && scrapes < 12) {
        scrapes++;
        const { text, reqId } = await scrape(service);
        const { pid } = await servedBy(service, reqId);
        scrapedBy.add(pid);
        expect(homeCount(text), `scrape ${scrapes}, answered by ${pid}`).toBe(200);
        if (!checkedBy.has(pid)) {
          checkedBy.add(pid);
          const check = promtoolCheck(text);
          expect(check.output, `promtool on the scrape answered by ${pid}`).toBe('');
          expect(check.status).toBe(0);
        }
      }
      expect([...scrapedBy].sort()).toEqual([...workers].sort());
      expect([...checkedBy].sort()).toEqual([...workers].sort());
    },
  );

  it('a message posted to one worker reaches polls waiting on both, and both show one history', async () => {
    const { service, workers } = await startCluster();
    const port = service.port;
    const latest = await send(port, '/chat/messages');
    expect(latest.status).toBe(200);
    const before = (JSON.parse(latest.body) as { messages: ChatMessage[] }).messages;
    const after = before.at(-1)?.id ?? 0;

    // Four polls on fresh connections: round-robin gives each worker some.
    const polls = Array.from({ length: 4 }, () => {
      const reqId = newRequestId('poll');
      let settled = false;
      const response = send(port, `/chat/messages?after=${after}&timeout=20`, {
        headers: { 'x-request-id': reqId },
        timeoutMs: 15_000,
      }).finally(() => {
        settled = true;
      });
      return { reqId, response, settled: () => settled };
    });
    // A request answered by each worker after the polls were sent: each worker has taken its
    // polls in (they arrived on its connections first).
    const barrierPids = new Set<number>();
    for (let i = 0; i < 10 && barrierPids.size < 2; i++) {
      const barrier = await tagged(service, '/', { tag: 'barrier' });
      expect(barrier.status).toBe(200);
      barrierPids.add((await servedBy(service, barrier.reqId)).pid);
    }
    expect(barrierPids.size).toBe(2);
    expect(polls.some((p) => p.settled())).toBe(false);

    const text = `hello across workers ${newRequestId('text')}`;
    const posted = await tagged(service, '/chat/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });
    expect(posted.status).toBe(201);
    const message = JSON.parse(posted.body) as ChatMessage;
    expect(message.text).toBe(text);
    expect(message.id).toBeGreaterThan(after);
    const poster = (await servedBy(service, posted.reqId)).pid;

    const answers: Answer[] = await Promise.all(polls.map((p) => p.response));
    const pollers: ServedBy[] = await Promise.all(polls.map((p) => servedBy(service, p.reqId)));
    for (const answer of answers) {
      expect(answer.status).toBe(200);
      const { messages } = JSON.parse(answer.body) as { messages: ChatMessage[] };
      expect(messages).toEqual([message]);
    }
    expect([...new Set(pollers.map((p) => p.pid))].sort()).toEqual([...workers].sort());
    // At least one poll waited on the worker that did not take the post.
    expect(pollers.some((p) => p.pid !== poster)).toBe(true);
    // The polls were answered by the message, not by their timeout.
    for (const { line } of pollers) expect(line.responseTime as number).toBeLessThan(10_000);

    // Two more messages, then the history as each worker tells it.
    for (const extra of ['second', 'third']) {
      const answer = await send(port, '/chat/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: `${extra} ${text}` }),
      });
      expect(answer.status).toBe(201);
    }
    const histories = new Map<number, string>();
    for (let i = 0; i < 10 && histories.size < 2; i++) {
      const answer = await tagged(service, '/chat/messages', { tag: 'history' });
      expect(answer.status).toBe(200);
      histories.set((await servedBy(service, answer.reqId)).pid, answer.body);
    }
    expect([...histories.keys()].sort()).toEqual([...workers].sort());
    const [first, second] = [...histories.values()];
    expect(second).toBe(first);
    const history = (JSON.parse(first as string) as { messages: ChatMessage[] }).messages;
    expect(history.slice(before.length).map((m) => m.text)).toEqual([
      text,
      `second ${text}`,
      `third ${text}`,
    ]);
    const ids = history.map((m) => m.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('WORKERS=1', () => {
  it('runs one process, with no primary', async () => {
    const service = await startService({ WORKERS: '1' });
    const pid = service.child.pid;
    const answer = await tagged(service, '/');
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBeGreaterThan(0);
    expect((await servedBy(service, answer.reqId)).pid).toBe(pid);
    expect(service.listeningLines[0]?.pid).toBe(pid);
    expect(service.logLines.some((l) => l.role === 'primary')).toBe(false);
    expect(service.logLines.some((l) => msgMatches(l, /^worker (started|ready)/))).toBe(false);
    expect(service.logLines.every((l) => l.pid === pid)).toBe(true);
    // Its own metrics count its requests (its access line, written after them, was seen).
    const { text } = await scrape(service);
    expect(homeCount(text)).toBe(1);
  });
});
