import { ConfigError, type Env, variable, withoutPassword } from './config-variables.js';

export { ConfigError } from './config-variables.js';

/** The service's configuration, read once from the environment at start-up. */
export interface Config {
  readonly port: number;
  /** Listen address; `undefined` means all interfaces. */
  readonly host: string | undefined;
  /** Second listener for probes and metrics, if set. */
  readonly adminPort: number | undefined;
  /** `auto`, or a fixed number of worker processes (1 = no cluster primary). */
  readonly workers: 'auto' | number;
  readonly logLevel: LogLevel;
  readonly logFormat: 'json' | 'pretty';
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  /** A cluster worker not ready this long after its fork is killed, as a start-up failure. */
  readonly workerStartupTimeoutMs: number;
  readonly maxBodyBytes: number;
  /**
   * `redis://` or `rediss://` URL of the Redis that holds the chat (`undefined`: the chat lives in
   * the process). It may carry a password: never log it.
   */
  readonly redisUrl: string | undefined;
  /** First part of every Redis key, so that several services can share one Redis. */
  readonly redisKeyPrefix: string;
  /** OpenTelemetry span export (`OTEL_*`), or `undefined` when no endpoint is set. */
  readonly tracing?: TracingConfig | undefined;
}

/** The standard `OTEL_TRACES_SAMPLER` values. */
export const TRACE_SAMPLERS = [
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
  'always_on',
  'always_off',
  'traceidratio',
] as const;

/** Span export, from the standard `OTEL_*` variables. */
export interface TracingConfig {
  /** Where spans are posted: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `…_ENDPOINT` + `/v1/traces`. */
  readonly url: string;
  readonly protocol: 'http/protobuf' | 'http/json';
  /** `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,…`, values percent-decoded). May hold secrets. */
  readonly headers: Readonly<Record<string, string>>;
  /** `OTEL_SERVICE_NAME`; `undefined`: the package name. */
  readonly serviceName: string | undefined;
  readonly sampler: (typeof TRACE_SAMPLERS)[number];
  /** `OTEL_TRACES_SAMPLER_ARG`: the ratio of the `…traceidratio` samplers (default 1). */
  readonly samplerRatio: number;
  /** `OTEL_BSP_SCHEDULE_DELAY`: the longest a finished span waits for its batch (default 5000). */
  readonly scheduleDelayMs: number;
}

/** pino's levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  return variable.integer(name, { default: fallback, min, max }).read(env);
}

function oneOf<T extends string>(env: Env, name: string, fallback: T, allowed: readonly T[]): T {
  return variable.oneOf(name, allowed, fallback).read(env);
}

const MAX_MS = 2_147_483_647; // the largest delay a Node timer accepts

const REDIS_URL_FORM = 'redis://[user:password@]host[:port][/db] or rediss://… (TLS)';

function redisUrl(env: Env): string | undefined {
  const raw = env.REDIS_URL;
  if (raw === undefined || raw.trim() === '') return undefined;
  const value = raw.trim();
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // The value may hold a password: the message names the variable and the form, not the value.
    throw new ConfigError('REDIS_URL', withoutPassword(value), REDIS_URL_FORM);
  }
  const database = url.pathname === '' || url.pathname === '/' ? '0' : url.pathname.slice(1);
  if (
    (url.protocol !== 'redis:' && url.protocol !== 'rediss:') ||
    url.hostname === '' ||
    !/^\d{1,5}$/.test(database) ||
    url.search !== '' ||
    url.hash !== ''
  ) {
    throw new ConfigError('REDIS_URL', withoutPassword(value), REDIS_URL_FORM);
  }
  return value;
}

function keyPrefix(env: Env): string {
  const raw = env.REDIS_KEY_PREFIX;
  if (raw === undefined || raw.trim() === '') return 'tornode';
  const value = raw.trim();
  // No braces: they would change the keys' hash tag, and with it the Redis Cluster slot.
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(value)) {
    throw new ConfigError('REDIS_KEY_PREFIX', raw, '1 to 64 of A-Z a-z 0-9 _ . : -');
  }
  return value;
}

function otlpUrl(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const url = URL.parse(raw.trim());
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new ConfigError(name, withoutPassword(raw), 'an http:// or https:// URL');
  }
  return url.href;
}

function tracingConfig(env: Env): TracingConfig | undefined {
  const traces = otlpUrl(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const base = otlpUrl(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (traces === undefined && base === undefined) return undefined;
  const headers: Record<string, string> = {};
  for (const pair of (env.OTEL_EXPORTER_OTLP_HEADERS ?? '').split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    let value: string | undefined;
    try {
      value = eq > 0 ? decodeURIComponent(pair.slice(eq + 1).trim()) : undefined;
    } catch {
      value = undefined;
    }
    // The value may hold a token: the message does not repeat it.
    if (value === undefined) {
      throw new ConfigError('OTEL_EXPORTER_OTLP_HEADERS', '…', 'key=value,… (percent-encoded)');
    }
    headers[pair.slice(0, eq).trim()] = value;
  }
  const rawRatio = env.OTEL_TRACES_SAMPLER_ARG?.trim() ?? '';
  const ratio = rawRatio === '' ? 1 : Number(rawRatio);
  if (!(ratio >= 0 && ratio <= 1)) {
    throw new ConfigError('OTEL_TRACES_SAMPLER_ARG', rawRatio, 'a number from 0 to 1');
  }
  return {
    url: traces ?? `${(base as string).replace(/\/$/, '')}/v1/traces`,
    protocol: oneOf(env, 'OTEL_EXPORTER_OTLP_PROTOCOL', 'http/protobuf', [
      'http/protobuf',
      'http/json',
    ] as const),
    headers,
    serviceName: env.OTEL_SERVICE_NAME?.trim() || undefined,
    sampler: oneOf(env, 'OTEL_TRACES_SAMPLER', 'parentbased_always_on', TRACE_SAMPLERS),
    samplerRatio: ratio,
    scheduleDelayMs: integer(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000, 0, MAX_MS),
  };
}

/**
 * Parses every variable of the service contract. Throws a {@link ConfigError} for the first bad
 * value, before anything listens.
 */
export function loadConfig(env: Env = process.env): Readonly<Config> {
  const port = integer(env, 'PORT', 8080, 0, 65535);
  const rawAdmin = env.ADMIN_PORT;
  const adminPort =
    rawAdmin === undefined || rawAdmin.trim() === ''
      ? undefined
      : integer(env, 'ADMIN_PORT', 0, 0, 65535);
  const rawWorkers = env.WORKERS?.trim().toLowerCase();
  let workers: 'auto' | number = 'auto';
  if (rawWorkers !== undefined && rawWorkers !== '' && rawWorkers !== 'auto') {
    if (!/^\d+$/.test(rawWorkers) || Number(rawWorkers) < 1 || Number(rawWorkers) > 1024) {
      throw new ConfigError('WORKERS', env.WORKERS ?? '', '"auto" or an integer from 1 to 1024');
    }
    workers = Number(rawWorkers);
  }
  if (adminPort !== undefined && adminPort !== 0 && adminPort === port) {
    throw new ConfigError('ADMIN_PORT', rawAdmin ?? '', `a port other than PORT (${port})`);
  }
  const host = env.HOST?.trim() ? env.HOST.trim() : undefined;
  const inKubernetes = (env.KUBERNETES_SERVICE_HOST ?? '') !== '';
  return Object.freeze({
    port,
    host,
    adminPort,
    workers,
    logLevel: oneOf(env, 'LOG_LEVEL', 'info', LOG_LEVELS),
    logFormat: oneOf(env, 'LOG_FORMAT', 'json', ['json', 'pretty'] as const),
    shutdownDelayMs: integer(env, 'SHUTDOWN_DELAY_MS', inKubernetes ? 5000 : 0, 0, MAX_MS),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0, MAX_MS),
    // 0 would make Node never time idle keep-alive sockets out.
    keepAliveTimeoutMs: integer(env, 'KEEP_ALIVE_TIMEOUT_MS', 65_000, 1, MAX_MS),
    workerStartupTimeoutMs: integer(env, 'WORKER_STARTUP_TIMEOUT_MS', 30_000, 100, MAX_MS),
    maxBodyBytes: integer(env, 'MAX_BODY_BYTES', 1_048_576, 0, Number.MAX_SAFE_INTEGER),
    redisUrl: redisUrl(env),
    redisKeyPrefix: keyPrefix(env),
    tracing: tracingConfig(env),
  });
}
