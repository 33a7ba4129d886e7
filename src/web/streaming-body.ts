import type { IncomingMessage } from 'node:http';
import { HttpError, RequestAborted } from './errors.js';
import { isThenable } from './thenable.js';

/**
 * Hands a request body to `onChunk` piece by piece as it arrives, up to `maxBytes` (the body of a
 * handler with `static streamRequestBody = true`). While a promise returned by `onChunk` is
 * pending the request is paused, so a slow consumer slows the client down instead of filling
 * memory. Resolves once the body has ended and the last `onChunk` has settled.
 *
 * Rejects with a 413 {@link HttpError} as soon as the body passes `maxBytes` (a `Content-Length`
 * over it before a byte is read); the rest is not read. Rejects with what `onChunk` threw or
 * rejected with, with {@link RequestAborted} when the client leaves mid-body, and with a 415 for
 * a `Content-Encoding` other than `identity`.
 */
export function streamBody(
  req: IncomingMessage,
  maxBytes: number,
  onChunk: (chunk: Buffer) => unknown,
): Promise<void> {
  const refused = refusal(req, maxBytes);
  if (refused !== null)
    return refused instanceof Error ? Promise.reject(refused) : Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let size = 0;
    let pending: PromiseLike<unknown> | null = null;
    let done = false;
    const cleanup = (): void => {
      done = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
    };
    const fail = (error: unknown): void => {
      if (done) return;
      cleanup();
      req.pause();
      reject(error);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxBytes) {
        fail(tooLarge(maxBytes));
        return;
      }
      let result: unknown;
      try {
        result = onChunk(chunk);
      } catch (error) {
        fail(error);
        return;
      }
      if (!isThenable(result)) return;
      req.pause();
      const current = result;
      pending = current;
      current.then(
        () => {
          if (pending === current) pending = null;
          if (!done) req.resume();
        },
        (error: unknown) => fail(error),
      );
    };
    const onEnd = (): void => {
      const last = pending;
      if (done) return;
      req.off('error', onAbort);
      req.off('close', onAbort);
      if (last === null) {
        cleanup();
        resolve();
        return;
      }
      last.then(() => {
        if (done) return;
        cleanup();
        resolve();
      }, fail);
    };
    const onAbort = (): void => fail(new RequestAborted('disconnect'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
}

/**
 * @internal What becomes of a body before a byte is read: a 415 for a `Content-Encoding` other
 * than `identity`, a 413 for a `Content-Length` over `maxBytes`, nothing more to read (an empty
 * body), a client already gone (the error to fail with); or `null` to go on reading.
 */
export function refusal(req: IncomingMessage, maxBytes: number): Error | Buffer | null {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    return new HttpError(415, `unsupported Content-Encoding: ${encoding}`, {
      code: 'ERR_UNSUPPORTED_MEDIA_TYPE',
    });
  }
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > maxBytes) return tooLarge(maxBytes);
  if (req.readableEnded) return EMPTY;
  if (req.destroyed) return new RequestAborted('disconnect');
  return null;
}

const EMPTY = Buffer.alloc(0);

/** @internal */
export function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `request body larger than ${maxBytes} bytes`, {
    code: 'ERR_BODY_TOO_LARGE',
  });
}
