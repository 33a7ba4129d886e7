import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/service/config.js';
import {
  defineConfig,
  EX_CONFIG,
  extendConfig,
  variable,
} from '../../src/service/config-define.js';

const load = defineConfig({
  greeting: variable.string('GREETING', { default: 'Hello, world' }),
  team: variable.string('TEAM', { pattern: /^[a-z]{2,8}$/, describe: '2 to 8 of a-z' }),
  rateLimit: variable.integer('RATE_LIMIT', { default: 100, min: 1, max: 10_000 }),
  region: variable.oneOf('REGION', ['eu', 'us'], 'eu'),
  upstream: variable.url('UPSTREAM_URL', { protocols: ['https:'] }),
  audit: variable.boolean('AUDIT', false),
});

/** The one-line message of the ConfigError `env` makes the loader throw. */
function errorLine(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('defineConfig', () => {
  it('gives the defaults (or undefined) for an empty or blank environment', () => {
    const config = load({ GREETING: '  ', RATE_LIMIT: '' });
    expect(config).toEqual({
      greeting: 'Hello, world',
      team: undefined,
      rateLimit: 100,
      region: 'eu',
      upstream: undefined,
      audit: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('parses and types every kind of variable', () => {
    const config = load({
      GREETING: ' Hi ',
      TEAM: 'core',
      RATE_LIMIT: '250',
      REGION: 'US',
      UPSTREAM_URL: 'https://api.example.com/v1',
      AUDIT: 'yes',
    });
    expect(config.greeting).toBe('Hi');
    expect(config.team).toBe('core');
    expect(config.rateLimit).toBe(250);
    expect(config.region).toBe('us');
    expect(config.upstream?.href).toBe('https://api.example.com/v1');
    expect(config.audit).toBe(true);
    expectTypeOf(config.rateLimit).toEqualTypeOf<number>();
    expectTypeOf(config.region).toEqualTypeOf<'eu' | 'us'>();
    expectTypeOf(config.team).toEqualTypeOf<string | undefined>();
    expectTypeOf(config.greeting).toEqualTypeOf<string>();
    expectTypeOf(config.upstream).toEqualTypeOf<URL | undefined>();
  });

  it('refuses a bad value with one line naming the variable and what it accepts', () => {
    expect(errorLine({ RATE_LIMIT: '0' })).toBe(
      'RATE_LIMIT="0" is not valid: expected an integer from 1 to 10000',
    );
    expect(errorLine({ RATE_LIMIT: '1.5' })).toMatch(/^RATE_LIMIT="1.5" is not valid/);
    expect(errorLine({ REGION: 'asia' })).toBe(
      'REGION="asia" is not valid: expected one of eu, us',
    );
    expect(errorLine({ TEAM: 'Core Team' })).toBe(
      'TEAM="Core Team" is not valid: expected 2 to 8 of a-z',
    );
    expect(errorLine({ UPSTREAM_URL: 'http://api.example.com' })).toBe(
      'UPSTREAM_URL="http://api.example.com" is not valid: expected a URL (https://…)',
    );
    expect(errorLine({ AUDIT: 'maybe' })).toMatch(/^AUDIT="maybe" is not valid: expected one of/);
    for (const line of [errorLine({ REGION: 'x' }), errorLine({ RATE_LIMIT: 'x' })]) {
      expect(line).not.toContain('\n');
    }
  });

  it('never shows a password from a URL variable', () => {
    const line = errorLine({ UPSTREAM_URL: 'ftp://me:s3cret@host/' });
    expect(line).toContain('ftp://me:***@host/');
    expect(line).not.toContain('s3cret');
  });

  it('refuses a variable declared twice', () => {
    expect(() =>
      defineConfig({ a: variable.boolean('X', true), b: variable.integer('X', { default: 1 }) }),
    ).toThrow('X is declared twice');
  });
});

describe('extendConfig', () => {
  const loadAll = extendConfig({ greeting: variable.string('GREETING', { default: 'Hi' }) });

  it("adds the user's variables to the service's own", () => {
    const config = loadAll({ PORT: '9000', GREETING: 'Salut' });
    expect(config).toEqual({ ...loadConfig({ PORT: '9000' }), greeting: 'Salut' });
    expectTypeOf(config.port).toEqualTypeOf<number>();
    expectTypeOf(config.greeting).toEqualTypeOf<string>();
  });

  it("checks the service's variables first, with the same errors", () => {
    expect(() => loadAll({ PORT: 'abc', GREETING: 'x' })).toThrow(/^PORT="abc" is not valid/);
  });
});

describe('configOrExit in a real process', () => {
  // The built module (npm test builds before it runs the suite), as a user's entry point loads it.
  const module = fileURLToPath(new URL('../../dist/service/config-define.js', import.meta.url));
  const script = `
    const { configOrExit, defineConfig, variable } = await import(${JSON.stringify(module)});
    const config = configOrExit(defineConfig({ limit: variable.integer('LIMIT', { default: 1, max: 9 }) }));
    console.log(JSON.stringify(config));`;
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
      timeout: 10_000,
    });

  it('exits 78 with one stderr line for a bad value, and runs on with a good one', () => {
    const bad = run({ LIMIT: '10' });
    expect(bad.status).toBe(EX_CONFIG);
    expect(bad.stderr).toBe(
      'configuration error: LIMIT="10" is not valid: expected an integer from 0 to 9\n',
    );
    const good = run({ LIMIT: '7' });
    expect(good.stderr).toBe('');
    expect(JSON.parse(good.stdout)).toEqual({ limit: 7 });
  });
});
