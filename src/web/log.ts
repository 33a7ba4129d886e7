/**
 * The logging seam of the web layer. `web/` never imports a logging library: an application is
 * given any object of this shape (a pino logger fits as is), and falls back to {@link stderrLogger}.
 */
export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  /** Returns a logger that adds `bindings` to every line (pino's `child`). */
  child?(bindings: Record<string, unknown>): Logger;
}

function write(level: string, obj: object, msg?: string): void {
  const line: Record<string, unknown> = { level, time: Date.now(), msg };
  for (const [key, value] of Object.entries(obj)) {
    line[key] =
      value instanceof Error
        ? { type: value.name, message: value.message, stack: value.stack }
        : value;
  }
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

/**
 * The default logger: warnings and errors as JSON lines on stderr, nothing else. Good enough for
 * tests and small tools; services pass a real logger.
 */
export const stderrLogger: Logger = {
  error: (obj, msg) => write('error', obj, msg),
  warn: (obj, msg) => write('warn', obj, msg),
  info: () => {},
  debug: () => {},
};

/** What a request's logger carries: its id and its trace context (read only if it is used). */
export interface LogSubject {
  readonly requestId: string;
  readonly traceContext: { traceId: string; spanId: string; traceFlagsHex: string };
}

/**
 * A request's logger: `base`'s child with the request id (when there is one) and the trace
 * context's `trace_id`, `span_id` and `trace_flags`; `base` itself when it makes no children.
 */
export function requestLogger(base: Logger, subject: LogSubject): Logger {
  if (!base.child) return base;
  const trace = subject.traceContext;
  const fields: Record<string, unknown> = {};
  if (subject.requestId !== '') fields.reqId = subject.requestId;
  fields.trace_id = trace.traceId;
  fields.span_id = trace.spanId;
  fields.trace_flags = trace.traceFlagsHex;
  return base.child(fields);
}
