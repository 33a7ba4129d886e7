/**
 * The Redis client is loaded only when `REDIS_URL` is set: the built service, copied next to a
 * `node_modules` that lacks ioredis, still starts and chats without it, and fails to start with it.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnService, startService } from '../support/process.js';
import { post, send } from './chat-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let copy: string;

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'tornode-no-ioredis-'));
  cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(ROOT, 'static'), join(copy, 'static'));
  const modules = join(copy, 'node_modules');
  mkdirSync(modules);
  for (const name of readdirSync(join(ROOT, 'node_modules'))) {
    if (name === 'ioredis' || name.startsWith('.')) continue;
    symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
  }
});

afterAll(() => {
  rmSync(copy, { recursive: true, force: true });
});

describe('without REDIS_URL, ioredis is never loaded', () => {
  it('starts and chats with no ioredis installed', async () => {
    const service = await startService({ WORKERS: '2' }, { script: join(copy, 'dist', 'main.js') });
    const port = service.port;
    const message = await post(port, 'no Redis needed');
    expect(message.id).toBe(1);
    expect((await send(port, '/chat/messages')).body).toContain('no Redis needed');
  });

  it('with REDIS_URL the same copy cannot start (so the test above would notice a static import)', async () => {
    const service = spawnService(
      { WORKERS: '1', REDIS_URL: 'redis://127.0.0.1:1' },
      { script: join(copy, 'dist', 'main.js') },
    );
    const exit = await service.waitForExit(15_000);
    expect(exit.code).toBe(1);
    expect(service.stderr).toMatch(/ioredis/);
    expect(service.listeningLine).toBeUndefined();
  });
});
