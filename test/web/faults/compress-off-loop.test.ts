/**
 * Large one-piece bodies are compressed on libuv's thread pool: `finish()` returns before the
 * compressed bytes exist, the event loop keeps turning meanwhile, and the client gets a correct
 * compressed answer with its `Content-Length`. Small bodies keep the synchronous path.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ASYNC_THRESHOLD, RequestHandler } from '../../../src/web/index.js';
import { rawOnce } from '../../support/http.js';
import { serveApp } from '../../support/servers.js';

// ~6 MiB of varied JSON: compressing it synchronously blocks the loop for tens of milliseconds.
const BIG = JSON.stringify(
  Array.from({ length: 60_000 }, (_, i) => ({
    id: i,
    text: `message ${i * 7919} ${'ab'.repeat(i % 30)}`,
  })),
);
const SMALL = BIG.slice(0, DEFAULT_ASYNC_THRESHOLD / 2);

/** Whether each response was already ended when `finish()` returned. */
const endedAtFinish: boolean[] = [];

class Body extends RequestHandler {
  override get(): void {
    this.setHeader('Content-Type', 'application/json');
    this.finish(this.getQueryArgument('size', '') === 'small' ? SMALL : BIG);
    endedAtFinish.push(this.response.writableEnded);
  }
}

/** The longest the event loop went without turning while `work` ran. */
async function longestStall(work: Promise<unknown>): Promise<number> {
  let longest = 0;
  let last = performance.now();
  let done = false;
  const tick = (): void => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (!done) setImmediate(tick);
  };
  setImmediate(tick);
  await work;
  done = true;
  return longest;
}

describe('compression of large bodies off the event loop', () => {
  it('a large body: finish() returns at once, the loop keeps turning, the answer is right', async () => {
    const srv = await serveApp([['/body', Body]], { compress: true });
    endedAtFinish.length = 0;
    const started = performance.now();
    gzipSync(BIG, { level: 6 });
    const syncMs = performance.now() - started;

    const fetched = rawOnce(srv, '/body', { 'Accept-Encoding': 'gzip' });
    const stall = await longestStall(fetched);
    const response = await fetched;
    expect(response.status).toBe(200);
    expect(response.header('content-encoding')).toBe('gzip');
    expect(response.complete).toBe(true);
    expect(Number(response.header('content-length'))).toBe(response.body.length);
    expect(response.header('vary')).toBe('Accept-Encoding');
    expect(gunzipSync(response.body).toString()).toBe(BIG);
    expect(endedAtFinish).toEqual([false]);
    expect(stall, `longest stall ${stall} ms vs sync gzip ${syncMs} ms`).toBeLessThan(
      syncMs * 0.75,
    );
  });

  it('a small body keeps the synchronous path; HEAD and identity are never compressed', async () => {
    const srv = await serveApp([['/body', Body]], { compress: true });
    endedAtFinish.length = 0;
    const small = await srv.fetch('/body?size=small', { headers: { 'accept-encoding': 'br' } });
    expect(small.headers.get('content-encoding')).toBe('br');
    expect(await small.text()).toBe(SMALL);
    const head = await srv.fetch('/body', {
      method: 'HEAD',
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(head.headers.get('content-encoding')).toBeNull();
    expect(Number(head.headers.get('content-length'))).toBe(Buffer.byteLength(BIG));
    const plain = await srv.fetch('/body', { headers: { 'accept-encoding': 'identity' } });
    expect(await plain.text()).toBe(BIG);
    expect(endedAtFinish).toEqual([true, true, true]);
  });
});
