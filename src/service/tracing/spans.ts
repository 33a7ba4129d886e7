/**
 * One SERVER span per request, from the framework's observer events: started with the request's
 * own trace context (so the span's ids are the ones in the logs), ended when the response is
 * complete (for a long poll when its answer is sent, for a WebSocket at the 101).
 */
import {
  type Attributes,
  type Context,
  createTraceState,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import {
  type RequestHandler,
  type RequestObserver,
  randomHexId,
  type TraceContext,
} from '../../web/index.js';

/** The methods semantic conventions name as they are; any other is `_OTHER`. */
const KNOWN_METHODS = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
]);

const kSpan = Symbol('span');
type WithSpan = RequestHandler<unknown> & { [kSpan]?: Span | undefined };

/**
 * Hands the SDK the ids the request already has (its trace id when it starts the trace, its
 * server span id), so that the exported span is the one the log lines name. `startSpan` is
 * synchronous: `next` is set just around it.
 */
export class RequestIds implements IdGenerator {
  next: TraceContext | null = null;

  generateTraceId(): string {
    return this.next?.traceId ?? randomHexId(16);
  }

  generateSpanId(): string {
    return this.next?.spanId ?? randomHexId(8);
  }
}

/** The parent context of a request's span: the caller's span, or none. */
function parentOf(ctx: TraceContext): Context {
  if (ctx.parentId === null) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, {
    traceId: ctx.traceId,
    spanId: ctx.parentId,
    traceFlags: ctx.traceFlags,
    isRemote: true,
    ...(ctx.traceState === undefined ? {} : { traceState: createTraceState(ctx.traceState) }),
  });
}

/** `server.address` and `server.port` from the `Host` header, else the socket. */
function serverOf(handler: RequestHandler<unknown>): [string | undefined, number | undefined] {
  const host = handler.request.headers.host;
  if (host !== undefined && host !== '') {
    const colon = host.lastIndexOf(':');
    const hasPort = colon > host.lastIndexOf(']');
    const name = hasPort ? host.slice(0, colon) : host;
    const port = hasPort ? Number(host.slice(colon + 1)) : handler.protocol === 'https' ? 443 : 80;
    // An IPv6 literal is `[::1]` in the header, `::1` in the attribute.
    const address = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
    return [address, Number.isInteger(port) ? port : undefined];
  }
  const socket = handler.request.socket;
  return [socket.localAddress, socket.localPort];
}

/** What a sampled request's span says from the start (the sampler sees none of it). */
function startAttributes(handler: RequestHandler<unknown>, known: boolean): Attributes {
  const [address, port] = serverOf(handler);
  const headers = handler.request.headers;
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: known ? handler.method : '_OTHER',
    [ATTR_URL_PATH]: handler.path,
    [ATTR_URL_SCHEME]: handler.protocol,
    [ATTR_SERVER_ADDRESS]: address,
    [ATTR_SERVER_PORT]: port,
    [ATTR_CLIENT_ADDRESS]: handler.remoteIp,
    [ATTR_NETWORK_PROTOCOL_VERSION]: handler.request.httpVersion,
  };
  if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = handler.method;
  if (handler.route !== null) attributes[ATTR_HTTP_ROUTE] = handler.route.pattern;
  if (headers['user-agent'] !== undefined) {
    attributes[ATTR_USER_AGENT_ORIGINAL] = headers['user-agent'];
  }
  return attributes;
}

/**
 * The observer that makes the spans. Its `requestStarted` lets the sampler decide and writes the
 * decision into the request's trace flags, so the logs and outgoing `traceparent` say it.
 */
export class SpanObserver implements RequestObserver {
  constructor(
    private readonly tracer: Tracer,
    private readonly ids: RequestIds,
  ) {}

  requestStarted(handler: RequestHandler<unknown>): void {
    const ctx = handler.traceContext;
    const known = KNOWN_METHODS.has(handler.method);
    const method = known ? handler.method : 'HTTP';
    const name = handler.route === null ? method : `${method} ${handler.route.pattern}`;
    this.ids.next = ctx;
    let span: Span;
    try {
      span = this.tracer.startSpan(name, { kind: SpanKind.SERVER }, parentOf(ctx));
    } finally {
      this.ids.next = null;
    }
    ctx.traceFlags = span.spanContext().traceFlags;
    if (!span.isRecording()) return;
    span.setAttributes(startAttributes(handler, known));
    (handler as WithSpan)[kSpan] = span;
  }

  requestFinished(handler: RequestHandler<unknown>): void {
    const span = (handler as WithSpan)[kSpan];
    if (span === undefined) return;
    (handler as WithSpan)[kSpan] = undefined;
    const status = handler.isAborted ? undefined : handler.status;
    if (status !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    const error = handler.error;
    if (error !== undefined && (status === undefined || status >= 500)) {
      span.recordException(error instanceof Error ? error : String(error));
    }
    if (status === undefined) {
      span.setAttribute(ATTR_ERROR_TYPE, 'aborted');
    } else if (status >= 500) {
      span.setAttribute(ATTR_ERROR_TYPE, String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}
