import type { IncomingMessage } from 'node:http';
import { HttpError, withCode } from './errors.js';
import { isThenable } from './thenable.js';

/**
 * What the current-user helpers read and do: the user lookup, the request (for `?next=`) and, to
 * refuse a request without a user, the `loginUrl` setting and a redirect. A `RequestHandler` is one.
 */
export interface AuthRequest {
  readonly method: string;
  readonly request: IncomingMessage;
  readonly protocol: string;
  readonly application: { readonly settings: { readonly loginUrl: string | undefined } };
  /**
   * The `WWW-Authenticate` challenge of this handler's 401s (say `Basic realm="admin"`); when not
   * set, the application's `authChallenge` setting (default `Bearer`).
   */
  readonly authChallenge?: string | undefined;
  getCurrentUser(): unknown;
  redirect(url: string): void;
}

const kAuthenticated = Symbol('authenticated');

/** The resolved user of each request that asked for one; `value` may be `undefined` (nobody). */
const users = new WeakMap<object, { value: unknown }>();
/** Lookups in progress, so that concurrent callers share one call of `getCurrentUser`. */
const lookups = new WeakMap<object, Promise<unknown>>();

function settle(handler: object, lookup: PromiseLike<unknown>): Promise<unknown> {
  const promise = Promise.resolve(lookup).then((user) => {
    if (!users.has(handler)) users.set(handler, { value: user ?? undefined });
    return (users.get(handler) as { value: unknown }).value;
  });
  lookups.set(handler, promise);
  return promise;
}

/**
 * Resolves the request's current user once (a later call returns the same user), calling
 * `getCurrentUser`; `null` counts as no user and becomes `undefined`.
 */
export async function resolveCurrentUser(handler: AuthRequest): Promise<unknown> {
  const known = users.get(handler);
  if (known !== undefined) return known.value;
  const pending = lookups.get(handler);
  if (pending !== undefined) return pending;
  const user = handler.getCurrentUser();
  if (isThenable(user)) return settle(handler, user);
  users.set(handler, { value: user ?? undefined });
  return user ?? undefined;
}

/**
 * The request's current user: resolved on first access when `getCurrentUser` is synchronous;
 * when it is async, reading before the user was resolved throws (the lookup is started, so a
 * later `resolveCurrentUser` does not call `getCurrentUser` again).
 */
export function currentUserOf(handler: AuthRequest): unknown {
  const known = users.get(handler);
  if (known !== undefined) return known.value;
  if (!lookups.has(handler)) {
    const user = handler.getCurrentUser();
    if (!isThenable(user)) {
      users.set(handler, { value: user ?? undefined });
      return user ?? undefined;
    }
    settle(handler, user).catch(() => {}); // a failure reaches whoever awaits it later
  }
  throw withCode(
    new Error(
      'currentUser: getCurrentUser is async; await this.resolveCurrentUser() first (or use @authenticated)',
    ),
    'ERR_USER_NOT_RESOLVED',
  );
}

/** Sets the request's current user (after a login in this request, say). */
export function setCurrentUser(handler: AuthRequest, user: unknown): void {
  users.set(handler, { value: user ?? undefined });
}

/** Whether a verb method was wrapped with {@link authenticated}. */
export function isAuthenticated(method: unknown): boolean {
  return typeof method === 'function' && kAuthenticated in method;
}

/** `loginUrl` with `next` set to the URL of this request (absolute when `loginUrl` is). */
function loginRedirect(handler: AuthRequest, loginUrl: string): string {
  const target = handler.request.url ?? '/';
  const next = /^[a-z][a-z0-9+.-]*:\/\//i.test(loginUrl)
    ? `${handler.protocol}://${handler.request.headers.host ?? ''}${target}`
    : target;
  return `${loginUrl}${loginUrl.includes('?') ? '&' : '?'}next=${encodeURIComponent(next)}`;
}

/**
 * Resolves the current user and, when there is none, refuses the request: GET and HEAD are
 * redirected to the `loginUrl` setting with `?next=` (or answered 401 when it is not set), other
 * methods get a 403. Resolves to whether the request may go on.
 */
export async function requireUser(handler: AuthRequest): Promise<boolean> {
  if ((await resolveCurrentUser(handler)) !== undefined) return true;
  if (handler.method === 'GET' || handler.method === 'HEAD') {
    const loginUrl = handler.application.settings.loginUrl;
    if (loginUrl === undefined) throw new HttpError(401, 'authentication required');
    handler.redirect(loginRedirect(handler, loginUrl));
    return false;
  }
  throw new HttpError(403, 'authentication required');
}

/**
 * Makes a verb method require a current user (Tornado's `@authenticated`). Use it as a standard
 * (TypeScript 5) method decorator, or wrap a function with it in plain JavaScript:
 *
 * ```ts
 * class Profile extends RequestHandler<undefined, User> {
 *   @authenticated override async get() { this.write({ name: this.currentUser?.name }); }
 * }
 * Profile.prototype.post = authenticated(async function () { ... }); // the same, without syntax
 * ```
 *
 * For a wrapped verb the user is resolved (with `getCurrentUser`) before the body is read and
 * before `prepare`; with no user, GET and HEAD are redirected to the `loginUrl` setting with
 * `?next=<this URL>` (401 when it is not set) and other methods are refused with 403, so neither
 * `prepare` nor the verb runs.
 */
export function authenticated<This extends AuthRequest, Args extends string[], Return>(
  method: (this: This, ...args: Args) => Return,
  _context?: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
): (this: This, ...args: Args) => Promise<Awaited<Return> | undefined> {
  const guarded = async function (this: This, ...args: Args): Promise<Awaited<Return> | undefined> {
    if (!(await requireUser(this))) return undefined;
    return await method.apply(this, args);
  };
  Object.defineProperty(guarded, kAuthenticated, { value: true });
  return guarded;
}
