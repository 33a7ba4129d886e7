import { describe, expect, it } from 'vitest';
import {
  parseCookieHeader,
  serializeCookie,
  serializeExpiredCookie,
} from '../../src/web/cookies.js';

describe('parseCookieHeader', () => {
  it('reads name=value pairs, trimming spaces and surrounding quotes', () => {
    expect({ ...parseCookieHeader('a=1; b = two ;c="quoted value"') }).toEqual({
      a: '1',
      b: 'two',
      c: 'quoted value',
    });
  });

  it('keeps the first of repeated names (the most specific path comes first)', () => {
    expect(parseCookieHeader('id=specific; id=general').id).toBe('specific');
  });

  it('skips malformed pairs instead of failing', () => {
    const cookies = parseCookieHeader(';;novalue; =orphan; ok=1; %zz=%; \u0000x=\u00e9;;');
    expect(cookies.ok).toBe('1');
    expect(cookies.novalue).toBeUndefined();
    expect(Object.keys(cookies)).not.toContain('');
    expect(cookies['%zz']).toBe('%'); // not percent-decoded, and no URIError
  });

  it('has no prototype, so __proto__ is an ordinary name', () => {
    const cookies = parseCookieHeader('__proto__=x; constructor=y');
    expect(Object.getOwnPropertyDescriptor(cookies, '__proto__')?.value).toBe('x');
    expect(cookies.constructor).toBe('y');
    expect(parseCookieHeader('a=1').toString).toBeUndefined();
  });

  it('returns an empty object for a missing or empty header', () => {
    expect(Object.keys(parseCookieHeader(undefined))).toEqual([]);
    expect(Object.keys(parseCookieHeader(''))).toEqual([]);
  });

  it('keeps = inside values', () => {
    expect(parseCookieHeader('t=a=b==').t).toBe('a=b==');
  });
});

describe('serializeCookie', () => {
  it('writes every attribute', () => {
    const header = serializeCookie('sid', 'abc', {
      path: '/app',
      domain: 'example.com',
      expires: new Date(Date.UTC(2030, 0, 2, 3, 4, 5)),
      maxAge: 3600,
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
    });
    expect(header).toBe(
      'sid=abc; Path=/app; Domain=example.com; Expires=Wed, 02 Jan 2030 03:04:05 GMT; ' +
        'Max-Age=3600; HttpOnly; Secure; SameSite=Strict',
    );
  });

  it('defaults the path to /', () => {
    expect(serializeCookie('a', 'b')).toBe('a=b; Path=/');
  });

  it.each([
    ['CR LF', 'a\r\nSet-Cookie: evil=1'],
    ['semicolon', 'a; Domain=evil.example'],
    ['comma', 'a,b'],
    ['space', 'a b'],
    ['double quote', 'a"b'],
    ['backslash', 'a\\b'],
    ['non-ASCII', 'café'],
    ['NUL', 'a\u0000'],
  ])('refuses a value with %s', (_, value) => {
    expect(() => serializeCookie('a', value)).toThrow(TypeError);
  });

  it.each([
    ['an empty name', ''],
    ['=', 'a=b'],
    ['a space', 'a b'],
    ['a semicolon', 'a;b'],
    ['CR LF', 'a\r\n'],
    ['brackets', '[a]'],
  ])('refuses a name with %s', (_, name) => {
    expect(() => serializeCookie(name, 'v')).toThrow(TypeError);
  });

  it('refuses attribute injection through path and domain', () => {
    expect(() => serializeCookie('a', 'b', { path: '/; Secure' })).toThrow(TypeError);
    expect(() => serializeCookie('a', 'b', { path: '/\r\nX: y' })).toThrow(TypeError);
    expect(() => serializeCookie('a', 'b', { domain: 'a.com; Path=/x' })).toThrow(TypeError);
    expect(() => serializeCookie('a', 'b', { domain: 'a b.com' })).toThrow(TypeError);
  });

  it('refuses SameSite=None without Secure, and unknown SameSite values', () => {
    expect(() => serializeCookie('a', 'b', { sameSite: 'None' })).toThrow(/requires secure/);
    expect(serializeCookie('a', 'b', { sameSite: 'None', secure: true })).toContain(
      'SameSite=None',
    );
    expect(() => serializeCookie('a', 'b', { sameSite: 'lax' as 'Lax' })).toThrow(TypeError);
  });

  it('refuses bad expiry dates and fractional max-age', () => {
    expect(() => serializeCookie('a', 'b', { expires: new Date(Number.NaN) })).toThrow(TypeError);
    expect(() => serializeCookie('a', 'b', { maxAge: 1.5 })).toThrow(TypeError);
  });

  it('enforces the __Secure- and __Host- prefix rules browsers apply', () => {
    expect(() => serializeCookie('__Secure-a', 'b')).toThrow(TypeError);
    expect(() => serializeCookie('__Host-a', 'b', { secure: true, path: '/x' })).toThrow(TypeError);
    expect(() => serializeCookie('__Host-a', 'b', { secure: true, domain: 'a.com' })).toThrow(
      TypeError,
    );
    expect(serializeCookie('__Host-a', 'b', { secure: true })).toBe('__Host-a=b; Path=/; Secure');
  });
});

describe('serializeExpiredCookie', () => {
  it('empties and expires the cookie with the same path and domain', () => {
    expect(serializeExpiredCookie('sid', { path: '/app', domain: 'example.com' })).toBe(
      'sid=; Path=/app; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0',
    );
  });
});
