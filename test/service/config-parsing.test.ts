import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Config, LOG_LEVELS, loadConfig } from '../../src/service/config.js';
import { configError } from '../support/config.js';

const DEFAULTS: Config = {
  port: 8080,
  host: undefined,
  adminPort: undefined,
  workers: 'auto',
  logLevel: 'info',
  logFormat: 'json',
  shutdownDelayMs: 0,
  shutdownTimeoutMs: 10_000,
  keepAliveTimeoutMs: 65_000,
  workerStartupTimeoutMs: 30_000,
  maxBodyBytes: 1_048_576,
  redisUrl: undefined,
  redisKeyPrefix: 'tornode',
};

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('loadConfig defaults', () => {
  it('gives every variable its documented default for an empty environment', () => {
    expect(loadConfig({})).toEqual(DEFAULTS);
  });

  it('treats empty and blank values as unset', () => {
    const env: Record<string, string> = {};
    for (const name of [
      'PORT',
      'HOST',
      'ADMIN_PORT',
      'WORKERS',
      'LOG_LEVEL',
      'LOG_FORMAT',
      'SHUTDOWN_DELAY_MS',
      'SHUTDOWN_TIMEOUT_MS',
      'KEEP_ALIVE_TIMEOUT_MS',
      'MAX_BODY_BYTES',
    ]) {
      env[name] = name.length % 2 === 0 ? '' : '   ';
    }
    expect(loadConfig(env)).toEqual(DEFAULTS);
  });

  it('ignores variables that are not its own', () => {
    expect(loadConfig({ PATH: '/usr/bin', NODE_ENV: 'production', POD_NAME: 'x' })).toEqual(
      DEFAULTS,
    );
  });

  it('reads process.env when given no environment', () => {
    for (const name of ['PORT', 'ADMIN_PORT', 'LOG_LEVEL', 'KUBERNETES_SERVICE_HOST']) {
      vi.stubEnv(name, '');
    }
    vi.stubEnv('PORT', '4321');
    vi.stubEnv('LOG_LEVEL', 'debug');
    const config = loadConfig();
    expect(config.port).toBe(4321);
    expect(config.logLevel).toBe('debug');
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});

describe('SHUTDOWN_DELAY_MS default', () => {
  it('is 0 outside Kubernetes', () => {
    expect(loadConfig({}).shutdownDelayMs).toBe(0);
  });

  it('is 5000 when KUBERNETES_SERVICE_HOST is set', () => {
    expect(loadConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }).shutdownDelayMs).toBe(5000);
  });

  it('is 0 when KUBERNETES_SERVICE_HOST is set but empty', () => {
    expect(loadConfig({ KUBERNETES_SERVICE_HOST: '' }).shutdownDelayMs).toBe(0);
  });

  it('yields to an explicit value, in Kubernetes or not', () => {
    expect(
      loadConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', SHUTDOWN_DELAY_MS: '0' }).shutdownDelayMs,
    ).toBe(0);
    expect(
      loadConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', SHUTDOWN_DELAY_MS: '1500' })
        .shutdownDelayMs,
    ).toBe(1500);
    expect(loadConfig({ SHUTDOWN_DELAY_MS: '7000' }).shutdownDelayMs).toBe(7000);
  });

  it('changes no other default', () => {
    expect(loadConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1' })).toEqual({
      ...DEFAULTS,
      shutdownDelayMs: 5000,
    });
  });
});

describe('loadConfig valid values', () => {
  it.each([
    ['PORT', '0', 'port', 0],
    ['PORT', '1', 'port', 1],
    ['PORT', '65535', 'port', 65535],
    ['PORT', ' 3000 ', 'port', 3000],
    ['HOST', '127.0.0.1', 'host', '127.0.0.1'],
    ['HOST', '::', 'host', '::'],
    ['HOST', ' localhost ', 'host', 'localhost'],
    ['ADMIN_PORT', '9090', 'adminPort', 9090],
    ['ADMIN_PORT', '0', 'adminPort', 0],
    ['ADMIN_PORT', '65535', 'adminPort', 65535],
    ['WORKERS', 'auto', 'workers', 'auto'],
    ['WORKERS', 'AUTO', 'workers', 'auto'],
    ['WORKERS', '1', 'workers', 1],
    ['WORKERS', '4', 'workers', 4],
    ['WORKERS', '1024', 'workers', 1024],
    ['LOG_FORMAT', 'json', 'logFormat', 'json'],
    ['LOG_FORMAT', 'pretty', 'logFormat', 'pretty'],
    ['LOG_FORMAT', 'Pretty', 'logFormat', 'pretty'],
    ['SHUTDOWN_DELAY_MS', '0', 'shutdownDelayMs', 0],
    ['SHUTDOWN_DELAY_MS', '2147483647', 'shutdownDelayMs', 2_147_483_647],
    ['SHUTDOWN_TIMEOUT_MS', '0', 'shutdownTimeoutMs', 0],
    ['SHUTDOWN_TIMEOUT_MS', '30000', 'shutdownTimeoutMs', 30_000],
    ['KEEP_ALIVE_TIMEOUT_MS', '5000', 'keepAliveTimeoutMs', 5000],
    ['KEEP_ALIVE_TIMEOUT_MS', '1', 'keepAliveTimeoutMs', 1],
    ['MAX_BODY_BYTES', '0', 'maxBodyBytes', 0],
    ['MAX_BODY_BYTES', '10', 'maxBodyBytes', 10],
    ['MAX_BODY_BYTES', '104857600', 'maxBodyBytes', 104_857_600],
  ] as const)('%s=%j gives %s %j', (variable, value, key, expected) => {
    const config = loadConfig({ [variable]: value });
    expect(config[key]).toBe(expected);
    // Nothing else moves.
    expect({ ...config, [key]: DEFAULTS[key] }).toEqual(DEFAULTS);
  });

  it.each(LOG_LEVELS)('LOG_LEVEL=%s is accepted, in any case', (level) => {
    expect(loadConfig({ LOG_LEVEL: level }).logLevel).toBe(level);
    expect(loadConfig({ LOG_LEVEL: level.toUpperCase() }).logLevel).toBe(level);
  });

  it('reads every variable at once', () => {
    expect(
      loadConfig({
        PORT: '8000',
        HOST: '0.0.0.0',
        ADMIN_PORT: '9000',
        WORKERS: '2',
        LOG_LEVEL: 'warn',
        LOG_FORMAT: 'pretty',
        SHUTDOWN_DELAY_MS: '100',
        SHUTDOWN_TIMEOUT_MS: '200',
        KEEP_ALIVE_TIMEOUT_MS: '300',
        MAX_BODY_BYTES: '400',
        REDIS_URL: 'redis://redis:6379',
        REDIS_KEY_PREFIX: 'shop',
      }),
    ).toEqual({
      port: 8000,
      host: '0.0.0.0',
      adminPort: 9000,
      workers: 2,
      logLevel: 'warn',
      logFormat: 'pretty',
      shutdownDelayMs: 100,
      shutdownTimeoutMs: 200,
      keepAliveTimeoutMs: 300,
      workerStartupTimeoutMs: 30_000,
      maxBodyBytes: 400,
      redisUrl: 'redis://redis:6379',
      redisKeyPrefix: 'shop',
    });
  });
});

describe('loadConfig bad values', () => {
  const INTEGER_0_65535 = ['0', '65535'];
  const MS = ['0', '2147483647'];
  /** [variable, bad value, words the message must contain to say what is accepted] */
  const cases: [string, string, string[]][] = [
    ['PORT', 'abc', INTEGER_0_65535],
    ['PORT', '70000', INTEGER_0_65535],
    ['PORT', '65536', INTEGER_0_65535],
    ['PORT', '-1', INTEGER_0_65535],
    ['PORT', '80.5', INTEGER_0_65535],
    ['PORT', '0x50', INTEGER_0_65535],
    ['PORT', '1e3', INTEGER_0_65535],
    ['PORT', '8080abc', INTEGER_0_65535],
    ['PORT', '99999999999999999999999', INTEGER_0_65535],
    ['PORT', '٨٠', INTEGER_0_65535],
    ['ADMIN_PORT', 'abc', INTEGER_0_65535],
    ['ADMIN_PORT', '70000', INTEGER_0_65535],
    ['ADMIN_PORT', '-9090', INTEGER_0_65535],
    ['WORKERS', '0', ['auto', '1', '1024']],
    ['WORKERS', 'x', ['auto', '1', '1024']],
    ['WORKERS', '-2', ['auto', '1', '1024']],
    ['WORKERS', '1.5', ['auto', '1', '1024']],
    ['WORKERS', '1025', ['auto', '1', '1024']],
    ['WORKERS', 'max', ['auto', '1', '1024']],
    ['LOG_LEVEL', 'loud', [...LOG_LEVELS]],
    ['LOG_LEVEL', 'verbose', [...LOG_LEVELS]],
    ['LOG_LEVEL', '30', [...LOG_LEVELS]],
    ['LOG_FORMAT', 'xml', ['json', 'pretty']],
    ['LOG_FORMAT', 'text', ['json', 'pretty']],
    ['SHUTDOWN_DELAY_MS', '-1', MS],
    ['SHUTDOWN_DELAY_MS', '5s', MS],
    ['SHUTDOWN_DELAY_MS', '2147483648', MS],
    ['SHUTDOWN_TIMEOUT_MS', 'abc', MS],
    ['SHUTDOWN_TIMEOUT_MS', '-5', MS],
    ['SHUTDOWN_TIMEOUT_MS', '1.5', MS],
    ['KEEP_ALIVE_TIMEOUT_MS', 'forever', ['1', '2147483647']],
    ['KEEP_ALIVE_TIMEOUT_MS', '-1', ['1', '2147483647']],
    ['KEEP_ALIVE_TIMEOUT_MS', '0', ['1', '2147483647']],
    ['MAX_BODY_BYTES', '1.5', ['0', String(Number.MAX_SAFE_INTEGER)]],
    ['MAX_BODY_BYTES', '1MB', ['0', String(Number.MAX_SAFE_INTEGER)]],
    ['MAX_BODY_BYTES', '-1', ['0', String(Number.MAX_SAFE_INTEGER)]],
    ['MAX_BODY_BYTES', '9007199254740992', ['0', String(Number.MAX_SAFE_INTEGER)]],
  ];

  it.each(cases)('%s=%j throws a one-line ConfigError', (variable, value, accepts) => {
    const error = configError({ [variable]: value });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ConfigError');
    expect(error.variable).toBe(variable);
    expect(error.message).not.toMatch(/[\r\n]/);
    expect(error.message.startsWith(`${variable}=`)).toBe(true);
    expect(error.message).toContain(JSON.stringify(value));
    expect(error.message).toMatch(/expected /);
    for (const word of accepts) expect(error.message).toContain(word);
  });

  it('names the variable and value exactly (PORT=abc)', () => {
    expect(configError({ PORT: 'abc' }).message).toBe(
      'PORT="abc" is not valid: expected an integer from 0 to 65535',
    );
  });

  it('keeps the message on one line when the value has line breaks', () => {
    const error = configError({ LOG_LEVEL: 'info\nFAKE LINE\r\n' });
    expect(error.message).not.toMatch(/[\r\n]/);
    expect(error.message).toContain('LOG_LEVEL=');
    expect(error.message).toContain('FAKE LINE');
  });

  it('reports a bad value even when the other variables are fine', () => {
    const env = { PORT: '8000', LOG_LEVEL: 'debug', WORKERS: '0', LOG_FORMAT: 'json' };
    expect(configError(env).variable).toBe('WORKERS');
  });

  it('reports a bad value in Kubernetes as well', () => {
    const error = configError({ KUBERNETES_SERVICE_HOST: '10.0.0.1', SHUTDOWN_DELAY_MS: '-1' });
    expect(error.variable).toBe('SHUTDOWN_DELAY_MS');
  });
});
