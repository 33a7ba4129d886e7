import { describe, expect, it } from 'vitest';
import { HttpError, RequestHandler } from '../../../src/web/index.js';
import { serveApp } from '../../support/servers.js';

/** Logs the user out (clears the session cookie), then fails. */
class LogoutThenFail extends RequestHandler {
  override get(): void {
    this.clearCookie('session');
    this.setCookie('notice', 'bye');
    this.setHeader('X-Dropped', 'yes');
    if (this.getQueryArgument('kind', '') === 'http') throw new HttpError(403, 'no');
    throw new Error('boom');
  }
}

describe('sendError keeps the cookies set before the error (as Tornado does)', () => {
  it.each([
    ['a thrown HttpError', 'http', 403],
    ['an unexpected exception', 'crash', 500],
  ])(
    '%s: the error page carries every Set-Cookie, but no other header',
    async (_, kind, status) => {
      const srv = await serveApp([['/logout', LogoutThenFail]]);
      const response = await srv.fetch(`/logout?kind=${kind}`);
      expect(response.status).toBe(status);
      const cookies = response.headers.getSetCookie();
      expect(cookies).toHaveLength(2);
      expect(cookies.some((c) => c.startsWith('session=;') && /Max-Age=0|Expires=/i.test(c))).toBe(
        true,
      );
      expect(cookies.some((c) => c.startsWith('notice=bye'))).toBe(true);
      expect(response.headers.get('x-dropped')).toBeNull();
      await response.arrayBuffer();
    },
  );
});
