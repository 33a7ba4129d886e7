/**
 * The access log: one line per finished request and one per closed WebSocket. The common line is
 * rendered here directly (see {@link AccessLog.requestFinished}); everything else goes through pino.
 */
import type { Logger } from 'pino';
import type { RequestHandler, RequestObserver, WebSocketHandler } from '../web/index.js';
import { type DirectLines, directLinesOf, isoTime } from './logging.js';

/** Status code reported for a request whose client left before the response (nginx's 499). */
export const CLIENT_CLOSED_REQUEST = 499;

type AccessLevel = 'debug' | 'info' | 'warn' | 'error';

/** pino's numeric values of the levels an access line uses. */
const LEVEL_VALUES: Readonly<Record<AccessLevel, number>> = {
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
};

/** The end of a directly written line for a request whose client went away. */
const ABORTED_END = ',"aborted":true,"msg":"request aborted"}\n';
/** The end of a directly written line for every other request. */
const COMPLETED_END = ',"msg":"request completed"}\n';

/**
 * Characters a JSON string cannot hold as they are: control characters, quote, backslash, and
 * surrogates (a lone one is escaped by JSON.stringify).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** `value` as a JSON string: as it is between quotes when nothing needs escaping (nearly always). */
export function jsonString(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/**
 * One access log line per finished request: `reqId`, `method`, `url` (path), `route` (template),
 * `statusCode`, `responseTime` (ms), `bytes`; info below 400, warn for 4xx, error for 5xx (with the
 * error); requests to `quietRoutes` (probes, metrics) at debug. A request whose client went away is
 * logged with `aborted: true` and status 499. A WebSocket's handshake is logged as a 101 request,
 * and its end with one `websocket closed` line (`code`, `duration` in ms).
 *
 * An observer of the application (`app.addObserver`, done by `Service`): its methods are
 * synchronous, called by the framework as each event happens.
 */
export class AccessLog implements RequestObserver {
  private readonly direct: DirectLines | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly quietRoutes: ReadonlySet<string>,
  ) {
    this.direct = directLinesOf(logger);
  }

  /**
   * Runs once per request, synchronously: when the response is complete (handed wholly to the
   * kernel), or when the connection closed before it was.
   */
  requestFinished(handler: RequestHandler<unknown>): void {
    const route = handler.route?.pattern ?? null;
    const aborted = handler.isAborted;
    const statusCode = aborted ? CLIENT_CLOSED_REQUEST : handler.status;
    let level: AccessLevel;
    if (route !== null && this.quietRoutes.has(route)) level = 'debug';
    else if (statusCode >= 500 && !aborted) level = 'error';
    else if (statusCode >= 400) level = 'warn';
    else level = 'info';
    if (!this.logger.isLevelEnabled(level)) return;
    const responseTime = Math.round((performance.now() - handler.startTime) * 1000) / 1000;
    const withError = handler.error !== undefined && statusCode >= 500;
    const direct = this.direct;
    if (direct !== undefined && !withError) {
      // The line pino would write, without its generic serialiser (a third of a hello-world
      // request's cost): every field is a number, a validated request id, hex trace ids, an HTTP
      // method token, a route template or the request's path (no CR/LF), so no header can hide in it and the
      // censor has nothing to do. One concatenation, in pino's field order: level, time, the
      // logger's base fields, the request's fields, then msg.
      direct.destination.write(
        `{"level":${LEVEL_VALUES[level]}${isoTime()}${direct.bindings}` +
          `,"reqId":${jsonString(handler.requestId)}` +
          handler.traceLogFields() +
          `,"method":${jsonString(handler.method)}` +
          `,"url":${jsonString(handler.path)}` +
          `,"route":${route === null ? 'null' : jsonString(route)}` +
          `,"statusCode":${statusCode}` +
          `,"responseTime":${responseTime}` +
          `,"bytes":${handler.bytesWritten}` +
          (aborted ? ABORTED_END : COMPLETED_END),
      );
      return;
    }
    const trace = handler.traceContext;
    const line: Record<string, unknown> = {
      reqId: handler.requestId,
      trace_id: trace.traceId,
      span_id: trace.spanId,
      trace_flags: trace.traceFlagsHex,
      method: handler.method,
      url: handler.path,
      route,
      statusCode,
      responseTime,
      bytes: handler.bytesWritten,
    };
    if (aborted) line.aborted = true;
    if (withError) line.err = handler.error;
    this.logger[level](line, aborted ? 'request aborted' : 'request completed');
  }

  /**
   * A WebSocket (logged once as a 101 request when it opened) closed: its code and lifetime. Runs
   * once per socket, synchronously, after its `onClose`.
   */
  websocketClosed(handler: WebSocketHandler<unknown>): void {
    if (!this.logger.isLevelEnabled('info')) return;
    const trace = handler.traceContext;
    const line = {
      reqId: handler.requestId,
      trace_id: trace.traceId,
      span_id: trace.spanId,
      trace_flags: trace.traceFlagsHex,
      url: handler.path,
      route: handler.route?.pattern ?? null,
      code: handler.closeCode,
      duration: Math.round((performance.now() - handler.startTime) * 1000) / 1000,
    };
    this.logger.info(line, 'websocket closed');
  }
}
