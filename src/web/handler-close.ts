import type { ServerResponse } from 'node:http';
import { RequestAborted } from './errors.js';
import { handlerInfoOf } from './handler-info.js';
import {
  CLOSE_WATCHED,
  extrasOf,
  type HandlerCore,
  kAborted,
  kExtras,
  kFinished,
  kFlags,
  SHUTDOWN_BITS,
  SHUTDOWN_DELIVERED,
  SHUTDOWN_DRAINING,
  SHUTDOWN_VERB_RAN,
} from './handler-state.js';

// Close and shutdown tracking around the lifecycle (handler-run.ts): the response's `close`, the
// handler's `signal`, and `onShutdown` when the server drains.

const kHandler = Symbol('handler');

function onResponseClose(this: ServerResponse): void {
  connectionClosed((this as ServerResponse & { [kHandler]: HandlerCore })[kHandler]);
}

/** Listens for the response's `close` (once per handler): for `onConnectionClose`, observers. */
export function watchClose(h: HandlerCore): void {
  if ((h[kFlags] & CLOSE_WATCHED) !== 0) return;
  h[kFlags] |= CLOSE_WATCHED;
  const res = h.response as ServerResponse & { [kHandler]: unknown };
  res[kHandler] = h;
  // Each fires at most once per response: `on` spares `once`'s wrapper.
  res.on('close', onResponseClose);
}

/** The handler's `signal`, its controller made on first use. */
export function signalOf(h: HandlerCore): AbortSignal {
  const extras = extrasOf(h);
  let controller = extras.controller;
  if (controller === null) {
    controller = new AbortController();
    extras.controller = controller;
    if (h[kAborted] || h.response.destroyed) {
      controller.abort(new RequestAborted('disconnect'));
    } else if (h.application.draining) {
      controller.abort(new RequestAborted('shutdown'));
    } else {
      watchClose(h);
      h.application.trackAbortable(h);
    }
  }
  return controller.signal;
}

/** Called once when the response closes, finished or not. */
function connectionClosed(h: HandlerCore): void {
  const controller = h[kExtras]?.controller ?? null;
  if (controller !== null || handlerInfoOf(h).watchesShutdown) {
    h.application.untrackAbortable(h);
  }
  // A reset connection counts too: node:http calls a response finished (`writableFinished`,
  // `finish`) once its socket has dropped the bytes it could not deliver.
  const res = h.response;
  if ((!res.writableFinished || h.request.socket.errored !== null) && !h[kAborted]) {
    // Cut off by the server after an error (the headers were out): not the client leaving.
    if (h.error === undefined) h[kAborted] = true;
    controller?.abort(new RequestAborted('disconnect'));
    try {
      h.onConnectionClose();
    } catch (error) {
      h.logException(error);
    }
  }
  notifyFinished(h);
}

export function notifyFinished(h: HandlerCore): void {
  const observers = h.application.finishObservers;
  if (observers !== null) h.application.notify(observers, h, 'request observer failed');
}

/** The server is draining: aborts the request's signal, calls `onShutdown` when due. */
export function abortForShutdown(h: HandlerCore): void {
  h[kExtras]?.controller?.abort(new RequestAborted('shutdown'));
  h[kFlags] |= SHUTDOWN_DRAINING;
  deliverShutdown(h);
}

/** Calls onShutdown once the verb method has run and the server drains, if still unfinished. */
export function deliverShutdown(h: HandlerCore): void {
  const state = h[kFlags];
  if ((state & SHUTDOWN_BITS) !== (SHUTDOWN_VERB_RAN | SHUTDOWN_DRAINING) || h[kFinished]) return;
  if (!handlerInfoOf(h).watchesShutdown) return;
  h[kFlags] = state | SHUTDOWN_DELIVERED;
  try {
    h.onShutdown();
  } catch (error) {
    h.logException(error);
  }
}
