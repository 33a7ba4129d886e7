/**
 * The upgrade plumbing under `WebSocketHandler`: an HTTP answer on a raw upgrade socket, the
 * checks a handshake needs, and the hand-over to the `ws` package, loaded on first use.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { HttpError, withCode } from '../errors.js';
import { RequestHandler } from '../handler.js';
import { ServerResponse } from '../node-http.js';

/** Tornado's default largest message: 10 MiB. */
export const DEFAULT_MAX_MESSAGE_SIZE = 10 * 1024 * 1024;

/** How long a close handshake may take before the socket is destroyed (Tornado's 5 s). */
const CLOSE_TIMEOUT_MS = 5_000;

/** RFC 6455 §4.1: 16 random bytes, base64. */
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** RFC 9110 §5.6.2 token (what a subprotocol name must be). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Handshake headers that `ws` writes itself, or that make no sense on a 101. */
const NOT_COPIED = new Set([
  'connection',
  'content-length',
  'content-type',
  'sec-websocket-accept',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
  'transfer-encoding',
  'upgrade',
]);

/** The close codes `ws` sends for its protocol errors (RFC 6455 §7.4.1); others are 1002. */
const PROTOCOL_ERROR_CODES: Readonly<Record<string, number>> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
  WS_ERR_INVALID_UTF8: 1007,
};

/** The close code `ws` used for a protocol error it reported with this `code`. */
export function closeCodeFor(code: string | undefined): number {
  return PROTOCOL_ERROR_CODES[code ?? ''] ?? 1002;
}

/** What the `ws` hooks need of the handler whose handshake is in progress. */
export interface Handshake {
  /** The subprotocol the handler chose, if any. */
  readonly selectedSubprotocol: string | undefined;
  /** The response whose headers (request id, cookies...) go out with the 101. */
  readonly response: ServerResponse;
}

/** The head bytes that came with each upgrade request: set for upgrades, absent otherwise. */
const upgradeHeads = new WeakMap<IncomingMessage, Buffer>();
/** Handshakes in the middle of `handleUpgrade`, for the `headers` and protocol hooks of `ws`. */
const handshaking = new WeakMap<IncomingMessage, Handshake>();
/** One `ws` server per message size limit (its `maxPayload` is per server). */
const servers = new Map<number, WebSocketServer>();

/**
 * `ws`'s server class, loaded on the first upgrade: `ws` (and the node:https, node:tls it pulls in)
 * is several MiB of resident memory that a service without WebSocket traffic never needs.
 */
let WebSocketServerClass: typeof WebSocketServer | undefined;

function loadWebSocketServer(): typeof WebSocketServer {
  WebSocketServerClass ??= (createRequire(import.meta.url)('ws') as typeof import('ws'))
    .WebSocketServer;
  return WebSocketServerClass;
}

function wsServerFor(maxPayload: number): WebSocketServer {
  let wss = servers.get(maxPayload);
  if (wss === undefined) {
    const options = {
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload,
      closeTimeout: CLOSE_TIMEOUT_MS,
      handleProtocols: (_offered: Set<string>, req: IncomingMessage) =>
        handshaking.get(req)?.selectedSubprotocol ?? false,
    };
    wss = new (loadWebSocketServer())(options);
    wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const handshake = handshaking.get(req);
      if (handshake !== undefined) headers.push(...handshakeHeaders(handshake.response));
    });
    servers.set(maxPayload, wss);
  }
  return wss;
}

/** The headers a handler set before the handshake (request id, cookies...), as header lines. */
function handshakeHeaders(res: ServerResponse): string[] {
  const lines: string[] = [];
  for (const name of res.getHeaderNames()) {
    if (NOT_COPIED.has(name)) continue;
    const value = res.getHeader(name);
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${one}`);
  }
  return lines;
}

/** Whether the request asks to upgrade to the WebSocket protocol. */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  return typeof upgrade === 'string' && upgrade.trim().toLowerCase() === 'websocket';
}

/**
 * @internal A response written straight to an upgrade request's socket (node:http hands upgrades
 * over without one), so that a refused upgrade gets an ordinary HTTP answer from the handler's
 * machinery. The connection closes after it.
 */
export function upgradeResponse(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): ServerResponse {
  // node:http removed its own error listener when it handed the socket over.
  socket.on('error', () => socket.destroy());
  upgradeHeads.set(req, head);
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', () => (socket as Socket).destroySoon());
  return res;
}

/**
 * Completes the handshake with `ws` (synchronously): the 101 carries the headers of
 * `handshake.response` and its chosen subprotocol. `null` when `ws` refused after all (the client
 * half-closed meanwhile); it has closed the socket then.
 */
export function acceptWebSocket(
  handshake: Handshake,
  req: IncomingMessage,
  head: Buffer,
  maxPayload: number,
): WebSocket | null {
  const accepted: { ws: WebSocket | null } = { ws: null };
  handshaking.set(req, handshake);
  try {
    wsServerFor(maxPayload).handleUpgrade(req, req.socket, head, (ws) => {
      accepted.ws = ws;
    });
  } finally {
    handshaking.delete(req);
  }
  return accepted.ws;
}

/**
 * Checks an upgrade request before its handshake and returns its head bytes: not an upgrade (or
 * not a GET) is a 400; while draining a 503; an unknown `Sec-WebSocket-Version` a 426; a missing
 * or malformed `Sec-WebSocket-Key` a 400.
 */
export function checkHandshake(req: IncomingMessage, method: string, draining: boolean): Buffer {
  const head = upgradeHeads.get(req);
  if (head === undefined || method !== 'GET' || !isWebSocketUpgrade(req)) {
    throw new HttpError(400, 'Can "Upgrade" only to "WebSocket"');
  }
  if (draining) throw new HttpError(503, 'the server is shutting down');
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') {
    throw new HttpError(426, 'unsupported WebSocket version', {
      headers: { 'Sec-WebSocket-Version': '13' },
    });
  }
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !WEBSOCKET_KEY.test(key)) {
    throw new HttpError(400, 'missing or invalid Sec-WebSocket-Key');
  }
  return head;
}

/**
 * Whether a page at `origin` is on the same host and port as the request's `Host` header (the
 * default `checkOrigin`). A `null` origin (a sandboxed or file: page) or garbage is not.
 */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || /[/?#@\\]/.test(host)) return false; // only host[:port]
  try {
    const parsed = new URL(origin);
    // Parsing the Host with the origin's scheme drops the same default port on both sides.
    return parsed.host.toLowerCase() === new URL(`${parsed.protocol}//${host}`).host.toLowerCase();
  } catch {
    return false;
  }
}

/**
 * The subprotocol `select` picks from those the client offered (in its order), or `undefined`.
 * A malformed offer is a 400; picking one that was not offered throws.
 */
export function chooseSubprotocol(
  req: IncomingMessage,
  select: (offered: readonly string[]) => string | undefined,
): string | undefined {
  const offered = parseSubprotocols(req.headers['sec-websocket-protocol']);
  const selected = select(offered);
  if (selected !== undefined && !offered.includes(selected)) {
    throw withCode(
      new Error(`selectSubprotocol() chose ${JSON.stringify(selected)}, which was not offered`),
      'ERR_SUBPROTOCOL_NOT_OFFERED',
    );
  }
  return selected;
}

/** The offered subprotocols, in order; a malformed or repeated one is a 400. */
function parseSubprotocols(header: string | undefined): string[] {
  if (header === undefined) return [];
  const protocols = header.split(',').map((p) => p.trim());
  const unique = new Set(protocols);
  if (unique.size !== protocols.length || protocols.some((p) => !TOKEN.test(p))) {
    throw new HttpError(400, 'invalid Sec-WebSocket-Protocol header');
  }
  return protocols;
}

/**
 * @internal Answers an upgrade to a route whose handler is not a `WebSocketHandler` (or one
 * with a request body, which an upgraded connection cannot carry): 400.
 */
export class UpgradeRefusedHandler extends RequestHandler<unknown> {
  override initialize(_options: unknown): void {
    throw new HttpError(400, `${this.path} does not accept this upgrade`);
  }
}
