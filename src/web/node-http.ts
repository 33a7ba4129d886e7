/**
 * `node:http`'s values, taken from the CommonJS module object. Since Node 22.5 `node:http` also
 * exports `WebSocket`, `CloseEvent` and `MessageEvent` as lazy getters over undici; `import … from
 * 'node:http'` in an ES module builds the module's ES namespace, which reads every export and so
 * loads undici: some 40 ms of start-up that no request needs (Node 24, measured with
 * `process.moduleLoadList`). `process.getBuiltinModule` hands over the same object without a
 * namespace. Import `node:http`'s values from here; type imports from `node:http` cost nothing.
 */
import type * as http from 'node:http';

const nodeHttp = process.getBuiltinModule('node:http');

export const createServer: typeof http.createServer = nodeHttp.createServer;
export const STATUS_CODES: typeof http.STATUS_CODES = nodeHttp.STATUS_CODES;
export const ServerResponse: typeof http.ServerResponse = nodeHttp.ServerResponse;
export const validateHeaderName: typeof http.validateHeaderName = nodeHttp.validateHeaderName;
export const validateHeaderValue: typeof http.validateHeaderValue = nodeHttp.validateHeaderValue;
export type ServerResponse<Request extends http.IncomingMessage = http.IncomingMessage> =
  http.ServerResponse<Request>;

/**
 * The byte length of `body` once `res.end(body)` has sent it with the headers: node:http measured
 * it for the `Content-Length` it wrote (`_contentLength`, set by every Node since 0.x for a body
 * ended with the headers). Measured again should a Node version no longer keep it.
 */
export function contentLengthOf(res: http.ServerResponse, body: string): number {
  const length = (res as { _contentLength?: unknown })._contentLength;
  return typeof length === 'number' ? length : Buffer.byteLength(body);
}

/**
 * Marks a request whose body was taken whole with `read()` after it ended as read, as node:http's
 * `IncomingMessage._read` does on a first read (`_consuming`, in every Node since 0.x; a `read()`
 * after the end never reaches `_read`). Otherwise node:http, seeing a request nobody read when its
 * response finishes, "dumps" it: resumes the ended stream, a tick and a flow for nothing (about
 * 2 % of the CPU of a small JSON POST). A Node version without the flag just dumps it again.
 */
export function markConsumed(req: http.IncomingMessage): void {
  (req as { _consuming?: boolean })._consuming = true;
}
