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
import { type Config, loadConfig } from './config.js';
import { ConfigError, type Env, type Variable } from './config-variables.js';

export { type Variable, variable } from './config-variables.js';

/** The values a set of variables gives, by the keys they were declared under. */
export type ConfigValues<S extends Record<string, Variable<unknown>>> = {
  readonly [K in keyof S]: S[K] extends Variable<infer T> ? T : never;
};

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
