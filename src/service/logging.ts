import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';
import { BufferedFdDestination } from './log-destination.js';

/** Headers that never reach a log line, wherever they appear in the logged object. */
export const REDACTED_HEADERS = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: 'json' | 'pretty';
  readonly service: string;
  readonly version: string;
  /** Extra header names to redact (lower case). */
  readonly redactHeaders?: readonly string[];
  /** Extra fields on every line (the cluster adds the worker id). */
  readonly base?: Readonly<Record<string, unknown>>;
  /** Where lines go; default stdout. Its `write` is called synchronously with each line. */
  readonly destination?: DestinationStream;
  /** Environment to read the Kubernetes downward-API variables from. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const CENSOR = '[Redacted]';

/**
 * Removes the values of sensitive headers from a serialised log line wherever they are: under a key
 * of that name in any case and at any depth (`headers`, `req`, `res`, an error's `config.headers`
 * or `response.config.headers`…), after the name in a flat `[name, value, …]` list (`rawHeaders`)
 * and in raw header text (`Name: value` lines). A line that mentions none of the names (nearly
 * every line) costs one regular-expression test; pino's path-based `redact` would cost every line
 * far more, and misses other spellings and depths. Runs synchronously on every line pino writes
 * (its `streamWrite` hook).
 */
export function lineCensor(names: readonly string[]): (line: string) => string {
  const set = new Set(names.map((name) => name.toLowerCase()));
  const alternation = [...set].map((name) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const mention = new RegExp(alternation, 'i');
  const headerText = new RegExp(`(^|\\n)(${alternation})([ \\t]*:)[^\\r\\n]*`, 'gi');
  const scrub = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') {
      return mention.test(value) ? value.replace(headerText, `$1$2$3 ${CENSOR}`) : value;
    }
    if (value === null || typeof value !== 'object') return value;
    if (depth > 64) return CENSOR;
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (typeof item === 'string' && set.has(item.toLowerCase()) && i + 1 < value.length) {
          value[++i] = CENSOR;
        } else {
          value[i] = scrub(item, depth + 1);
        }
      }
      return value;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      record[key] = set.has(key.toLowerCase()) ? CENSOR : scrub(record[key], depth + 1);
    }
    return record;
  };
  return (line) => {
    if (!mention.test(line)) return line;
    const eol = line.endsWith('\r\n') ? '\r\n' : '\n';
    return JSON.stringify(scrub(JSON.parse(line), 0)) + eol;
  };
}

/** Serialises an incoming request for a log line without any header that could carry secrets. */
export function requestSerializer(
  redacted: ReadonlySet<string>,
): (req: IncomingMessage) => Record<string, unknown> {
  return (req) => {
    const headers: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(req.headers ?? {})) {
      headers[name] = redacted.has(name) ? '[Redacted]' : value;
    }
    return { method: req.method, url: req.url, headers };
  };
}

/**
 * The service's pino logger: JSON lines on stdout (synchronous writes, so nothing is lost at exit), with the
 * service name, version, pid and, when the downward-API variables are set, the pod, namespace and
 * node on every line. Sensitive headers are redacted wherever they appear.
 */
export function createLogger(options: LoggerOptions): Logger {
  const env = options.env ?? process.env;
  const headers = [...REDACTED_HEADERS, ...(options.redactHeaders ?? [])].map((h) =>
    h.toLowerCase(),
  );
  const base: Record<string, unknown> = {
    service: options.service,
    version: options.version,
    pid: process.pid,
  };
  if (env.POD_NAME) base.pod = env.POD_NAME;
  if (env.POD_NAMESPACE) base.namespace = env.POD_NAMESPACE;
  if (env.NODE_NAME) base.node = env.NODE_NAME;
  Object.assign(base, options.base);
  const redactedSet = new Set(headers);
  let destination = options.destination ?? bufferedStdout();
  if (options.format === 'pretty' && options.destination === undefined) {
    destination = prettyStream() ?? destination;
  }
  const censor = lineCensor(headers);
  const logger = pino(
    {
      level: options.level,
      base,
      hooks: { streamWrite: censor },
      serializers: {
        err: pino.stdSerializers.err,
        error: pino.stdSerializers.err,
        req: requestSerializer(redactedSet),
      },
      timestamp: isoTime,
    },
    destination,
  );
  const bindings = Object.entries(base)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`)
    .join('');
  // The access line's fixed fields cannot hold a header (see access-log.ts): only base fields could.
  const sample = `{"level":30${bindings}}\n`;
  if (censor(sample) === sample) directLines.set(logger, { bindings, destination });
  return logger;
}

/** Where the access log writes its lines itself, for loggers made by {@link createLogger}. */
export interface DirectLines {
  /** pino's rendering of the base fields: `,"service":"…","version":"…",…`. */
  readonly bindings: string;
  readonly destination: DestinationStream;
}

const directLines = new WeakMap<Logger, DirectLines>();

/**
 * Where the access log may write its lines itself for `logger`: `undefined` unless the logger was
 * made by {@link createLogger} and its base fields pass the censor untouched.
 */
export function directLinesOf(logger: Logger): DirectLines | undefined {
  return directLines.get(logger);
}

/** stdout for the logs: see {@link BufferedFdDestination}; written out when the process exits. */
function bufferedStdout(): DestinationStream {
  const stream = new BufferedFdDestination(1);
  process.once('exit', () => flushSyncQuietly(stream));
  return stream;
}

function flushSyncQuietly(stream: { flushSync?: () => void }): void {
  try {
    stream.flushSync?.();
  } catch {
    // stdout already closed: nothing left to write to
  }
}

/**
 * Writes out whatever the logger's destination still buffers: synchronously for the service's
 * stdout (done when this returns), else through the destination's own `flush` (bounded to 1 s).
 */
export function flushLogs(logger: Logger): Promise<void> {
  const stream = (logger as unknown as Record<symbol, { flushSync?: () => void }>)[
    pino.symbols.streamSym
  ];
  if (typeof stream?.flushSync === 'function') {
    flushSyncQuietly(stream);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

let cachedSecond = -1;
let cachedPrefix = '';

/**
 * pino's `time` field as ISO 8601 (UTC, milliseconds), formatted from a prefix cached per second:
 * `new Date().toISOString()` on every line cost about 3 % of a hello-world request.
 */
export function isoTime(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedPrefix = `,"time":"${new Date(second * 1000).toISOString().slice(0, 20)}`;
  }
  const ms = now - second * 1000;
  return `${cachedPrefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
}

/** pino-pretty, a development dependency: absent in the production image, where JSON is used. */
function prettyStream(): DestinationStream | null {
  try {
    const require = createRequire(import.meta.url);
    const pretty = require('pino-pretty') as (opts: object) => DestinationStream;
    return pretty({ colorize: process.stdout.isTTY === true, sync: true });
  } catch {
    process.stderr.write('LOG_FORMAT=pretty needs pino-pretty (a dev dependency); logging JSON\n');
    return null;
  }
}

/**
 * 48 random bits as 8 base64url characters, from `Math.random` (which V8 seeds from the system's
 * entropy in every process): ids must be unique, not secret, and `node:crypto` is not loaded at
 * start-up for this alone (src/web/builtins.ts).
 */
function randomPrefix(): string {
  const bytes = Buffer.allocUnsafe(6);
  bytes.writeUIntBE(Math.floor(Math.random() * 2 ** 48), 0, 6);
  return bytes.toString('base64url');
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Makes request ids (the `requestId` setting of an application: called synchronously once per
 * request, before its handler runs): the client's `X-Request-Id` when it is 1–128 characters of
 * `[A-Za-z0-9._-]`, otherwise a new id: a random per-process prefix and a counter, so ids are
 * unique across workers and cheap to make.
 */
export function requestIdGenerator(): (req: IncomingMessage) => string {
  const prefix = randomPrefix();
  let counter = 0;
  return (req) => {
    const incoming = req.headers['x-request-id'];
    if (typeof incoming === 'string' && REQUEST_ID.test(incoming)) return incoming;
    counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
    return `${prefix}-${counter.toString(36)}`;
  };
}
