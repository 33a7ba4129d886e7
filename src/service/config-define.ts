/**
 * Your own environment variables, parsed and checked like the service's: typed, validated before
 * anything listens, and a bad value is one {@link ConfigError} line naming the variable.
 *
 * ```ts
 * const loadMyConfig = extendConfig({
 *   greeting: variable.string('GREETING', { default: 'Hello, world' }),
 *   rateLimit: variable.integer('RATE_LIMIT', { default: 100, min: 1, max: 10_000 }),
 *   region: variable.oneOf('REGION', ['eu', 'us'], 'eu'),
 *   upstream: variable.url('UPSTREAM_URL', { protocols: ['https:'] }),
 * });
 * const config = configOrExit(loadMyConfig); // Config & { greeting: string; rateLimit: number; … }
 * new Service({ config, routes });
 * ```
 */
import { type Config, ConfigError, loadConfig } from './config.js';

type Env = Readonly<Record<string, string | undefined>>;

/** One environment variable: its name and how its text becomes a value. */
export interface Variable<T> {
  readonly name: string;
  /** The value, or the default when the variable is unset or blank; throws a ConfigError. */
  read(env: Env): T;
}

/** The values a set of variables gives, by the keys they were declared under. */
export type ConfigValues<S extends Record<string, Variable<unknown>>> = {
  readonly [K in keyof S]: S[K] extends Variable<infer T> ? T : never;
};

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** A URL's text with any password replaced by `***` (best effort for text that is not a URL). */
function withoutPassword(value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]*@/i, '$1***@');
}

function integer(
  name: string,
  options: { default: number; min?: number; max?: number },
): Variable<number> {
  const { min = 0, max = Number.MAX_SAFE_INTEGER } = options;
  return {
    name,
    read(env) {
      const text = raw(env, name);
      if (text === undefined) return options.default;
      const value = text.trim();
      if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
        throw new ConfigError(name, text, `an integer from ${min} to ${max}`);
      }
      return Number(value);
    },
  };
}

function oneOf<const T extends string>(
  name: string,
  allowed: readonly T[],
  fallback: NoInfer<T>,
): Variable<T> {
  return {
    name,
    read(env) {
      const text = raw(env, name);
      if (text === undefined) return fallback;
      const value = text.trim().toLowerCase();
      const match = allowed.find((candidate) => candidate.toLowerCase() === value);
      if (match === undefined) throw new ConfigError(name, text, `one of ${allowed.join(', ')}`);
      return match;
    },
  };
}

interface StringOptions {
  /** Checked against the trimmed value, whole (anchor it). */
  readonly pattern?: RegExp;
  /** What the pattern accepts, in words, for the error line. */
  readonly describe?: string;
}

function string(name: string, options: StringOptions & { default: string }): Variable<string>;
function string(name: string, options?: StringOptions): Variable<string | undefined>;
function string(
  name: string,
  options: StringOptions & { default?: string } = {},
): Variable<string | undefined> {
  return {
    name,
    read(env) {
      const text = raw(env, name);
      if (text === undefined) return options.default;
      const value = text.trim();
      if (options.pattern !== undefined && !options.pattern.test(value)) {
        throw new ConfigError(name, text, options.describe ?? `text matching ${options.pattern}`);
      }
      return value;
    },
  };
}

interface UrlOptions {
  /** Accepted schemes with their colon (`['https:']`); default: http: and https:. */
  readonly protocols?: readonly string[];
}

function url(name: string, options: UrlOptions & { default: string }): Variable<URL>;
function url(name: string, options?: UrlOptions): Variable<URL | undefined>;
function url(
  name: string,
  options: UrlOptions & { default?: string } = {},
): Variable<URL | undefined> {
  const protocols = options.protocols ?? ['http:', 'https:'];
  return {
    name,
    read(env) {
      const text = raw(env, name) ?? options.default;
      if (text === undefined) return undefined;
      const accepts = `a URL (${protocols.map((p) => `${p}//…`).join(' or ')})`;
      let value: URL;
      try {
        value = new URL(text.trim());
      } catch {
        // The value may hold a password: the line shows it without.
        throw new ConfigError(name, withoutPassword(text), accepts);
      }
      if (!protocols.includes(value.protocol) || value.hostname === '') {
        throw new ConfigError(name, withoutPassword(text), accepts);
      }
      return value;
    },
  };
}

function boolean(name: string, fallback: boolean): Variable<boolean> {
  const words = oneOf(name, ['true', 'false', '1', '0', 'yes', 'no'], fallback ? 'true' : 'false');
  return { name, read: (env) => ['true', '1', 'yes'].includes(words.read(env)) };
}

/** Parsers for {@link defineConfig} and {@link extendConfig}: each reads one variable. */
export const variable = { integer, oneOf, string, url, boolean } as const;

/**
 * A loader for your own variables alone: `defineConfig({ key: variable.… })(env)` gives
 * `{ key: value }`, frozen, or throws a {@link ConfigError} for the first bad value.
 */
export function defineConfig<S extends Record<string, Variable<unknown>>>(
  spec: S,
): (env?: Env) => ConfigValues<S> {
  const seen = new Set<string>();
  for (const { name } of Object.values(spec)) {
    if (seen.has(name)) throw new TypeError(`defineConfig: ${name} is declared twice`);
    seen.add(name);
  }
  return (env = process.env) => {
    const values: Record<string, unknown> = {};
    for (const [key, spec_] of Object.entries(spec)) values[key] = spec_.read(env);
    return Object.freeze(values) as ConfigValues<S>;
  };
}

/**
 * A loader for the service's variables ({@link loadConfig}) plus yours, in one object to hand to
 * `new Service({ config })`. Your keys may not shadow the service's.
 */
export function extendConfig<S extends Record<string, Variable<unknown>>>(
  spec: S & { readonly [K in keyof Config]?: never },
): (env?: Env) => Readonly<Config> & ConfigValues<S> {
  const load: (env?: Env) => ConfigValues<S> = defineConfig<S>(spec);
  return (env = process.env) => {
    const extended: Readonly<Config> & ConfigValues<S> = { ...loadConfig(env), ...load(env) };
    Object.freeze(extended);
    return extended;
  };
}

/** Exit code for a bad configuration (sysexits' EX_CONFIG), as `node dist/main.js` uses. */
export const EX_CONFIG = 78;

/**
 * Runs `load`; on a {@link ConfigError}, writes `configuration error: <line>` to stderr and exits
 * with {@link EX_CONFIG}, as the service's own entry point does.
 */
export function configOrExit<T>(load: (env?: Env) => T, env: Env = process.env): T {
  try {
    return load(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`configuration error: ${error.message}\n`);
      process.exit(EX_CONFIG);
    }
    throw error;
  }
}
