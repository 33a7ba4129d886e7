import { describe, expect, it } from 'vitest';
import { createSignedValue, decodeSignedValue, signingKeys } from '../../src/web/signed-cookies.js';

const NOW = 1_800_000_000;
const DAY = 86_400;
const keys = signingKeys('a-long-random-secret-for-the-tests');

describe('signed values', () => {
  it('round-trip any text, and are safe cookie values', () => {
    for (const value of ['', 'plain', 'with; semicolons, commas and "quotes"', 'ünïcödé ✓\n']) {
      const signed = createSignedValue(keys, 'c', value, NOW);
      expect(signed).toMatch(/^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/);
      expect(decodeSignedValue(keys, 'c', signed, 31, NOW)).toBe(value);
    }
  });

  it('reject a tampered value, timestamp, version or signature', () => {
    const signed = createSignedValue(keys, 'c', 'user=1', NOW);
    const [format, version, timestamp, value, sig] = signed.split('|') as string[];
    const forged = Buffer.from('user=2').toString('base64url');
    const flip = (s: string): string => (s.startsWith('A') ? `B${s.slice(1)}` : `A${s.slice(1)}`);
    for (const bad of [
      [format, version, timestamp, forged, sig],
      [format, version, String(NOW + 1), value, sig],
      [format, '1', timestamp, value, sig],
      [format, version, timestamp, value, flip(sig as string)],
      [format, version, timestamp, value, (sig as string).slice(1)],
      ['2', version, timestamp, value, sig],
    ]) {
      expect(decodeSignedValue(keys, 'c', bad.join('|'), 31, NOW)).toBeUndefined();
    }
  });

  it('are bound to the name they were signed for', () => {
    const signed = createSignedValue(keys, 'role', 'admin', NOW);
    expect(decodeSignedValue(keys, 'role', signed, 31, NOW)).toBe('admin');
    expect(decodeSignedValue(keys, 'other', signed, 31, NOW)).toBeUndefined();
  });

  it('expire after maxAgeDays, and refuse timestamps as far in the future', () => {
    const signed = createSignedValue(keys, 'c', 'v', NOW);
    expect(decodeSignedValue(keys, 'c', signed, 31, NOW + 31 * DAY)).toBe('v');
    expect(decodeSignedValue(keys, 'c', signed, 31, NOW + 31 * DAY + 1)).toBeUndefined();
    expect(decodeSignedValue(keys, 'c', signed, 1, NOW + DAY + 1)).toBeUndefined();
    expect(decodeSignedValue(keys, 'c', signed, 31, NOW - 32 * DAY)).toBeUndefined();
  });

  it('are not accepted under another secret', () => {
    const signed = createSignedValue(keys, 'c', 'v', NOW);
    expect(decodeSignedValue(signingKeys('another-secret'), 'c', signed, 31, NOW)).toBeUndefined();
  });

  it('rotate keys: old versions verify while listed, new values use the current version', () => {
    const v1 = signingKeys({ 1: 'old-secret' }, 1);
    const oldValue = createSignedValue(v1, 'c', 'from v1', NOW);
    const rotated = signingKeys({ 1: 'old-secret', 2: 'new-secret' }, 2);
    expect(decodeSignedValue(rotated, 'c', oldValue, 31, NOW)).toBe('from v1');
    const newValue = createSignedValue(rotated, 'c', 'from v2', NOW);
    expect(newValue.split('|')[1]).toBe('2');
    const retired = signingKeys({ 2: 'new-secret' }, 2);
    expect(decodeSignedValue(retired, 'c', oldValue, 31, NOW)).toBeUndefined();
    expect(decodeSignedValue(retired, 'c', newValue, 31, NOW)).toBe('from v2');
  });

  it('treat malformed input as absent', () => {
    for (const bad of [undefined, '', 'garbage', '1|0|x|v|s', '1|0|1|v|', `${'1|'.repeat(5)}`]) {
      expect(decodeSignedValue(keys, 'c', bad, 31, NOW)).toBeUndefined();
    }
  });
});

describe('signingKeys', () => {
  it('refuses empty secrets and a key version that is not listed', () => {
    expect(() => signingKeys('')).toThrow(TypeError);
    expect(() => signingKeys({ 1: 'a' })).toThrow(/cookieKeyVersion/);
    expect(() => signingKeys({ 1: 'a' }, 2)).toThrow(/cookieKeyVersion/);
    expect(() => signingKeys({ 1: '' }, 1)).toThrow(TypeError);
    expect(() => signingKeys('secret', 3)).toThrow(RangeError);
  });
});
