import { nodeCrypto } from './builtins.js';
import type { CookieJar, CookieOptions } from './cookies.js';
import { withCode } from './errors.js';

/**
 * The application's `cookieSecret` setting: one secret, or several by key version so that keys
 * can be rotated (values signed with any listed version still verify; new ones are signed with
 * `cookieKeyVersion`).
 */
export type CookieSecret = string | Readonly<Record<number, string>>;

/** Secrets ready for signing: a key per version, and the version new values are signed with. */
export interface SigningKeys {
  readonly keys: ReadonlyMap<number, Buffer>;
  readonly current: number;
}

/** Options of `setSignedCookie`: the cookie's attributes, and by default an expiry in 30 days. */
export interface SignedCookieOptions extends CookieOptions {
  /** Days until the browser drops the cookie, unless `expires` is given; `null`: a session cookie. */
  expiresDays?: number | null;
}

/** Options of `getSignedCookie`. */
export interface GetSignedCookieOptions {
  /** Oldest signature accepted, in days (whatever the cookie's own expiry said). Default 31. */
  maxAgeDays?: number;
}

const FORMAT = '1';
const DAY_SECONDS = 86_400;
const SIGNED = /^1\|(\d{1,9})\|(\d{1,12})\|([A-Za-z0-9_-]*)\|([A-Za-z0-9_-]{43})$/;

/**
 * Validates the `cookieSecret` and `cookieKeyVersion` settings and prepares the keys. Throws a
 * `TypeError` or `RangeError` for an empty secret, a versioned secret without a valid
 * `cookieKeyVersion`, or a key version that is not a non-negative integer.
 */
export function signingKeys(secret: CookieSecret, keyVersion?: number): SigningKeys {
  if (typeof secret === 'string') {
    if (secret === '') throw new TypeError('cookieSecret must not be empty');
    if (keyVersion !== undefined && keyVersion !== 0) {
      throw new RangeError(
        'cookieKeyVersion needs cookieSecret to be a map of versions to secrets',
      );
    }
    return { keys: new Map([[0, Buffer.from(secret)]]), current: 0 };
  }
  const keys = new Map<number, Buffer>();
  for (const [version, value] of Object.entries(secret)) {
    const n = Number(version);
    if (!/^\d{1,9}$/.test(version)) {
      throw new RangeError(
        `cookieSecret key versions must be non-negative integers, got ${version}`,
      );
    }
    if (typeof value !== 'string' || value === '') {
      throw new TypeError(`cookieSecret version ${version} must be a non-empty string`);
    }
    keys.set(n, Buffer.from(value));
  }
  if (keyVersion === undefined || !keys.has(keyVersion)) {
    throw new RangeError('cookieKeyVersion must name one of the versions in cookieSecret');
  }
  return { keys, current: keyVersion };
}

function signature(key: Buffer, payload: string): Buffer {
  return nodeCrypto().createHmac('sha256', key).update(payload).digest();
}

function payloadOf(version: string, timestamp: string, name: string, value: string): string {
  // The name is length-prefixed: it may contain `|`, and binding it stops a value signed for one
  // cookie from being replayed as another.
  return `${FORMAT}|${version}|${timestamp}|${name.length}:${name}|${value}`;
}

/**
 * Signs `value` for the cookie (or other named slot) `name`: the result carries the key version,
 * the time it was signed and the value (base64url), and an HMAC-SHA256 over those and the name.
 * The value is readable by the client, only not forgeable: do not put secrets in it.
 */
export function createSignedValue(
  keys: SigningKeys,
  name: string,
  value: string,
  nowSeconds: number = Date.now() / 1000,
): string {
  const version = String(keys.current);
  const timestamp = String(Math.floor(nowSeconds));
  const encoded = Buffer.from(value, 'utf8').toString('base64url');
  const key = keys.keys.get(keys.current) as Buffer;
  const sig = signature(key, payloadOf(version, timestamp, name, encoded)).toString('base64url');
  return `${FORMAT}|${version}|${timestamp}|${encoded}|${sig}`;
}

/**
 * Verifies a value made by {@link createSignedValue} for `name` and returns what was signed, or
 * `undefined` when it is malformed, signed for another name, signed with a key version no longer
 * listed, tampered with, or signed more than `maxAgeDays` ago (or as far in the future).
 */
export function decodeSignedValue(
  keys: SigningKeys,
  name: string,
  signed: string | undefined,
  maxAgeDays = 31,
  nowSeconds: number = Date.now() / 1000,
): string | undefined {
  if (signed === undefined) return undefined;
  const match = SIGNED.exec(signed);
  if (match === null) return undefined;
  const [, version, timestamp, encoded, sig] = match as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  const key = keys.keys.get(Number(version));
  if (key === undefined) return undefined;
  const expected = signature(key, payloadOf(version, timestamp, name, encoded));
  const given = Buffer.from(sig, 'base64url');
  if (given.length !== expected.length || !nodeCrypto().timingSafeEqual(given, expected))
    return undefined;
  const age = nowSeconds - Number(timestamp);
  const maxAge = maxAgeDays * DAY_SECONDS;
  if (age > maxAge || age < -maxAge) return undefined;
  return Buffer.from(encoded, 'base64url').toString('utf8');
}

function keysOf(keys: SigningKeys | undefined): SigningKeys {
  if (keys === undefined) {
    throw withCode(
      new Error('signed cookies need the cookieSecret application setting'),
      'ERR_NO_COOKIE_SECRET',
    );
  }
  return keys;
}

/**
 * `handler.getSignedCookie`: the verified value of a signed cookie, or `undefined`. `keys` is the
 * application's `cookieKeys` setting; without it, this throws.
 */
export function readSignedCookie(
  jar: Pick<CookieJar, 'getCookie'>,
  keys: SigningKeys | undefined,
  name: string,
  options: GetSignedCookieOptions = {},
): string | undefined {
  return decodeSignedValue(keysOf(keys), name, jar.getCookie(name), options.maxAgeDays);
}

/** `handler.setSignedCookie`: signs `value` and sets it as the cookie `name`. */
export function writeSignedCookie(
  jar: CookieJar,
  keys: SigningKeys | undefined,
  name: string,
  value: string,
  options: SignedCookieOptions = {},
): void {
  const signing = keysOf(keys);
  const { expiresDays = 30, ...cookie } = options;
  if (expiresDays !== null && cookie.expires === undefined) {
    cookie.expires = new Date(Date.now() + expiresDays * DAY_SECONDS * 1000);
  }
  jar.setCookie(name, createSignedValue(signing, name, value), cookie);
}
