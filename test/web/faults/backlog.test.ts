/**
 * Pipelined requests run in turn: a request's handler starts once the answers before it were
 * written, so a client that sends many requests and reads none holds one answer in memory (plus
 * what the kernel buffers), and a client that reads gets every answer, in order.
 */
import { describe, expect, it } from 'vitest';
import { RequestHandler } from '../../../src/web/index.js';
import { serveRoutes } from '../../support/servers.js';
import { RawClient } from '../../support/socket.js';
import { eventually } from '../../support/wait.js';

const ANSWER = 'x'.repeat(512 * 1024);
let answered = 0;

class Large extends RequestHandler {
  override get(): void {
    answered++;
    this.setHeader('Content-Type', 'text/plain');
    this.finish(ANSWER);
  }
}

const PIPELINED = 30;
const requests = 'GET /large HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(PIPELINED);

describe('pipelined requests and slow readers', () => {
  it('a client that reads gets all its pipelined answers (15 MB)', async () => {
    const served = await serveRoutes([['/large', Large]]);
    const client = await RawClient.connect(served.srv.port);
    try {
      await client.write(requests);
      for (let i = 0; i < PIPELINED; i++) {
        const response = await client.readResponse(10_000);
        expect(response.status).toBe(200);
        expect(response.body.length).toBe(ANSWER.length);
      }
      expect(client.closed).toBe(false);
    } finally {
      client.destroy();
    }
  });

  it('a client that does not read: only the answers the kernel takes are built, the rest wait', async () => {
    const served = await serveRoutes([['/large', Large]]);
    answered = 0;
    const client = await RawClient.connect(served.srv.port);
    client.socket.pause(); // does not read
    await client.write(requests);
    // The kernel's buffers take a few answers; then node:http cannot finish one, and the next
    // request's handler is not run. Readiness signal: the count stops moving for 500 ms.
    let last = -1;
    await eventually(
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 500));
        const settled = answered > 0 && answered === last;
        last = answered;
        return settled || undefined;
      },
      'the answered count to settle',
      { timeoutMs: 10_000 },
    );
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThan(PIPELINED);
    // Reading from now on gets every answer, in order: the waiting requests run in turn.
    client.socket.resume();
    try {
      for (let i = 0; i < PIPELINED; i++) {
        const response = await client.readResponse(10_000);
        expect(response.body.length).toBe(ANSWER.length);
      }
      expect(answered).toBe(PIPELINED);
    } finally {
      client.destroy();
    }
  });
});
