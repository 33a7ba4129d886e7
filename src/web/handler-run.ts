import { decodePathArgument } from './arguments.js';
import { isAuthenticated, requireUser } from './auth.js';
import { hasRequestBody, readBody } from './body.js';
import { answerPreflight, isPreflight } from './cors.js';
import { Finish, HttpError, RequestAborted } from './errors.js';
import { deliverShutdown, notifyFinished, watchClose } from './handler-close.js';
import { type HandlerInfo, handlerInfoOf, staticsOf, type Verb } from './handler-info.js';
import { applyDefaultHeaders } from './handler-output.js';
import {
  CLOSE_WATCHED,
  extrasOf,
  type HandlerCore,
  HELD,
  INPUT_DROPPED,
  kAborted,
  kBodyState,
  kExtras,
  kFinished,
  kFlags,
  kInput,
  kRawBody,
  SHUTDOWN_BITS,
  SHUTDOWN_DRAINING,
  SHUTDOWN_VERB_RAN,
} from './handler-state.js';
import { isMultipart, parseMultipart } from './multipart.js';
import { validateRequest } from './schema/validate.js';
import { streamBody } from './streaming-body.js';
import { isThenable } from './thenable.js';
import { needsXsrfCheck } from './xsrf.js';

// The lifecycle runner: from a new handler to its verb method and on to `onFinish` (the close
// and shutdown tracking around it: handler-close.ts). Every step either goes on synchronously or
// hands over to a promise; anything thrown or rejected ends in `handleError`.

type VerbFunction = (this: HandlerCore, ...args: string[]) => unknown;

/** Runs a request through the lifecycle (called by the application once per request). */
export function execute(h: HandlerCore, options: unknown, rawArgs: readonly string[]): void {
  const info = handlerInfoOf(h);
  if (info.watchesClose) watchClose(h);
  if (info.watchesShutdown) {
    if (h.application.draining) {
      h[kFlags] |= SHUTDOWN_DRAINING;
    } else {
      h.application.trackAbortable(h);
      watchClose(h); // to untrack it
    }
  }
  start(h, options, rawArgs, info);
  if (!h.application.observed || (h[kFlags] & CLOSE_WATCHED) !== 0) return;
  // Observers hear of a request once its response is complete. Most responses are finished and
  // wholly handed to the kernel before the listener returns: tell the observers now, without a
  // `close` listener per request. Otherwise (an async handler, a body still buffered, a
  // pipelined response waiting its turn), when the response closes.
  const res = h.response;
  if (h[kFinished] && res.writableEnded && res.writableLength === 0) notifyFinished(h);
  else watchClose(h);
}

function start(h: HandlerCore, options: unknown, rawArgs: readonly string[], info: HandlerInfo) {
  try {
    const cors = h.application.settings.cors;
    if (cors !== null && h.route !== null && isPreflight(h.request)) {
      if (h.requestId !== '') h.response.setHeader('X-Request-Id', h.requestId);
      answerPreflight(h.request, h.response, cors);
      h[kFinished] = true;
      return;
    }
    applyDefaultHeaders(h);
    h.initialize(options);
    if (rawArgs.length > 0) h.pathArgs = rawArgs.map(decodePathArgument);
    const verb = info.verbs.get(h.method);
    if (verb === undefined) {
      answerWithoutVerb(h, info);
      return;
    }
    if (isAuthenticated(h[verb])) {
      authenticateThenReceive(h, verb, info);
      return;
    }
    receiveBody(h, verb, info);
  } catch (error) {
    handleError(h, error);
  }
}

// The promise continuations live in functions of their own, here and below: a function whose
// variables a closure captures allocates a context for them on every call, even on the path that
// makes no closure (every request, for the synchronous path through start, runPrepare, runVerb).
function authenticateThenReceive(h: HandlerCore, verb: Verb, info: HandlerInfo): void {
  requireUser(h).then(
    (allowed) => {
      if (allowed) receiveBody(h, verb, info);
    },
    (error: unknown) => handleError(h, error),
  );
}

function receiveBody(h: HandlerCore, verb: Verb, info: HandlerInfo): void {
  try {
    const req = h.request;
    if (info.readsBody && hasRequestBody(req)) {
      h[kBodyState] = 'unread';
      if (info.streamsBody) {
        runPrepare(h, verb); // the body is streamed once prepare has had its say on the limit
        return;
      }
      readBodyThen(h, verb);
      return;
    }
    runPrepare(h, verb);
  } catch (error) {
    handleError(h, error);
  }
}

function readBodyThen(h: HandlerCore, verb: Verb): void {
  readBody(h.request, admitBody(h), (error, body) => {
    if (error === null) bodyRead(h, verb, body);
    else handleError(h, error);
  });
}

function bodyRead(h: HandlerCore, verb: Verb, body: Buffer): void {
  try {
    h[kRawBody] = body;
    h[kBodyState] = 'read';
    if (!isMultipart(h.request.headers['content-type'])) {
      runPrepare(h, verb);
      return;
    }
    parseMultipartThen(h, verb, body);
  } catch (error) {
    handleError(h, error); // nothing may escape into the request's `end` event
  }
}

function parseMultipartThen(h: HandlerCore, verb: Verb, body: Buffer): void {
  parseMultipart(body, h.request.headers, h.application.settings.multipart).then(
    (form) => {
      const extras = extrasOf(h);
      extras.bodyArgs = form.fields;
      extras.uploads = form.files;
      runPrepare(h, verb);
    },
    (error: unknown) => handleError(h, error),
  );
}

/** The body limit in force; sends `100 Continue` when the client waits for it and fits. */
function admitBody(h: HandlerCore): number {
  const set = h[kExtras]?.bodyLimit ?? -1;
  const limit = set >= 0 ? set : (staticsOf(h).maxBodyBytes ?? h.application.settings.maxBodyBytes);
  const req = h.request;
  const length = req.headers['content-length'];
  if (
    req.headers.expect?.toLowerCase() === '100-continue' &&
    !(length !== undefined && Number(length) > limit)
  ) {
    h.response.writeContinue();
  }
  return limit;
}

function answerWithoutVerb(h: HandlerCore, info: HandlerInfo): void {
  if (h.method === 'OPTIONS') {
    h.setStatus(204);
    h.setHeader('Allow', info.allow);
    h.finish();
    return;
  }
  throw new HttpError(405, `${h.method} is not allowed here`, {
    headers: { Allow: info.allow },
  });
}

function runPrepare(h: HandlerCore, verb: Verb): void {
  try {
    if (h.application.settings.xsrfCookies && needsXsrfCheck(h.method)) {
      h.checkXsrfCookie();
    }
    const prepared = h.prepare();
    if (isThenable(prepared)) {
      afterPrepareSettles(h, verb, prepared);
      return;
    }
    afterPrepare(h, verb);
  } catch (error) {
    handleError(h, error);
  }
}

function afterPrepareSettles(h: HandlerCore, verb: Verb, prepared: PromiseLike<unknown>): void {
  prepared.then(
    () => afterPrepare(h, verb),
    (error: unknown) => handleError(h, error),
  );
}

/** Runs the verb; for a class that streams its body, once the body has gone to `dataReceived`. */
function afterPrepare(h: HandlerCore, verb: Verb): void {
  if (h[kBodyState] !== 'unread' || h[kFinished]) {
    runVerb(h, verb);
    return;
  }
  streamBodyThenRun(h, verb);
}

function streamBodyThenRun(h: HandlerCore, verb: Verb): void {
  const limit = admitBody(h);
  h[kBodyState] = 'streaming';
  streamBody(h.request, limit, (chunk) => h.dataReceived(chunk)).then(
    () => {
      h[kBodyState] = 'read';
      runVerb(h, verb);
    },
    (error: unknown) => handleError(h, error),
  );
}

function runVerb(h: HandlerCore, verb: Verb): void {
  if (h[kFinished]) return;
  try {
    const schemas = handlerInfoOf(h).schemas;
    const schema = schemas === null ? undefined : schemas.get(verb);
    if (schema !== undefined) h[kInput] = validateRequest(h, schema);
    const fn = h[verb] as VerbFunction;
    const args = h.pathArgs;
    h[kFlags] |= SHUTDOWN_VERB_RAN;
    const result = args.length === 0 ? fn.call(h) : fn.apply(h, args as string[]);
    const state = h[kFlags] & SHUTDOWN_BITS;
    if (state === (SHUTDOWN_VERB_RAN | SHUTDOWN_DRAINING)) deliverShutdown(h);
    if (isThenable(result)) {
      autoFinishSettles(h, result);
      return;
    }
    autoFinish(h);
  } catch (error) {
    handleError(h, error);
  }
}

function autoFinishSettles(h: HandlerCore, result: PromiseLike<unknown>): void {
  result.then(
    () => autoFinish(h),
    (error: unknown) => handleError(h, error),
  );
}

function autoFinish(h: HandlerCore): void {
  if (h[kFinished]) return;
  if ((h[kFlags] & HELD) !== 0) {
    // The verb returned with the request held: what it validated goes, as it would with a
    // promise's closure; `input()` validates again if asked (see INPUT_DROPPED).
    if (h[kInput] !== null) {
      h[kInput] = null;
      h[kFlags] |= INPUT_DROPPED;
    }
    return;
  }
  try {
    h.finish();
  } catch (error) {
    handleError(h, error);
  }
}

/** `holdRequest()`: the lifecycle leaves the response unfinished when the verb method returns. */
export function startHold(h: HandlerCore): void {
  if (h[kFinished]) return;
  h[kFlags] |= HELD;
}

/**
 * `releaseRequest(error?)`: ends a hold. The response is finished unless it was (as when the verb
 * method returns); with an error, it is answered as one thrown by the verb method would be.
 */
export function endHold(h: HandlerCore, error?: unknown): void {
  h[kFlags] &= ~HELD;
  if (error === undefined) autoFinish(h);
  else handleError(h, error);
}

/** Turns anything thrown or rejected during the lifecycle into the right answer (or none). */
function handleError(h: HandlerCore, error: unknown): void {
  const res = h.response;
  try {
    if (error instanceof Finish) {
      if (!h[kFinished]) h.finish();
      return;
    }
    const aborted = abortCause(error);
    // A response destroyed before it was complete: the client left, nobody to answer. (Once
    // complete, Node marks it destroyed too; an error then is a bug to log, below.)
    const cutOff = res.destroyed && !res.writableFinished;
    // Once finished, any abort (the server draining included) leaves nothing to answer.
    if (aborted === 'disconnect' || h[kAborted] || cutOff || (aborted !== null && h[kFinished])) {
      h[kFinished] = true;
      return;
    }
    h.error = error;
    if (h[kFinished] || res.headersSent) {
      h.logException(error);
      h.sendError(500, error); // headers are out: this closes the connection
      return;
    }
    if (aborted === 'shutdown') {
      h.sendError(503, new HttpError(503, 'the server is shutting down'));
      return;
    }
    if (error instanceof HttpError) {
      h.sendError(error.status, error);
      return;
    }
    h.logException(error);
    h.sendError(500, error);
  } catch (failure) {
    // Last resort: never let an error escape into the event loop.
    h.application.logger.error({ err: failure }, 'error while handling an error');
    if (!res.headersSent && !res.destroyed) {
      res.statusCode = 500;
      res.end();
    } else {
      res.destroy();
    }
    h[kFinished] = true;
  }
}

function abortCause(error: unknown): 'disconnect' | 'shutdown' | null {
  let current: unknown = error;
  // An AbortError from an API given `signal` carries the signal's reason as its cause.
  for (let depth = 0; depth < 3 && current instanceof Error; depth++) {
    if (current instanceof RequestAborted) return current.kind;
    current = current.cause;
  }
  return null;
}
