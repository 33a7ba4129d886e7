export {
  Application,
  type ApplicationSettings,
  NotFoundHandler,
  type RouteEntry,
  type RouteSpec,
  url,
} from './application.js';
export type { Arguments } from './arguments.js';
export { authenticated } from './auth.js';
export {
  type CompressionOptions,
  type ContentCoding,
  DEFAULT_ASYNC_THRESHOLD,
  type EncodingChoice,
  isCompressible,
  negotiateEncoding,
  type ResolvedCompression,
} from './compression.js';
export { CONTENT_TYPES, contentTypeFor, DEFAULT_CONTENT_TYPE } from './content-types.js';
export {
  type ClearCookieOptions,
  type CookieOptions,
  type Cookies,
  isCookieName,
  parseCookieHeader,
  type SameSite,
  serializeCookie,
  serializeExpiredCookie,
} from './cookies.js';
export type { CorsOptions, CorsOrigin } from './cors.js';
export {
  type AbortCause,
  type CodedError,
  ERROR_CODES,
  type ErrorCode,
  Finish,
  HttpError,
  type HttpErrorOptions,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  problemFor,
  RequestAborted,
  statusTitle,
  WebSocketClosedError,
} from './errors.js';
export { bodyEtag, etagMatches } from './etag.js';
export { EventStream, type EventStreamOptions, type ServerSentEvent } from './event-stream.js';
export {
  type Chunk,
  HANDLER_METHODS,
  type HandlerClass,
  RequestHandler,
  type RouteTarget,
} from './handler.js';
export type { HandlerHost } from './handler-host.js';
export {
  ErrorHandler,
  type ErrorHandlerOptions,
  FallbackHandler,
  type FallbackOptions,
  type NodeListener,
  RedirectHandler,
  type RedirectOptions,
} from './handlers.js';
export { type Logger, stderrLogger } from './log.js';
export {
  type Files,
  type MultipartForm,
  type MultipartLimits,
  parseMultipart,
  type UploadedFile,
} from './multipart.js';
export type { RequestObserver } from './observers.js';
export { type CompiledRoute, type RouteMatch, Router } from './routing.js';
export * from './schema/index.js';
export { type CloseResult, HttpServer, type ServerOptions } from './server.js';
export type { ResolvedSettings } from './settings.js';
export {
  type CookieSecret,
  createSignedValue,
  decodeSignedValue,
  type GetSignedCookieOptions,
  type SignedCookieOptions,
  type SigningKeys,
  signingKeys,
} from './signed-cookies.js';
export {
  IMMUTABLE_CACHE_CONTROL,
  parseRange,
  StaticFileHandler,
  type StaticFileOptions,
} from './static-files.js';
export { streamBody } from './streaming-body.js';
export { serve, type TestServer } from './testing.js';
export {
  keptTracestate,
  newTraceFields,
  parseTraceparent,
  randomHexId,
  TRACE_FLAG_SAMPLED,
  TraceContext,
  type TraceParent,
} from './trace-context.js';
export { DEFAULT_MAX_MESSAGE_SIZE, WebSocketHandler } from './websocket/handler.js';
export { isWebSocketUpgrade } from './websocket/upgrade.js';
export { XSRF_COOKIE } from './xsrf.js';
