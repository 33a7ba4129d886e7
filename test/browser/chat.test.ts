/**
 * The chat page in a real headless Chromium (Debian's `chromium`, driven by playwright-core) against
 * the built service with two workers: two pages, a message typed in one shows up in the other, over
 * the long poll, over the WebSocket, and from one to the other; message text is shown as text. With
 * `REDIS_URL`, two pages on two instances of the service see each other's messages. The API
 * reference page (`/docs`) renders the service's OpenAPI document.
 *
 * Needs Chromium (`apt-get install chromium`) and, for the two-instance case, redis-server:
 * skipped without them, failed without them under CI.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { type ServiceProcess, startService } from '../support/process.js';
import { has, programPath } from '../support/programs.js';
import { RedisServer } from '../support/redis-server.js';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** Bound on every wait for something to show up in a page. */
const SHOWS_UP_MS = 10_000;

let context: BrowserContext | undefined;
let profile: string | undefined;
const pages: Page[] = [];
/** Errors the pages reported (script errors, CSP violations, failed loads), per page. */
const pageErrors = new Map<Page, string[]>();

/** Opens the chat page (`transport` poll or ws) and waits until it says it is online. */
async function openChat(service: ServiceProcess, transport: 'poll' | 'ws'): Promise<Page> {
  if (context === undefined) throw new Error('Chromium did not start');
  const page = await context.newPage();
  pages.push(page);
  const errors: string[] = [];
  pageErrors.set(page, errors);
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  const query = transport === 'ws' ? '?transport=ws' : '';
  const response = await page.goto(`${service.origin}/chat/${query}`, { timeout: SHOWS_UP_MS });
  expect(response?.status()).toBe(200);
  await page.locator(`body[data-transport="${transport}"]`).waitFor({ timeout: SHOWS_UP_MS });
  await page.locator('#status[data-state="online"]').waitFor({ timeout: SHOWS_UP_MS });
  return page;
}

/** Types `text` in the page's box and sends it; waits until the box is cleared (it was accepted). */
async function say(page: Page, text: string): Promise<void> {
  await page.locator('#text').fill(text);
  await page.locator('#send').click();
  await expect.poll(() => page.locator('#text').inputValue(), { timeout: SHOWS_UP_MS }).toBe('');
}

/** Waits until `page` lists a message whose text is exactly `text`. */
async function seen(page: Page, text: string): Promise<void> {
  await page
    .locator('#messages .text')
    .filter({ hasText: text })
    .first()
    .waitFor({ timeout: SHOWS_UP_MS });
  expect(await page.locator('#messages .text').allTextContents()).toContain(text);
}

function expectNoPageErrors(): void {
  for (const [page, errors] of pageErrors) expect(errors, page.url()).toEqual([]);
}

describe.runIf(has('chromium'))('the chat page in Chromium (dist/main.js, WORKERS=2)', () => {
  beforeAll(async () => {
    const executablePath = programPath('chromium');
    profile = await mkdtemp(join(tmpdir(), 'tornode-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ARGS,
      timeout: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
  });

  afterEach(async () => {
    await Promise.all(pages.splice(0).map((page) => page.close()));
    pageErrors.clear();
  });

  it('long poll: a message sent from one page appears in the other', async () => {
    const service = await startService({ WORKERS: '2' }, { timeoutMs: 15_000 });
    const alice = await openChat(service, 'poll');
    const bob = await openChat(service, 'poll');
    await say(alice, 'hello from Alice over long poll');
    await seen(bob, 'hello from Alice over long poll');
    await seen(alice, 'hello from Alice over long poll');
    await say(bob, 'hi Alice');
    await seen(alice, 'hi Alice');
    expectNoPageErrors();
  });

  it('WebSocket: a message sent from one page appears in the other', async () => {
    const service = await startService({ WORKERS: '2' }, { timeoutMs: 15_000 });
    const alice = await openChat(service, 'ws');
    const bob = await openChat(service, 'ws');
    await say(alice, 'hello from Alice over the socket');
    await seen(bob, 'hello from Alice over the socket');
    await seen(alice, 'hello from Alice over the socket');
    await say(bob, 'hi Alice, socket here');
    await seen(alice, 'hi Alice, socket here');
    expectNoPageErrors();
  });

  it('across transports, with the history loaded first; text that looks like HTML stays text', async () => {
    const service = await startService({ WORKERS: '2' }, { timeoutMs: 15_000 });
    const early = await service.fetch('/chat/messages', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ text: 'posted before the pages opened' }),
    });
    expect(early.status).toBe(201);
    const polling = await openChat(service, 'poll');
    const socket = await openChat(service, 'ws');
    await seen(polling, 'posted before the pages opened');
    await seen(socket, 'posted before the pages opened');
    await say(polling, 'from the long poll page');
    await seen(socket, 'from the long poll page');
    await say(socket, 'from the WebSocket page');
    await seen(polling, 'from the WebSocket page');

    const attack = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>';
    await say(socket, attack);
    for (const page of [polling, socket]) {
      await seen(page, attack);
      expect(await page.locator('#messages img, #messages script').count()).toBe(0);
      expect(await page.evaluate('window.__pwned')).toBeUndefined();
    }
    expectNoPageErrors();
  });

  it('the API reference at /docs renders the OpenAPI document, loading nothing from another host', async () => {
    if (context === undefined) throw new Error('Chromium did not start');
    const service = await startService({ WORKERS: '1' }, { timeoutMs: 15_000 });
    const page = await context.newPage();
    pages.push(page);
    const errors: string[] = [];
    pageErrors.set(page, errors);
    page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`);
    });
    const elsewhere: string[] = [];
    page.on('request', (request) => {
      const target = request.url();
      if (!target.startsWith(`${service.origin}/`) && !target.startsWith('data:')) {
        elsewhere.push(target);
      }
    });
    const response = await page.goto(`${service.origin}/docs`, { timeout: SHOWS_UP_MS });
    expect(response?.status()).toBe(200);
    const operation = page.locator('.opblock-summary-path', { hasText: '/chat/messages' }).first();
    await operation.waitFor({ timeout: SHOWS_UP_MS });
    expect(await page.locator('.info .title').first().textContent()).toContain('tornode');
    expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(5);
    expect(elsewhere).toEqual([]);
    expectNoPageErrors();
  });

  describe.runIf(has('redis-server'))('on two instances sharing one Redis', () => {
    it("two pages on two instances see each other's messages, over long poll and WebSocket", async () => {
      const redis = await RedisServer.start();
      onTestFinished(() => redis.destroy());
      const env = { WORKERS: '2', REDIS_URL: redis.url };
      const [one, two] = await Promise.all([
        startService(env, { timeoutMs: 20_000 }),
        startService(env, { timeoutMs: 20_000 }),
      ]);
      const alice = await openChat(one, 'poll');
      const bob = await openChat(two, 'poll');
      const carol = await openChat(two, 'ws');
      await say(alice, 'Alice on instance one');
      await seen(bob, 'Alice on instance one');
      await seen(carol, 'Alice on instance one');
      await say(bob, 'Bob on instance two');
      await seen(alice, 'Bob on instance two');
      await say(carol, 'Carol on instance two, over a socket');
      await seen(alice, 'Carol on instance two, over a socket');
      await seen(bob, 'Carol on instance two, over a socket');
      // One numbering: every page lists the same ids in the same order.
      const idsOf = (page: Page) =>
        page.locator('#messages li').evaluateAll((items) => items.map((li) => li.dataset.id));
      const ids = await idsOf(alice);
      expect(ids).toEqual(['1', '2', '3']);
      expect(await idsOf(bob)).toEqual(ids);
      expect(await idsOf(carol)).toEqual(ids);
      expectNoPageErrors();
    });
  });
});
