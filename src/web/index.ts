export {
  Application,
  type ApplicationSettings,
  NotFoundHandler,
  type RequestObserver,
  type ResolvedSettings,
  type RouteEntry,
  type RouteSpec,
  url,
} from './application.js';
export type { Arguments } from './arguments.js';
export {
  type AbortCause,
  Finish,
  HttpError,
  type HttpErrorOptions,
  PROBLEM_CONTENT_TYPE,
  type ProblemDetails,
  problemFor,
  RequestAborted,
  statusTitle,
} from './errors.js';
export {
  type Chunk,
  HANDLER_METHODS,
  type HandlerClass,
  RequestHandler,
  type RouteTarget,
} from './handler.js';
export { type Logger, stderrLogger } from './log.js';
export { type CompiledRoute, type RouteMatch, Router } from './routing.js';
export { type CloseResult, HttpServer, type ServerOptions } from './server.js';
export { serve, type TestServer } from './testing.js';
