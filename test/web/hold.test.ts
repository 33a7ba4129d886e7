import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HttpError, RequestHandler } from '../../src/web/index.js';
import { serveRoutes } from '../support/servers.js';
import { RawClient } from '../support/socket.js';
import { until } from '../support/wait.js';

/** Handlers that hold their request, each released from outside through `held`. */
function holding(held: RequestHandler[], calls: string[] = []) {
  return class extends RequestHandler {
    override get(): void {
      this.write('held ');
      this.holdRequest();
      held.push(this);
    }

    override async post(): Promise<void> {
      this.holdRequest();
      await delay(5);
      calls.push('post resolved');
      held.push(this);
    }

    override onShutdown(): void {
      calls.push('onShutdown');
      this.clear(); // drops what get wrote
      this.setStatus(204);
      this.releaseRequest();
    }

    override onConnectionClose(): void {
      calls.push('onConnectionClose');
    }
  };
}

describe('holdRequest / releaseRequest', () => {
  it('keeps the response open after the verb returns, until releaseRequest finishes it', async () => {
    const held: RequestHandler[] = [];
    const { srv } = await serveRoutes([['/held', holding(held)]]);
    let done = false;
    const pending = srv.fetch('/held').then(async (res) => {
      done = true;
      return [res.status, await res.text()];
    });
    await until(() => held.length === 1, 'a held request');
    await delay(50);
    expect(done).toBe(false);
    held[0]?.write('then released');
    held[0]?.releaseRequest();
    expect(await pending).toEqual([200, 'held then released']);
  });

  it('is not finished when an async verb resolves while held', async () => {
    const held: RequestHandler[] = [];
    const calls: string[] = [];
    const { srv } = await serveRoutes([['/held', holding(held, calls)]]);
    let done = false;
    const pending = srv.fetch('/held', { method: 'POST' }).then((res) => {
      done = true;
      return res.status;
    });
    await until(() => held.length === 1, 'a held request');
    await delay(50);
    expect(calls).toEqual(['post resolved']);
    expect(done).toBe(false);
    held[0]?.setStatus(202);
    held[0]?.releaseRequest();
    expect(await pending).toBe(202);
  });

  it('answers releaseRequest(error) as a thrown error: an HttpError its status, others a logged 500', async () => {
    const held: RequestHandler[] = [];
    const { srv, logger } = await serveRoutes([['/held', holding(held)]]);
    const conflict = srv.fetch('/held');
    await until(() => held.length === 1, 'a held request');
    held[0]?.clear();
    held[0]?.releaseRequest(new HttpError(409, 'taken'));
    const res = await conflict;
    expect(res.status).toBe(409);
    expect(((await res.json()) as { detail?: string }).detail).toBe('taken');
    const broken = srv.fetch('/held');
    await until(() => held.length === 2, 'two held requests');
    held[1]?.clear();
    held[1]?.releaseRequest(new Error('boom'));
    const failed = await broken;
    expect(failed.status).toBe(500);
    expect(await failed.text()).not.toContain('boom');
    expect(logger.errors().map((e) => e.msg)).toEqual(['uncaught error in handler']);
  });

  it('calls onShutdown for a held request when the server drains, onConnectionClose when the client leaves', async () => {
    const held: RequestHandler[] = [];
    const calls: string[] = [];
    const { app, srv } = await serveRoutes([['/held', holding(held, calls)]]);
    const client = await RawClient.connect(srv.port);
    client.get('/held');
    await until(() => held.length === 1, 'a held request');
    client.destroy();
    await until(() => calls.includes('onConnectionClose'), 'onConnectionClose');
    expect(calls).toEqual(['onConnectionClose']);
    const pending = srv.fetch('/held');
    await until(() => held.length === 2, 'two held requests');
    app.beginDraining();
    expect((await pending).status).toBe(204);
    expect(calls).toEqual(['onConnectionClose', 'onShutdown']);
  });
});
