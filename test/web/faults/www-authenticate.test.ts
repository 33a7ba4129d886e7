import { describe, expect, it } from 'vitest';
import { Application, authenticated, HttpError, RequestHandler } from '../../../src/web/index.js';
import { serveApp } from '../../support/servers.js';

/** Nobody is ever logged in. */
class Private extends RequestHandler {
  override getCurrentUser(): undefined {
    return undefined;
  }
  @authenticated
  override get(): void {
    this.finish('secret');
  }
}

/** The same handler, with its own challenge. */
class Admin extends Private {
  override readonly authChallenge = 'Basic realm="admin", charset="UTF-8"';
}

/** Refuses by itself, with or without a challenge of its own. */
class Token extends RequestHandler {
  override get(): void {
    if (this.getQueryArgument('own', '') !== '') {
      throw new HttpError(401, 'bad token', {
        headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
      });
    }
    throw new HttpError(401, 'no token');
  }
}

const routes = [
  ['/private', Private],
  ['/admin', Admin],
  ['/token', Token],
] as const;

describe('every 401 carries WWW-Authenticate (RFC 9110 §11.6.1)', () => {
  it('defaults to Bearer; a handler or the error may give its own', async () => {
    const srv = await serveApp([...routes]);
    const challenge = async (path: string): Promise<string | null> => {
      const response = await srv.fetch(path);
      expect(response.status).toBe(401);
      await response.arrayBuffer();
      return response.headers.get('www-authenticate');
    };
    expect(await challenge('/private')).toBe('Bearer');
    expect(await challenge('/admin')).toBe('Basic realm="admin", charset="UTF-8"');
    expect(await challenge('/token')).toBe('Bearer');
    expect(await challenge('/token?own=1')).toBe('Bearer error="invalid_token"');
  });

  it('the authChallenge setting changes the default', async () => {
    const srv = await serveApp([...routes], { authChallenge: 'Cookie realm="site"' });
    const response = await srv.fetch('/private');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Cookie realm="site"');
    expect((await srv.fetch('/admin')).headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  it('a challenge that is not a scheme, or could split the header, is refused at start-up', () => {
    for (const bad of ['', ' Bearer', 'Bearer\r\nX-Evil: 1', 'a b\nc']) {
      expect(() => new Application([], { authChallenge: bad })).toThrow(/authChallenge/);
    }
  });
});
