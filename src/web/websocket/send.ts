import type { WebSocket } from 'ws';
import { WebSocketClosedError, withCode } from '../errors.js';

/** `WebSocket.OPEN`, without loading `ws` to read it. */
export const OPEN = 1;

function noop(): void {}

/**
 * `WebSocketHandler.writeMessage`: sends a string as text, bytes as binary, any other value as
 * JSON text (`binary` overrides the frame type). The promise resolves once the message was handed
 * to the connection and rejects with {@link WebSocketClosedError} if it is closed (or `ws` is
 * `null`: no connection yet); a rejection nobody awaits is not an unhandled rejection. A value
 * JSON cannot encode throws a `TypeError`.
 */
export function sendMessage(
  ws: WebSocket | null,
  data: string | Uint8Array | ArrayBuffer | object,
  binary: boolean | undefined,
): Promise<void> {
  let promise: Promise<void>;
  if (ws === null || ws.readyState !== OPEN) {
    promise = Promise.reject(new WebSocketClosedError());
  } else {
    let payload: string | Uint8Array;
    let isBinary: boolean;
    if (typeof data === 'string') {
      payload = data;
      isBinary = binary ?? false;
    } else if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
      payload = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
      isBinary = binary ?? true;
    } else {
      const json = JSON.stringify(data);
      if (json === undefined) {
        throw withCode(
          new TypeError('writeMessage() was given a value JSON cannot encode'),
          'ERR_NOT_JSON_ENCODABLE',
        );
      }
      payload = json;
      isBinary = binary ?? false;
    }
    promise = new Promise<void>((resolve, reject) => {
      ws.send(payload, { binary: isBinary }, (error) => {
        if (error) reject(new WebSocketClosedError(undefined, { cause: error }));
        else resolve();
      });
    });
  }
  promise.catch(noop);
  return promise;
}
