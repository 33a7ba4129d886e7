import { describe, expect, it } from 'vitest';
import {
  type ApplicationSettings,
  authenticated,
  RequestHandler,
  type RouteEntry,
} from '../../../src/web/index.js';
import { buildRequest, rawRequest } from '../../support/http.js';
import { serveApp } from '../../support/servers.js';
import { problem } from './support.js';

interface User {
  readonly name: string;
}

const calls = { lookups: 0, prepared: 0, verbs: 0 };

/** Users come from an `X-User` header, looked up asynchronously (as a database would be). */
class Base extends RequestHandler<undefined, User> {
  override async getCurrentUser(): Promise<User | undefined> {
    calls.lookups++;
    await new Promise((resolve) => setImmediate(resolve));
    const name = this.request.headers['x-user'];
    return typeof name === 'string' ? { name } : undefined;
  }
  override prepare(): void {
    calls.prepared++;
  }
}

class Private extends Base {
  seenInPrepare: string | undefined;

  override prepare(): void {
    super.prepare();
    this.seenInPrepare = this.currentUser?.name;
  }

  @authenticated
  override async get(): Promise<void> {
    calls.verbs++;
    this.write({ user: this.currentUser?.name, inPrepare: this.seenInPrepare });
  }

  @authenticated
  override post(): void {
    calls.verbs++;
    this.write({ posted: this.currentUser?.name, body: this.body.toString() });
  }
}

/** The same without decorator syntax, as JavaScript users would write it. */
class PlainJs extends Base {}
PlainJs.prototype.get = authenticated(async function (this: PlainJs) {
  calls.verbs++;
  this.write({ user: this.currentUser?.name });
});

/** Not guarded: resolves the user itself when it wants it. */
class Optional extends Base {
  override async get(): Promise<void> {
    const user = await this.resolveCurrentUser();
    await this.resolveCurrentUser(); // once per request: no second lookup
    this.write({ user: user?.name ?? null, again: this.currentUser?.name ?? null });
  }
  override post(): void {
    this.write({ user: this.currentUser?.name ?? null }); // async lookup not resolved: throws
  }
}

/** A synchronous getCurrentUser needs no resolving: currentUser is lazy. */
class SyncUser extends RequestHandler<undefined, string> {
  override getCurrentUser(): string | null {
    calls.lookups++;
    return (this.request.headers['x-user'] as string | undefined) ?? null;
  }
  override get(): void {
    this.write({ user: this.currentUser ?? null, twice: this.currentUser ?? null });
  }
}

class Login extends RequestHandler {
  override post(): void {
    this.currentUser = 'set-by-login';
    this.write({ user: this.currentUser });
  }
}

class Failing extends Base {
  override async getCurrentUser(): Promise<User> {
    throw new Error('user store down');
  }
  @authenticated
  override get(): void {}
}

const ROUTES: RouteEntry[] = [
  ['/private', Private],
  ['/plain', PlainJs],
  ['/optional', Optional],
  ['/sync', SyncUser],
  ['/login-here', Login],
  ['/failing', Failing],
];
const WITH_LOGIN: ApplicationSettings = { loginUrl: '/login' };

function reset(): void {
  calls.lookups = 0;
  calls.prepared = 0;
  calls.verbs = 0;
}

describe('@authenticated', () => {
  it('lets a request with a user through, resolved once before prepare', async () => {
    reset();
    const srv = await serveApp(ROUTES, WITH_LOGIN);
    const res = await srv.fetch('/private', { headers: { 'X-User': 'alice' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ user: 'alice', inPrepare: 'alice' });
    expect(calls).toEqual({ lookups: 1, prepared: 1, verbs: 1 });
  });

  it('redirects GET without a user to loginUrl with next=<path and query>', async () => {
    reset();
    const srv = await serveApp(ROUTES, WITH_LOGIN);
    const res = await srv.fetch('/private?a=1&b=x%20y', { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(
      `/login?next=${encodeURIComponent('/private?a=1&b=x%20y')}`,
    );
    expect(calls).toEqual({ lookups: 1, prepared: 0, verbs: 0 });
  });

  it('redirects HEAD too', async () => {
    const srv = await serveApp(ROUTES, WITH_LOGIN);
    const res = await srv.fetch('/private', { method: 'HEAD', redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/login?next=%2Fprivate');
  });

  it('appends next with & to a loginUrl that has a query, and uses a full URL for an absolute one', async () => {
    const withQuery = await serveApp(ROUTES, { loginUrl: '/login?from=app' });
    const res1 = await withQuery.fetch('/private?x=1', { redirect: 'manual' });
    expect(res1.headers.get('location')).toBe('/login?from=app&next=%2Fprivate%3Fx%3D1');
    const absolute = await serveApp(ROUTES, { loginUrl: 'https://sso.example/login' });
    const res2 = await absolute.fetch('/private?x=1', { redirect: 'manual' });
    expect(res2.headers.get('location')).toBe(
      `https://sso.example/login?next=${encodeURIComponent(`http://127.0.0.1:${absolute.port}/private?x=1`)}`,
    );
  });

  it('answers GET without a user 401 when no loginUrl is set', async () => {
    const srv = await serveApp(ROUTES);
    const res = await srv.fetch('/private');
    expect(res.status).toBe(401);
    expect((await problem(res)).detail).toBe('authentication required');
  });

  it('refuses other methods with 403, without reading the body or running prepare', async () => {
    reset();
    const srv = await serveApp(ROUTES, WITH_LOGIN);
    const res = await srv.fetch('/private', { method: 'POST', body: 'data', redirect: 'manual' });
    expect(res.status).toBe(403);
    await problem(res);
    expect(calls).toEqual({ lookups: 1, prepared: 0, verbs: 0 });
    // A client waiting for 100 Continue is refused without being invited to send its body.
    const { response } = await rawRequest(
      srv.port,
      buildRequest('POST', '/private', {
        'Content-Length': 10_000_000,
        Expect: '100-continue',
        Connection: 'close',
      }),
    );
    expect(response.status).toBe(403);
  });

  it('lets a POST with a user through, body and all', async () => {
    const srv = await serveApp(ROUTES, WITH_LOGIN);
    const res = await srv.fetch('/private', {
      method: 'POST',
      headers: { 'X-User': 'bob' },
      body: 'hello',
    });
    expect(await res.json()).toEqual({ posted: 'bob', body: 'hello' });
  });

  it('works as a plain function wrapper', async () => {
    reset();
    const srv = await serveApp(ROUTES, WITH_LOGIN);
    const anonymous = await srv.fetch('/plain', { redirect: 'manual' });
    expect(anonymous.status).toBe(302);
    const named = await srv.fetch('/plain', { headers: { 'X-User': 'carol' } });
    expect(await named.json()).toEqual({ user: 'carol' });
    expect(calls.verbs).toBe(1);
  });

  it('answers 500 when getCurrentUser fails', async () => {
    const srv = await serveApp(ROUTES, { debug: true });
    const res = await srv.fetch('/failing');
    expect(res.status).toBe(500);
    expect((await problem(res)).detail).toBe('user store down');
  });
});

describe('currentUser', () => {
  it('is resolved by resolveCurrentUser once per request', async () => {
    reset();
    const srv = await serveApp(ROUTES);
    const res = await srv.fetch('/optional', { headers: { 'X-User': 'dan' } });
    expect(await res.json()).toEqual({ user: 'dan', again: 'dan' });
    expect(calls.lookups).toBe(1);
    const anonymous = await srv.fetch('/optional');
    expect(await anonymous.json()).toEqual({ user: null, again: null });
  });

  it('throws a clear error when read before an async getCurrentUser was resolved', async () => {
    const srv = await serveApp(ROUTES, { debug: true });
    const res = await srv.fetch('/optional', { method: 'POST', headers: { 'X-User': 'dan' } });
    expect(res.status).toBe(500);
    expect((await problem(res)).detail).toMatch(/await this\.resolveCurrentUser\(\)/);
  });

  it('is lazy with a synchronous getCurrentUser, looked up once', async () => {
    reset();
    const srv = await serveApp(ROUTES);
    const res = await srv.fetch('/sync', { headers: { 'X-User': 'eve' } });
    expect(await res.json()).toEqual({ user: 'eve', twice: 'eve' });
    expect(calls.lookups).toBe(1);
    const anonymous = await srv.fetch('/sync');
    expect(await anonymous.json()).toEqual({ user: null, twice: null });
  });

  it('can be assigned', async () => {
    const srv = await serveApp(ROUTES);
    const res = await srv.fetch('/login-here', { method: 'POST' });
    expect(await res.json()).toEqual({ user: 'set-by-login' });
  });
});
