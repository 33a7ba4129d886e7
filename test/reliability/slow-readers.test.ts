/**
 * Clients that ask for large answers and never read them cannot make the process grow without
 * bound: a connection whose earlier answers still wait in memory is closed rather than handed
 * more (README, "Slow readers"). Against the built `dist/main.js` (`npm run build` first), on
 * loopback only; the process's RSS is read from /proc.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startService } from '../support/process.js';
import { send } from '../support/socket.js';

const CONNECTIONS = 50;
/** Pipelined requests per connection, all in one write: ~16 MB of answers each. */
const PIPELINED = 40;
const MIB = 1024 * 1024;

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024;
}

/** Opens a connection that sends `requests` and never reads (its reading side stays paused). */
function neverReading(port: number, requests: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' }, () => {
      socket.pause();
      socket.write(requests);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

describe.runIf(process.platform === 'linux')('slow HTTP readers', () => {
  it(`${CONNECTIONS} connections × ${PIPELINED} large answers never read: RSS stays bounded, serving goes on`, async () => {
    const service = await startService({ WORKERS: '1', LOG_LEVEL: 'warn' });
    const pid = service.child.pid as number;
    // 100 messages of 1,000 four-byte characters: each history answer is ~400 KB of JSON.
    const text = '😀'.repeat(1000);
    for (let i = 0; i < 100; i++) {
      const posted = await send(service.port, '/chat/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
      });
      expect(posted.status).toBe(201);
    }
    const history = await send(service.port, '/chat/messages?after=0');
    expect(Buffer.byteLength(history.body)).toBeGreaterThan(390_000);

    const before = rssOf(pid);
    const requests = 'GET /chat/messages?after=0 HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(PIPELINED);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < CONNECTIONS; i++)
        sockets.push(await neverReading(service.port, requests));
      // Bounded: sample until RSS has not grown for 2 s (or 20 s have passed), keep the peak.
      let peak = rssOf(pid);
      let lastGrowth = performance.now();
      const deadline = performance.now() + 20_000;
      while (performance.now() < deadline && performance.now() - lastGrowth < 2_000) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        const rss = rssOf(pid);
        if (rss > peak + MIB) lastGrowth = performance.now();
        peak = Math.max(peak, rss);
      }
      const grown = (peak - before) / MIB;
      // Unbounded, the answers pile up: ~12 MB a connection beyond the kernel's buffers, 600 MB.
      expect(grown, `RSS grew by ${grown.toFixed(0)} MiB`).toBeLessThan(200);
      // The process still answers everybody else, promptly.
      const started = performance.now();
      expect((await send(service.port, '/')).status).toBe(200);
      expect(performance.now() - started).toBeLessThan(2_000);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  }, 60_000);
});
