/**
 * Black-box test of a chat post whose outcome is unknown (run `npm run build` first): the primary
 * is stopped past the worker's 2 s wait, so the worker answers 504; the primary, resumed, stores
 * the post; the client's retry with the same X-Request-Id gets that message, not a second copy.
 */
import { Agent } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { send } from '../support/socket.js';
import { newRequestId, startCluster } from './cluster-util.js';

interface ChatMessage {
  readonly id: number;
  readonly text: string;
}

describe('a chat post the primary answers too late', () => {
  it('is a 504, and its retry with the same request id is stored once', async () => {
    const { service } = await startCluster();
    const primary = service.child.pid as number;
    // A connection a worker already holds: with the primary stopped, no new one is handed over.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    onTestFinished(() => agent.destroy());
    expect((await send(service.port, '/', { agent })).status).toBe(200);

    const text = `posted once ${newRequestId('text')}`;
    const reqId = newRequestId('post');
    const post = (options: { agent?: Agent } = {}) =>
      send(service.port, '/chat/messages', {
        ...options,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': reqId },
        body: JSON.stringify({ text }),
        timeoutMs: 8_000,
      });

    process.kill(primary, 'SIGSTOP');
    let resumed = false;
    const resume = (): void => {
      if (resumed) return;
      resumed = true;
      process.kill(primary, 'SIGCONT');
    };
    onTestFinished(resume);
    const first = await post({ agent });
    resume();
    expect(first.status, first.body).toBe(504);
    expect(first.headers['content-type']).toMatch(/^application\/problem\+json/);

    const retry = await post();
    expect(retry.status, retry.body).toBe(201);
    const stored = JSON.parse(retry.body) as ChatMessage;
    expect(stored.text).toBe(text);
    const again = await post();
    expect(JSON.parse(again.body)).toEqual(stored);

    const history = await send(service.port, '/chat/messages?after=0');
    const { messages } = JSON.parse(history.body) as { messages: ChatMessage[] };
    expect(messages.filter((m) => m.text === text)).toEqual([stored]);
  }, 30_000);
});
