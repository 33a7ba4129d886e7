/**
 * Black-box tests of `/chat/socket` on the built service (`dist/main.js`) with two workers: the
 * chat is one chat whichever worker holds a socket or takes a post, and a shutdown closes the
 * sockets with 1001 (going away) before the process exits 0.
 */
import { request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { type ServiceProcess, startService } from '../support/process.js';
import { within } from '../support/wait.js';
import { TestSocket } from '../support/websocket.js';

interface Message {
  readonly id: number;
  readonly text: string;
  readonly at: string;
}

/** The process part of a request id (`<random per-process prefix>-<counter>`). */
function workerOf(requestId: string | string[] | undefined): string {
  if (typeof requestId !== 'string' || !requestId.includes('-')) {
    throw new Error(`no usable X-Request-Id: ${String(requestId)}`);
  }
  return requestId.slice(0, requestId.lastIndexOf('-'));
}

/** POSTs a message on a connection of its own (so posts spread over the workers). */
function post(port: number, text: string): Promise<{ message: Message; worker: string }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ text });
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/chat/messages',
        method: 'POST',
        agent: false,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          data += chunk;
        });
        res.on('end', () => {
          if (res.statusCode !== 201) reject(new Error(`POST answered ${res.statusCode}: ${data}`));
          else {
            resolve({
              message: JSON.parse(data) as Message,
              worker: workerOf(res.headers['x-request-id']),
            });
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens sockets (each a new connection) until they sit on two different workers. */
async function socketsOnTwoWorkers(
  service: ServiceProcess,
): Promise<{ sockets: TestSocket[]; workers: Set<string> }> {
  const sockets: TestSocket[] = [];
  const workers = new Set<string>();
  for (let i = 0; i < 12 && (workers.size < 2 || sockets.length < 4); i++) {
    const socket = new TestSocket(`ws://127.0.0.1:${service.port}/chat/socket`, [], {
      origin: service.origin,
    });
    await within(socket.opened, 5_000, `socket ${i} to open\n${service.describe()}`);
    workers.add(workerOf((await socket.upgraded).headers['x-request-id']));
    sockets.push(socket);
  }
  return { sockets, workers };
}

async function metric(service: ServiceProcess, name: string): Promise<number> {
  const text = await (await service.fetch('/metrics')).text();
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (match === null) throw new Error(`no ${name} in /metrics`);
  return Number(match[1]);
}

describe('dist/main.js: /chat/socket with WORKERS=2', () => {
  it('delivers every message, posted over HTTP or a socket on any worker, to the sockets on every worker', async () => {
    const service = await startService({ WORKERS: '2' }, { timeoutMs: 15_000 });
    const { sockets, workers } = await socketsOnTwoWorkers(service);
    expect(workers.size, 'the sockets landed on one worker only').toBe(2);

    // Posts over HTTP, each on a new connection, until both workers have taken some.
    const posted: Message[] = [];
    const postingWorkers = new Set<string>();
    for (let i = 0; i < 12 && (postingWorkers.size < 2 || posted.length < 4); i++) {
      const { message, worker } = await post(service.port, `http ${i}`);
      posted.push(message);
      postingWorkers.add(worker);
    }
    expect(postingWorkers.size, 'the posts landed on one worker only').toBe(2);
    // And one sent over a socket (whichever worker holds it).
    (sockets[1] as TestSocket).ws.send(JSON.stringify({ text: 'over a socket' }));

    for (const socket of sockets) {
      const received: Message[] = [];
      for (let i = 0; i <= posted.length; i++) received.push(await socket.nextJson<Message>());
      expect(received.slice(0, posted.length)).toEqual(posted);
      expect(received.at(-1)?.text).toBe('over a socket');
      expect(received.map((m) => m.id)).toEqual(
        Array.from({ length: posted.length + 1 }, (_, i) => (posted[0] as Message).id + i),
      );
    }
    // Any worker's /metrics counts the sockets of the whole service.
    expect(await metric(service, 'websocket_connections')).toBe(sockets.length);
    for (const socket of sockets) socket.ws.close();
    for (const socket of sockets) await socket.waitClosed();
  });

  it('refuses a cross-origin socket with 403', async () => {
    const service = await startService({ WORKERS: '2' }, { timeoutMs: 15_000 });
    const socket = new TestSocket(`ws://127.0.0.1:${service.port}/chat/socket`, [], {
      origin: 'http://evil.example',
    });
    await expect(within(socket.opened, 5_000, 'the refusal')).rejects.toThrow();
    await socket.waitClosed();
    expect(socket.refusal?.status).toBe(403);
  });

  it('on SIGTERM closes the sockets with 1001 and exits 0', async () => {
    const service = await startService({ WORKERS: '2' }, { timeoutMs: 15_000 });
    const { sockets } = await socketsOnTwoWorkers(service);
    service.signal('SIGTERM');
    for (const socket of sockets) {
      expect(await socket.waitClosed(8_000)).toEqual({
        code: 1001,
        reason: 'server shutting down',
      });
    }
    const exit = await service.waitForExit(10_000);
    expect(exit, service.describe()).toEqual({ code: 0, signal: null });
    const closedLines = service.logLines.filter((l) => l.msg === 'websocket closed');
    expect(closedLines).toHaveLength(sockets.length);
    expect(closedLines.every((l) => l.code === 1001)).toBe(true);
  });
});
