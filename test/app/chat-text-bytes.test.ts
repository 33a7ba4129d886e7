/**
 * The chat caps a message's size in bytes (as stored and sent, JSON in UTF-8) as well as in
 * characters, over HTTP and WebSocket alike, so 100 messages per answer stay a bounded answer.
 */
import { describe, expect, it } from 'vitest';
import { createExampleApp } from '../../src/app/app.js';
import { MAX_TEXT_BYTES, MAX_TEXT_LENGTH } from '../../src/app/chat-handlers.js';
import { serveForTest } from '../support/servers.js';
import { TestSocket } from '../support/websocket.js';

// 1,000 characters each (within the character cap), of increasing size as JSON.
const EMOJI = '😀'.repeat(MAX_TEXT_LENGTH); // 4,000 bytes: allowed
const CONTROL = '\u0001'.repeat(MAX_TEXT_LENGTH); // 6,000 bytes as JSON (`\u0001`): refused
const QUOTES = '"'.repeat(MAX_TEXT_LENGTH); // 2,000 bytes (`\"`): allowed

describe(`chat text: at most ${MAX_TEXT_BYTES} bytes as JSON`, () => {
  it('POST /chat/messages: 422 problem+json naming the byte limit; texts within it are stored', async () => {
    const { app, room } = createExampleApp();
    const srv = await serveForTest(app);
    const post = (text: string) =>
      srv.fetch('/chat/messages', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
      });
    const refused = await post(CONTROL);
    expect(refused.status).toBe(422);
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const problem = (await refused.json()) as { status: number; detail: string };
    expect(problem.status).toBe(422);
    expect(problem.detail).toBe(
      `text must be at most ${MAX_TEXT_BYTES} bytes as JSON (UTF-8), got 6000`,
    );
    for (const text of [EMOJI, QUOTES]) {
      const stored = await post(text);
      expect(stored.status).toBe(201);
      await stored.arrayBuffer();
    }
    expect(room.latest().map((m) => m.text)).toEqual([EMOJI, QUOTES]);
  });

  it('over the WebSocket: the same 422 as an error frame, the socket stays open', async () => {
    const { app, room } = createExampleApp();
    const srv = await serveForTest(app);
    const socket = await TestSocket.open(`ws://127.0.0.1:${srv.port}/chat/socket`);
    try {
      socket.ws.send(JSON.stringify({ text: CONTROL }));
      expect(await socket.nextJson()).toEqual({
        error: {
          status: 422,
          detail: `text must be at most ${MAX_TEXT_BYTES} bytes as JSON (UTF-8), got 6000`,
        },
      });
      socket.ws.send(JSON.stringify({ text: EMOJI }));
      expect(await socket.nextJson()).toMatchObject({ text: EMOJI });
      expect(room.latest()).toHaveLength(1);
    } finally {
      socket.ws.terminate();
    }
  });
});
