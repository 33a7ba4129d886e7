import { describe, expect, it } from 'vitest';
import {
  Application,
  type ApplicationSettings,
  createSignedValue,
  RequestHandler,
  signingKeys,
} from '../../../src/web/index.js';
import { serveApp } from '../../support/servers.js';
import { problem, setCookies } from './support.js';

const SECRET = 'test-secret-0123456789abcdef0123456789';
const DAY_MS = 86_400_000;

class Session extends RequestHandler {
  override get(): void {
    const maxAgeDays = Number(this.getQueryArgument('maxAgeDays', '31'));
    this.write({ user: this.getSignedCookie('user', { maxAgeDays }) ?? null });
  }
  override post(): void {
    const days = this.getQueryArgument('days', '');
    this.setSignedCookie('user', this.getArgument('name'), {
      httpOnly: true,
      ...(days === 'session' ? { expiresDays: null } : days ? { expiresDays: Number(days) } : {}),
    });
  }
}

async function login(
  settings: ApplicationSettings,
  name = 'alice',
  query = '',
): Promise<{ cookie: string; header: string }> {
  const srv = await serveApp([['/', Session]], settings);
  const res = await srv.fetch(`/${query}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `name=${name}`,
  });
  expect(res.status).toBe(200);
  const header = res.headers.getSetCookie()[0] as string;
  return { cookie: setCookies(res).user as string, header };
}

async function whoIs(settings: ApplicationSettings, cookie: string, query = ''): Promise<unknown> {
  const srv = await serveApp([['/', Session]], settings);
  const res = await srv.fetch(`/${query}`, { headers: { Cookie: `user=${cookie}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { user: unknown }).user;
}

describe('signed cookies', () => {
  const settings = { cookieSecret: SECRET };

  it('round-trip a value through the browser', async () => {
    const { cookie, header } = await login(settings, 'alice%20%3B%20smith');
    expect(header).toContain('HttpOnly');
    expect(cookie).not.toContain('alice');
    expect(await whoIs(settings, cookie)).toBe('alice ; smith');
  });

  it('expire in 30 days by default, or as told', async () => {
    const { header } = await login(settings);
    const expires = Date.parse(/Expires=([^;]+)/.exec(header)?.[1] ?? '');
    expect(Math.abs(expires - (Date.now() + 30 * DAY_MS))).toBeLessThan(60_000);
    const twoDays = await login(settings, 'a', '?days=2');
    const expires2 = Date.parse(/Expires=([^;]+)/.exec(twoDays.header)?.[1] ?? '');
    expect(Math.abs(expires2 - (Date.now() + 2 * DAY_MS))).toBeLessThan(60_000);
    const session = await login(settings, 'a', '?days=session');
    expect(session.header).not.toContain('Expires');
  });

  it('are absent when tampered with', async () => {
    const { cookie } = await login(settings);
    const parts = cookie.split('|');
    parts[3] = Buffer.from('mallory').toString('base64url');
    expect(await whoIs(settings, parts.join('|'))).toBeNull();
    const sig = parts[4] as string;
    const flipped = `${cookie.slice(0, -sig.length)}${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
    expect(await whoIs(settings, flipped)).toBeNull();
    expect(await whoIs(settings, 'not-a-signed-value')).toBeNull();
  });

  it('cannot be replayed under another name', async () => {
    const keys = signingKeys(SECRET);
    const forOtherCookie = createSignedValue(keys, 'admin', 'alice');
    expect(await whoIs(settings, forOtherCookie)).toBeNull();
    expect(await whoIs(settings, createSignedValue(keys, 'user', 'alice'))).toBe('alice');
  });

  it('are absent once older than maxAgeDays', async () => {
    const keys = signingKeys(SECRET);
    const now = Date.now() / 1000;
    const fortyDaysOld = createSignedValue(keys, 'user', 'alice', now - 40 * 86_400);
    expect(await whoIs(settings, fortyDaysOld)).toBeNull();
    const twoDaysOld = createSignedValue(keys, 'user', 'alice', now - 2 * 86_400);
    expect(await whoIs(settings, twoDaysOld)).toBe('alice');
    expect(await whoIs(settings, twoDaysOld, '?maxAgeDays=1')).toBeNull();
  });

  it('are absent under another secret', async () => {
    const { cookie } = await login(settings);
    expect(await whoIs({ cookieSecret: 'a-different-secret' }, cookie)).toBeNull();
  });

  it('survive key rotation while the old version is listed', async () => {
    const v1 = { cookieSecret: { 1: 'first-secret' }, cookieKeyVersion: 1 };
    const both = { cookieSecret: { 1: 'first-secret', 2: 'second-secret' }, cookieKeyVersion: 2 };
    const v2Only = { cookieSecret: { 2: 'second-secret' }, cookieKeyVersion: 2 };
    const old = (await login(v1)).cookie;
    expect(await whoIs(both, old)).toBe('alice');
    const fresh = (await login(both, 'bob')).cookie;
    expect(fresh.split('|')[1]).toBe('2');
    expect(await whoIs(v2Only, fresh)).toBe('bob');
    expect(await whoIs(v2Only, old)).toBeNull();
  });

  it('need the cookieSecret setting: a clear error when used without it', async () => {
    const srv = await serveApp([['/', Session]], { debug: true });
    const res = await srv.fetch('/', { headers: { Cookie: 'user=x' } });
    expect(res.status).toBe(500);
    expect((await problem(res)).detail).toMatch(/cookieSecret/);
  });

  it('refuse bad secrets when the application is made', () => {
    expect(() => new Application([], { cookieSecret: '' })).toThrow(TypeError);
    expect(() => new Application([], { cookieSecret: { 1: 'a', 2: 'b' } })).toThrow(
      /cookieKeyVersion/,
    );
    expect(() => new Application([], { cookieSecret: { 1: 'a' }, cookieKeyVersion: 3 })).toThrow(
      /cookieKeyVersion/,
    );
  });
});
