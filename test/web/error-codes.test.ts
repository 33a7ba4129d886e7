import { afterEach, describe, expect, it } from 'vitest';
import {
  Application,
  ERROR_CODES,
  HttpError,
  RequestHandler,
  Router,
  serializeCookie,
  serve,
  type TestServer,
} from '../../src/web/index.js';

const servers: TestServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** What a handler caught, by the step that threw. */
type Caught = Record<string, unknown>;

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return 'no error';
}

class Misuse extends RequestHandler<{ caught: Caught }> {
  private caught: Caught = {};

  override initialize(options: { caught: Caught }): void {
    this.caught = options.caught;
  }

  override async get(): Promise<void> {
    const c = this.caught;
    c.header = codeOf(() => this.setHeader('X-Bad', 'a\r\nb'));
    c.status = codeOf(() => this.setStatus(42));
    c.json = codeOf(() => this.write(undefined as unknown as object));
    c.cookie = codeOf(() => this.setCookie('bad name', 'v'));
    c.signed = codeOf(() => this.getSignedCookie('s'));
    c.argument = codeOf(() => this.getArgument('missing'));
    c.reverse = codeOf(() => this.reverseUrl('nowhere'));
    c.staticUrl = codeOf(() => this.staticUrl('app.js'));
    c.bodyLimit = codeOf(() => this.setMaxBodyBytes(-1));
    c.body = await this.json().then(
      () => 'no error',
      (error: HttpError) => error.code,
    );
    this.finish('done');
    c.finished = codeOf(() => this.write('more'));
    c.twice = codeOf(() => this.finish());
    c.clear = codeOf(() => this.clear());
  }
}

describe('error codes', () => {
  it('errors a handler may catch carry a stable code listed in ERROR_CODES', async () => {
    const caught: Caught = {};
    const srv = await serve(new Application([['/', Misuse, { caught }]]));
    servers.push(srv);
    const res = await srv.fetch('/');
    expect(await res.text()).toBe('done');
    expect(caught).toEqual({
      header: 'ERR_HEADER_INJECTION',
      status: 'ERR_INVALID_STATUS',
      json: 'ERR_NOT_JSON_ENCODABLE',
      cookie: 'ERR_INVALID_COOKIE',
      signed: 'ERR_NO_COOKIE_SECRET',
      argument: 'ERR_MISSING_ARGUMENT',
      reverse: 'ERR_UNKNOWN_ROUTE',
      staticUrl: 'ERR_NO_STATIC_PATH',
      bodyLimit: 'ERR_BODY_LIMIT',
      body: 'ERR_UNSUPPORTED_MEDIA_TYPE',
      finished: 'ERR_RESPONSE_FINISHED',
      twice: 'ERR_RESPONSE_FINISHED',
      clear: 'ERR_HEADERS_SENT',
    });
    for (const code of Object.values(caught)) expect(ERROR_CODES).toHaveProperty(code as string);
  });

  it('functions outside a handler carry codes too; HttpError keeps its status', () => {
    expect(codeOf(() => serializeCookie('a', 'b;c'))).toBe('ERR_INVALID_COOKIE');
    const router = new Router<string>();
    router.add('/users/{id}', 'user', 'user');
    expect(codeOf(() => router.reverse('user'))).toBe('ERR_ROUTE_NOT_REVERSIBLE');
    const error = new HttpError(413, 'too big', { code: 'ERR_BODY_TOO_LARGE' });
    expect(error.status).toBe(413);
    expect(error.code).toBe('ERR_BODY_TOO_LARGE');
    expect(new HttpError(404).code).toBeUndefined();
  });
});
