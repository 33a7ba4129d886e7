import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/service/config.js';
import { configError } from '../support/config.js';

describe('REDIS_URL', () => {
  it('is unset by default, and blank counts as unset', () => {
    expect(loadConfig({}).redisUrl).toBeUndefined();
    expect(loadConfig({ REDIS_URL: '  ' }).redisUrl).toBeUndefined();
  });

  it.each([
    'redis://localhost',
    'redis://127.0.0.1:6379',
    'redis://redis.default.svc:6380/2',
    'redis://:s3cret@redis:6379/0',
    'redis://chat:s3cret@redis:6379',
    'rediss://user:pa%40ss@cache.example.com:6380',
    'redis://[::1]:6379',
  ])('accepts %s as given', (url) => {
    expect(loadConfig({ REDIS_URL: ` ${url} ` }).redisUrl).toBe(url);
  });

  it.each([
    'localhost:6379',
    'http://localhost:6379',
    'redis://',
    'redis://host:99999',
    'redis://host/abc',
    'redis://host/1/2',
    'redis://host?db=1',
    'not a url',
  ])('refuses %s naming REDIS_URL', (url) => {
    const error = configError({ REDIS_URL: url });
    expect(error.variable).toBe('REDIS_URL');
    expect(error.message).toMatch(/^REDIS_URL=.* is not valid: expected redis:\/\//);
    expect(error.message).not.toContain('\n');
  });

  it('does not repeat the password of a refused URL', () => {
    const error = configError({ REDIS_URL: 'redis://user:hunter2@host/x' });
    expect(error.message).toContain('REDIS_URL');
    expect(error.message).not.toContain('hunter2');
  });
});

describe('REDIS_KEY_PREFIX', () => {
  it('defaults to tornode', () => {
    expect(loadConfig({}).redisKeyPrefix).toBe('tornode');
    expect(loadConfig({ REDIS_KEY_PREFIX: '' }).redisKeyPrefix).toBe('tornode');
  });

  it('accepts names such as a service and an environment', () => {
    expect(loadConfig({ REDIS_KEY_PREFIX: 'shop-chat.prod:v2' }).redisKeyPrefix).toBe(
      'shop-chat.prod:v2',
    );
  });

  it.each(['{chat}', 'a b', 'x'.repeat(65), 'é'])('refuses %s', (prefix) => {
    expect(configError({ REDIS_KEY_PREFIX: prefix }).variable).toBe('REDIS_KEY_PREFIX');
  });
});
