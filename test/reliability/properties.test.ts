/**
 * Property-based tests (fast-check) of the parsers that take untrusted input: the router, query
 * and form decoding, path arguments, JSON bodies, cookies, request ids and response headers. Each
 * property runs against thousands of generated inputs; a failure prints the smallest
 * counter-example and the seed to replay it (`fc.assert` reports both).
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { requestIdGenerator } from '../../src/service/logging.js';
import {
  cleanArgument,
  decodePathArgument,
  parseUrlEncoded,
  pickUrlEncoded,
} from '../../src/web/arguments.js';
import { charsetOf, isJsonContentType, MAX_JSON_DEPTH, parseJsonBody } from '../../src/web/body.js';
import { parseCookieHeader, serializeCookie } from '../../src/web/cookies.js';
import { Application, HttpError, RequestHandler, Router } from '../../src/web/index.js';
import { report } from './support.js';

let inputs = 0;
/** `fc.assert` with `numRuns` counted for the report. */
function check<Ts extends [unknown, ...unknown[]]>(
  property: fc.IPropertyWithHooks<Ts>,
  numRuns: number,
): void {
  inputs += numRuns;
  fc.assert(property, { numRuns });
}

afterAll(() => {
  report('property-based inputs', { inputs });
});

/** Strings of any Unicode text (no lone surrogates), with URL-ish characters mixed in. */
const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const urlish = fc.string({
  unit: fc.oneof(
    fc.constantFrom('%', '/', '?', '#', '&', '=', '+', ';', ' ', '.', '..', '%2F', '%00', '%zz'),
    fc.constantFrom(...'0123456789abcdefABCDEF'),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 60,
});
/** Any string at all, lone surrogates and control characters included. */
const anything = fc.string({ unit: 'binary', maxLength: 80 });

function expectHttp400(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
  }
}

describe('router', () => {
  const router = new Router<string>();
  router.add('/', 'root', 'root');
  router.add('/users/{id}', 'user', 'user');
  router.add('/users/{id}/posts/{post}', 'post', 'post');
  router.add('/files/{path*}', 'files', 'files');
  router.add('/static/{name}.json', 'json', 'json');
  router.add(/^\/articles\/(\d{4})\/(?<slug>[^/]+)$/, 'article', 'article');

  it('match never throws and returns the route a raw path selects, or null', () => {
    check(
      fc.property(
        fc.oneof(
          urlish.map((s) => `/${s}`),
          anything,
        ),
        (path) => {
          const found = router.match(path);
          if (found !== null) {
            expect(typeof found.route.target).toBe('string');
            for (const arg of found.args) expect(typeof arg).toBe('string');
          }
        },
      ),
      5_000,
    );
  });

  it('reverse then match gives back the route and, once decoded, the very arguments', () => {
    const segmentArg = text.filter((s) => s.length > 0);
    check(
      fc.property(
        fc.oneof(
          fc.tuple(fc.constant('user'), fc.tuple(segmentArg)),
          fc.tuple(fc.constant('post'), fc.tuple(segmentArg, segmentArg)),
          fc.tuple(fc.constant('files'), fc.tuple(text)),
          fc.tuple(fc.constant('json'), fc.tuple(segmentArg)),
        ),
        ([name, args]) => {
          const path = router.reverse(name, ...args);
          const found = router.match(path);
          expect(found?.route.name, path).toBe(name);
          expect(found?.args.map(decodePathArgument), path).toEqual(args);
        },
      ),
      5_000,
    );
  });

  it('path arguments decode to a string or fail with a 400, never anything else', () => {
    check(
      fc.property(fc.oneof(urlish, anything), (raw) =>
        expectHttp400(() => decodePathArgument(raw)),
      ),
      5_000,
    );
    check(
      fc.property(text, (s) => {
        expect(decodePathArgument(encodeURIComponent(s))).toBe(s);
      }),
      2_000,
    );
  });
});

describe('query strings and forms', () => {
  it('parse to prototype-less arguments or fail with a 400, never anything else', () => {
    check(
      fc.property(fc.oneof(urlish, anything), (input) => {
        expectHttp400(() => {
          const args = parseUrlEncoded(input, 1000);
          expect(Object.getPrototypeOf(args)).toBeNull();
          for (const values of Object.values(args)) {
            for (const value of values) expect(typeof value).toBe('string');
          }
        });
      }),
      10_000,
    );
  });

  it('round-trip any names and values, in order, __proto__ and constructor included', () => {
    const name = fc.oneof(
      text,
      fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString'),
    );
    check(
      fc.property(
        fc.array(fc.tuple(name, text), { maxLength: 20 }),
        fc.boolean(),
        (pairs, plus) => {
          const encode = (s: string) =>
            plus ? encodeURIComponent(s).replace(/%20/g, '+') : encodeURIComponent(s);
          const query = pairs.map(([n, v]) => `${encode(n)}=${encode(v)}`).join('&');
          const expected: Record<string, string[]> = Object.create(null);
          for (const [n, v] of pairs) {
            const values = expected[n];
            if (values === undefined) expected[n] = [v];
            else values.push(v);
          }
          const parsed = parseUrlEncoded(query, 1000);
          expect({ ...parsed }).toEqual({ ...expected });
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        },
      ),
      5_000,
    );
  });

  it('refuse more than maxParams pairs with a 400, accept up to it', () => {
    check(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 }), (n, max) => {
        const query = Array.from({ length: n }, (_, i) => `k${i}=v`).join('&');
        if (n > max) expect(() => parseUrlEncoded(query, max)).toThrow(HttpError);
        else expect(Object.keys(parseUrlEncoded(query, max))).toHaveLength(n);
      }),
      1_000,
    );
  });

  it('picking declared names agrees with parsing them all: values, 400s and the pair limit', () => {
    const names = ['a', 'b c', 'é', '__proto__', 'list'];
    const arrays = new Set(['list']);
    const piece = fc.oneof(
      fc.constantFrom('a', 'b+c', 'b%20c', '%C3%A9', '__proto__', 'list', 'x', '%', '%zz', '', '='),
      urlish,
      text,
    );
    const query = fc
      .array(fc.tuple(piece, fc.option(piece)), { maxLength: 12 })
      .map((pairs) => pairs.map(([n, v]) => (v === null ? n : `${n}=${v}`)).join('&'));
    check(
      fc.property(fc.oneof(query, urlish, anything), fc.integer({ min: 0, max: 12 }), (q, max) => {
        let expected: unknown;
        try {
          const all = parseUrlEncoded(q, max);
          const slots = names.map((n) => {
            const values = all[n];
            if (values === undefined) return undefined;
            return arrays.has(n) ? values : values[values.length - 1];
          });
          expected = slots.every((v) => v === undefined) ? null : slots;
        } catch (error) {
          expected = error instanceof HttpError ? error.status : error;
        }
        let picked: unknown;
        try {
          picked = pickUrlEncoded(q, max, names, arrays);
        } catch (error) {
          picked = error instanceof HttpError ? error.status : error;
        }
        expect(picked).toEqual(expected);
      }),
      10_000,
    );
  });

  it('argument clean-up leaves no control characters and, stripped, no outer whitespace', () => {
    check(
      fc.property(anything, fc.boolean(), (value, strip) => {
        const cleaned = cleanArgument(value, strip);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: the characters under test
        expect(cleaned).not.toMatch(/[\x00-\x08\x0e-\x1f]/);
        if (strip) expect(cleaned).toBe(cleaned.trim());
      }),
      5_000,
    );
  });
});

describe('JSON bodies', () => {
  const forbidden = /"(?:__proto__|constructor)"/;

  it('parse back to the value that was sent, or 400 for a forbidden key', () => {
    check(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        const body = Buffer.from(JSON.stringify(value));
        try {
          expect(parseJsonBody(body, 'application/json')).toEqual(JSON.parse(body.toString()));
        } catch (error) {
          expect(error).toBeInstanceOf(HttpError);
          expect(body.toString()).toMatch(forbidden);
        }
      }),
      3_000,
    );
  });

  it('arbitrary bytes and content types: a value, or a 400/415, never anything else', () => {
    check(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.oneof(
          fc.constant('application/json'),
          fc.constant('application/x+json; charset=utf-8'),
          anything,
        ),
        (bytes, type) => {
          try {
            parseJsonBody(Buffer.from(bytes), type);
          } catch (error) {
            expect(error).toBeInstanceOf(HttpError);
            expect([400, 415]).toContain((error as HttpError).status);
          }
        },
      ),
      5_000,
    );
  });

  it(`nesting deeper than ${MAX_JSON_DEPTH} levels is a 400, whatever the strings inside hold`, () => {
    const noise = fc.string({
      unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a'),
      maxLength: 20,
    });
    check(
      fc.property(
        fc.integer({ min: 1, max: 3 * MAX_JSON_DEPTH }),
        noise,
        fc.boolean(),
        (depth, inside, objects) => {
          let json = JSON.stringify(inside);
          for (let i = 0; i < depth; i++) json = objects ? `{"k":${json}}` : `[${json}]`;
          const parse = () => parseJsonBody(Buffer.from(json), 'application/json');
          if (depth > MAX_JSON_DEPTH) expect(parse).toThrow(/nested deeper/);
          else expect(parse()).toEqual(JSON.parse(json));
        },
      ),
      300,
    );
  });

  it('content-type parsing never throws', () => {
    check(
      fc.property(anything, (type) => {
        expect(typeof isJsonContentType(type)).toBe('boolean');
        const charset = charsetOf(type);
        if (charset !== undefined) expect(charset).toBe(charset.toLowerCase());
      }),
      5_000,
    );
  });
});

describe('cookies', () => {
  const token = fc.string({
    unit: fc.constantFrom(
      ..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ),
    minLength: 1,
    maxLength: 20,
  });
  const octets = fc.string({
    unit: fc
      .integer({ min: 0x21, max: 0x7e })
      .filter((c) => c !== 0x22 && c !== 0x2c && c !== 0x3b && c !== 0x5c)
      .map((c) => String.fromCharCode(c)),
    maxLength: 30,
  });

  it('parsing any Cookie header never throws and gives prototype-less string values', () => {
    check(
      fc.property(fc.oneof(anything, urlish), (header) => {
        const cookies = parseCookieHeader(header);
        expect(Object.getPrototypeOf(cookies)).toBeNull();
        for (const value of Object.values(cookies)) expect(value).not.toContain(';');
      }),
      5_000,
    );
  });

  it('what serializeCookie sets is what parseCookieHeader reads back (first of a name wins)', () => {
    check(
      fc.property(fc.array(fc.tuple(token, octets), { minLength: 1, maxLength: 8 }), (pairs) => {
        const header = pairs
          .map(([name, value]) => serializeCookie(name, value).split(';')[0])
          .join('; ');
        const cookies = parseCookieHeader(header);
        const expected: Record<string, string> = Object.create(null);
        for (const [name, value] of pairs) {
          if (!(name in expected)) {
            const unquoted =
              value.length >= 2 && value.startsWith('"') && value.endsWith('"')
                ? value.slice(1, -1)
                : value;
            expected[name] = unquoted;
          }
        }
        expect({ ...cookies }).toEqual({ ...expected });
      }),
      3_000,
    );
  });

  it('serializeCookie refuses anything that could split or inject a header', () => {
    check(
      fc.property(anything, anything, (name, value) => {
        try {
          const header = serializeCookie(name, value);
          expect(header).not.toMatch(/[\r\n\0]/);
        } catch (error) {
          expect(error).toBeInstanceOf(TypeError);
        }
      }),
      5_000,
    );
  });
});

describe('headers', () => {
  function handler(): RequestHandler {
    const app = new Application([], {
      logger: { error() {}, warn() {}, info() {}, debug() {} },
    });
    const req = new IncomingMessage(new Socket());
    req.method = 'GET';
    req.url = '/';
    return new RequestHandler(app, req, new ServerResponse(req), null);
  }

  it('setHeader and addHeader never store CR, LF or NUL, and refuse them with a TypeError', () => {
    const h = handler();
    const injected = fc.oneof(
      anything,
      fc.constantFrom('a\r\nSet-Cookie: x=1', 'a\nb', 'a\rb', 'a\0b'),
    );
    check(
      fc.property(
        fc.oneof(fc.constant('X-Test'), anything),
        injected,
        fc.boolean(),
        (name, value, add) => {
          const dangerous = /[\r\n\0]/.test(name) || /[\r\n\0]/.test(value);
          try {
            if (add) h.addHeader(name, value);
            else h.setHeader(name, value);
            expect(dangerous).toBe(false);
          } catch (error) {
            expect(error).toBeInstanceOf(TypeError);
          }
          for (const stored of Object.values(h.response.getHeaders())) {
            expect(String(stored)).not.toMatch(/[\r\n\0]/);
          }
        },
      ),
      5_000,
    );
  });

  it('request ids are always 1–128 characters of [A-Za-z0-9._-], and the client’s only when valid', () => {
    const makeId = requestIdGenerator();
    const valid = /^[A-Za-z0-9._-]{1,128}$/;
    check(
      fc.property(
        fc.oneof(
          anything,
          fc.string({ unit: fc.constantFrom('a', '.', '_', '-', '9'), maxLength: 200 }),
          fc.array(anything),
        ),
        (incoming) => {
          const id = makeId({
            headers: { 'x-request-id': incoming },
          } as unknown as IncomingMessage);
          expect(id).toMatch(valid);
          if (typeof incoming === 'string' && valid.test(incoming)) expect(id).toBe(incoming);
          else expect(id).not.toBe(incoming);
        },
      ),
      5_000,
    );
  });
});
