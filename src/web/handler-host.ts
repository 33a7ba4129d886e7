import type { Logger } from './log.js';
import type { ResolvedSettings } from './settings.js';

/** A callback registered by an observer; the host knows its subject's type, handlers need not. */
export type ObserverCallback = (subject: never) => void;

/** Something the host aborts when it starts draining: a request in flight, a WebSocket. */
export interface Abortable {
  /** The server is draining: end the request (or connection) soon. Runs synchronously. */
  abortForShutdown(): void;
}

/**
 * What a handler sees of the application that created it: settings, logger, URL builders, the
 * drain state, and (internal) the observers and the registry of requests to abort on drain.
 * `Application` is the one implementation; handlers depend on this interface only, so the
 * application may depend on handlers and not the other way round.
 */
export interface HandlerHost {
  /** The application's settings, defaults filled in. */
  readonly settings: ResolvedSettings;
  /** Where handlers log. */
  readonly logger: Logger;
  /** Whether the application has begun draining (shutting down). */
  readonly draining: boolean;
  /** The path of the named route with `args` filled in, percent-encoded. */
  reverseUrl(name: string, ...args: (string | number)[]): string;
  /** The versioned URL of a file under the `staticPath` setting. */
  staticUrl(path: string): string;
  /** @internal Whether any observer wants to hear of finished requests. */
  readonly observed: boolean;
  /** @internal Whether `finish` and `flush` must run the ETag or compression step (one check). */
  readonly transformsOutput: boolean;
  /** @internal */
  readonly finishObservers: readonly ObserverCallback[] | null;
  /** @internal */
  readonly websocketOpenObservers: readonly ObserverCallback[] | null;
  /** @internal */
  readonly websocketCloseObservers: readonly ObserverCallback[] | null;
  /** @internal Calls each observer with `subject`; one that throws is logged, the rest still run. */
  notify(observers: readonly ObserverCallback[], subject: unknown, what: string): void;
  /** @internal Aborts `handler` if the application starts draining while it is tracked. */
  trackAbortable(handler: Abortable): void;
  /** @internal */
  untrackAbortable(handler: Abortable): void;
}
