import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Arguments } from './arguments.js';
import type { AuthRequest } from './auth.js';
import type { CompressedStream } from './compression.js';
import type { Cookies } from './cookies.js';
import type { Abortable, HandlerHost } from './handler-host.js';
import type { Verb } from './handler-info.js';
import type { Logger } from './log.js';
import type { Files } from './multipart.js';
import type { SchemaSubject, ValidatedInput } from './schema/validate.js';

// The lifecycle's own state lives on each handler under these symbols: plain properties (no
// allocation beyond the handler itself, the same shape for every request), out of reach of a
// subclass's fields and methods, which could otherwise clobber them by name. `kFinished`,
// `kAborted` and `kBodyState` are bits of `kFlags`, read and written through accessors of
// `HandlerBase`: a slot of every handler each otherwise, which a held request keeps.

/** `finish` ran, or the request ended otherwise: nothing more is sent. */
export const kFinished: unique symbol = Symbol('finished');
/** The client went away before the response was finished. */
export const kAborted: unique symbol = Symbol('aborted');
/** Body chunks written and not yet flushed. */
export const kChunks: unique symbol = Symbol('chunks');
/**
 * The chunks of a handler that has written none, shared: a request held open keeps no array of
 * its own, and the first `write` makes one of the right size. Never pushed to (not frozen, which
 * would give the handlers' chunk lists two kinds of elements for V8 to tell apart).
 */
export const NO_CHUNKS: (string | Uint8Array)[] = [];
/** Where the request body is: see {@link BodyState}. */
export const kBodyState: unique symbol = Symbol('bodyState');
/** The buffered request body, once read. */
export const kRawBody: unique symbol = Symbol('rawBody');
/** The handler's rarely used state ({@link HandlerExtras}), or `null` until something needs it. */
export const kExtras: unique symbol = Symbol('extras');
/**
 * The lifecycle's flags, one number: {@link SHUTDOWN_VERB_RAN}, {@link SHUTDOWN_DRAINING} and
 * {@link SHUTDOWN_DELIVERED} (the shutdown's progress, {@link SHUTDOWN_BITS}), {@link HELD},
 * {@link CLOSE_WATCHED}, {@link INPUT_DROPPED}, {@link FINISHED}, {@link ABORTED} and the body
 * state ({@link BODY_BITS}). Bits of one number rather than a field each: a held request keeps it.
 */
export const kFlags: unique symbol = Symbol('lifecycleFlags');
/** The request as validated against its verb's schema, once it has been. */
export const kInput: unique symbol = Symbol('input');

export const SHUTDOWN_VERB_RAN = 1;
export const SHUTDOWN_DRAINING = 2;
export const SHUTDOWN_DELIVERED = 4;
/** `holdRequest()` and no `releaseRequest()` yet: the lifecycle does not finish the response. */
export const HELD = 8;
/** A `close` listener is on the response. */
export const CLOSE_WATCHED = 16;
/**
 * The verb method returned with the request held: its validated input was let go (a long poll
 * keeps no copy of its query); `input()` validates the request again if asked.
 */
export const INPUT_DROPPED = 32;
/** `finish` ran, or the request ended otherwise (`kFinished`). */
export const FINISHED = 64;
/** The client went away before the response was finished (`kAborted`). */
export const ABORTED = 128;
/** Where the request body is (`kBodyState`): an index into {@link BODY_STATES}, in these bits. */
export const BODY_SHIFT = 8;
export const BODY_BITS = 3 << BODY_SHIFT;
/** The bits about shutdown. */
export const SHUTDOWN_BITS = SHUTDOWN_VERB_RAN | SHUTDOWN_DRAINING | SHUTDOWN_DELIVERED;

/**
 * `none`: no body; `unread`: a body not read yet; `streaming`: going to `dataReceived`; `read`:
 * wholly read.
 */
export type BodyState = 'none' | 'unread' | 'streaming' | 'read';
export const BODY_STATES: readonly BodyState[] = ['none', 'unread', 'streaming', 'read'];

/** A value `write` accepts: text, bytes, or anything else, which is sent as JSON. */
export type Chunk = string | Uint8Array | object | number | boolean | null;

/**
 * The state few requests use, in one object made on first use ({@link extrasOf}): each field here
 * would otherwise be a slot of every handler, which a held request keeps for as long as it waits.
 */
export class HandlerExtras {
  /** Parsed form arguments (urlencoded on first use, multipart when the body is read). */
  bodyArgs: Arguments | null = null;
  /** Files of a multipart body. */
  uploads: Files | null = null;
  /** The request's `AbortController`, made on the first read of `signal`. */
  controller: AbortController | null = null;
  /** The compressor of a streamed response, once the first `flush` chose to compress. */
  encoder: CompressedStream | null = null;
  /** This request's body limit, or -1 for the class's or the application's. */
  bodyLimit = -1;
  /** The masked XSRF token, once made (one per request). */
  xsrfToken: string | null = null;
  /** Parsed query arguments, once asked for. */
  queryArgs: Arguments | null = null;
  /** The request's logger, once asked for. */
  log: Logger | null = null;
  /** The request's cookies, once asked for. */
  cookies: Cookies | null = null;
  /** The handler's `error`: what ended the request, if something did. */
  error: unknown = undefined;
  /** The body parsed by `json()`, once it has been. */
  jsonValue: unknown = undefined;
}

/** The handler's {@link HandlerExtras}, made now if it has none yet. */
export function extrasOf(h: HandlerState): HandlerExtras {
  let extras = h[kExtras];
  if (extras === null) {
    extras = new HandlerExtras();
    h[kExtras] = extras;
  }
  return extras;
}

/** The lifecycle's state on a handler. */
export interface HandlerState {
  [kFinished]: boolean;
  [kAborted]: boolean;
  [kChunks]: (string | Uint8Array)[];
  [kBodyState]: BodyState;
  [kRawBody]: Buffer | null;
  [kExtras]: HandlerExtras | null;
  [kFlags]: number;
  [kInput]: ValidatedInput | null;
}

/**
 * What the lifecycle runner and the output plumbing use of a handler: its state, its public
 * fields, and the hooks and methods they call. `RequestHandler` is the one implementation.
 */
export interface HandlerCore
  extends HandlerState,
    Abortable,
    AuthRequest,
    SchemaSubject,
    Partial<Record<Verb, (...args: string[]) => unknown>> {
  readonly application: HandlerHost;
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly method: string;
  readonly path: string;
  readonly requestId: string;
  pathArgs: readonly string[];
  error: unknown;
  bytesWritten: number;
  initialize(options: unknown): void;
  setDefaultHeaders(): void;
  prepare(): unknown;
  dataReceived(chunk: Buffer): unknown;
  checkXsrfCookie(): void;
  onFinish(): void;
  onConnectionClose(): void;
  onShutdown(): void;
  writeError(status: number, error: unknown): void;
  logException(error: unknown): void;
  setStatus(status: number): unknown;
  setHeader(name: string, value: string | number): unknown;
  write(chunk: Chunk): unknown;
  finish(chunk?: Chunk): void;
  clear(): void;
  sendError(status: number, error: unknown): void;
}
