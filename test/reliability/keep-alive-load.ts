/**
 * A keep-alive load client over raw sockets for the reliability suite: it counts every way a
 * request can end (a response, a refused connect, a reset, a truncation, a timeout), and is kept
 * apart from the tests' response parser because it frames responses on the hot path.
 */
import { connect, type Socket } from 'node:net';
import { percentile } from './support.js';

/** A request that did not end in a complete response. */
export interface LoadFailure {
  /** `reset` (ECONNRESET/EPIPE on a request in flight), `truncated` (closed mid-response or before
   * one), `timeout`, or `status N` for an unexpected status. */
  readonly kind: string;
  readonly code: string | undefined;
  /** The connection had completed at least one request before. */
  readonly reused: boolean;
  /** The request id of the last request answered on the same connection, if any. */
  readonly previousId: string | undefined;
  readonly requestId: string;
  /** When the request was sent and when it failed (`Date.now()`). */
  readonly sentAt: number;
  readonly at: number;
}

/** What a {@link keepAliveLoad} saw. */
export interface LoadResult {
  /** Responses with an expected status. */
  readonly ok: number;
  /** Responses by status. */
  readonly statuses: Readonly<Record<number, number>>;
  /** Connection attempts refused (nothing was sent on them). */
  readonly refused: number;
  /** New connections opened after the first ones (the server said `Connection: close`). */
  readonly reconnects: number;
  readonly failures: readonly LoadFailure[];
  /** Per-request latency in ms (only when `recordLatency`). */
  readonly latencies: Float64Array;
  readonly elapsedMs: number;
  /** Connections that were open at once at the peak. */
  readonly peakOpen: number;
  /** The slowest first request of a connection, in ms (accept queue and ramp-up included). */
  readonly firstMaxMs: number;
}

/** Options of {@link keepAliveLoad}. */
export interface LoadOptions {
  readonly port: number;
  /** Keep-alive connections, each with one request in flight at a time. */
  readonly connections: number;
  /** Request path(s): one is picked per request, round-robin. */
  readonly paths?: readonly string[];
  /** Stop issuing new requests after this long. */
  readonly durationMs?: number;
  /** Stop issuing new requests after this many in total. */
  readonly maxRequests?: number;
  /** Stop issuing new requests once this returns true. */
  readonly stopWhen?: () => boolean;
  /** Statuses that count as success (default: 200). */
  readonly okStatuses?: readonly number[];
  /** Record every latency (default true). */
  readonly recordLatency?: boolean;
  /** Give up on a request after this long (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** Reconnect after a `Connection: close` or a refused connect (default true). */
  readonly reconnect?: boolean;
  /** Open a new connection after a failed one too (default false: the lane stops). */
  readonly reconnectOnFailure?: boolean;
  /** Called for each complete response with the request id it answered. */
  readonly onResponse?: (requestId: string, status: number) => void;
  /** Prefix of the `X-Request-Id` each request carries (default: none sent). */
  readonly requestIdPrefix?: string;
  /** How many connections to open at a time while starting (default 100). */
  readonly connectBatch?: number;
  /**
   * Open every connection and get one answer on each first, then start the clock: `durationMs`,
   * the latencies and the counts are about all connections running at once (default false).
   */
  readonly rampUpFirst?: boolean;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Runs `connections` keep-alive connections, each sending its next request as soon as the
 * previous response is complete, until a stop condition. Every request ends as exactly one of: a
 * response, a refused connect (counted apart: nothing was sent), or a failure (reset, truncated,
 * timeout, unexpected status). A connection the server closes after a `Connection: close`
 * response is reopened.
 */
export function keepAliveLoad(options: LoadOptions): Promise<LoadResult> {
  const paths = options.paths ?? ['/'];
  const okStatuses = new Set(options.okStatuses ?? [200]);
  const recordLatency = options.recordLatency ?? true;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const reconnect = options.reconnect ?? true;
  const reconnectOnFailure = options.reconnectOnFailure ?? false;
  const started = performance.now();
  const statuses: Record<number, number> = {};
  const failures: LoadFailure[] = [];
  let latencies = new Float64Array(recordLatency ? 1 << 16 : 0);
  let latencyCount = 0;
  let ok = 0;
  let refused = 0;
  let reconnects = 0;
  let issued = 0;
  let open = 0;
  let peakOpen = 0;
  let sequence = 0;
  /** Lanes whose first request has been answered (the opener paces itself on it). */
  let firstAnswered = 0;
  let firstMaxMs = 0;
  const requests = paths.map((path) => `GET ${path} HTTP/1.1\r\nHost: load\r\n`);

  const rampUpFirst = options.rampUpFirst ?? false;
  let measuring = !rampUpFirst;
  let clockStart = started;
  const held: (() => void)[] = [];
  const stopping = (): boolean =>
    (measuring &&
      options.durationMs !== undefined &&
      performance.now() - clockStart >= options.durationMs) ||
    (options.maxRequests !== undefined && issued >= options.maxRequests) ||
    (options.stopWhen?.() ?? false);

  const lane = (first: boolean): Promise<void> =>
    new Promise<void>((done) => {
      if (stopping()) {
        done();
        return;
      }
      if (!first) reconnects++;
      const socket: Socket = connect({ port: options.port, host: '127.0.0.1' });
      let connected = false;
      let buffer: Buffer = Buffer.alloc(0);
      let inFlight: { id: string; t0: number; sentAt: number } | null = null;
      let previousId: string | undefined;
      let completed = 0;
      let closeAfter = false;
      let finished = false;
      let timer: NodeJS.Timeout | undefined;

      const finish = (again: boolean): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        if (connected) open--;
        socket.destroy();
        if (again && reconnect && !stopping()) lane(false).then(done);
        else done();
      };
      const fail = (kind: string, code?: string): void => {
        if (inFlight !== null) {
          failures.push({
            kind,
            code,
            reused: completed > 0,
            previousId,
            requestId: inFlight.id,
            sentAt: inFlight.sentAt,
            at: Date.now(),
          });
          inFlight = null;
        }
      };
      const sendNext = (): void => {
        if (stopping()) {
          finish(false);
          return;
        }
        issued++;
        const id = `${options.requestIdPrefix ?? 'load'}-${++sequence}`;
        const head = requests[sequence % requests.length] as string;
        inFlight = { id, t0: performance.now(), sentAt: Date.now() };
        const idHeader = options.requestIdPrefix === undefined ? '' : `X-Request-Id: ${id}\r\n`;
        socket.write(`${head}${idHeader}\r\n`);
        clearTimeout(timer);
        timer = setTimeout(() => {
          fail('timeout');
          finish(false);
        }, requestTimeoutMs);
      };
      socket.setNoDelay(true);
      socket.on('connect', () => {
        connected = true;
        open++;
        if (open > peakOpen) peakOpen = open;
        sendNext();
      });
      socket.on('data', (chunk: Buffer) => {
        buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
        for (;;) {
          const headEnd = buffer.indexOf(CRLF2);
          if (headEnd < 0) return;
          const head = buffer.subarray(0, headEnd).toString('latin1');
          const status = Number(head.slice(9, 12));
          const lengthMatch = /\r\ncontent-length: *(\d+)/i.exec(head);
          const bodiless = status === 204 || status === 304;
          if (lengthMatch === null && !bodiless) {
            fail('unframed');
            finish(false);
            return;
          }
          const end = headEnd + 4 + (bodiless ? 0 : Number(lengthMatch?.[1]));
          if (buffer.length < end) return;
          buffer = buffer.subarray(end);
          closeAfter = /\r\nconnection: *close/i.test(head);
          const request = inFlight;
          inFlight = null;
          if (request === null) {
            failures.push({
              kind: 'unsolicited response',
              code: undefined,
              reused: completed > 0,
              previousId,
              requestId: '',
              sentAt: 0,
              at: Date.now(),
            });
            finish(false);
            return;
          }
          statuses[status] = (statuses[status] ?? 0) + 1;
          options.onResponse?.(request.id, status);
          if (okStatuses.has(status)) ok++;
          else {
            failures.push({
              kind: `status ${status}`,
              code: undefined,
              reused: completed > 0,
              previousId,
              requestId: request.id,
              sentAt: request.sentAt,
              at: Date.now(),
            });
          }
          if (completed === 0) {
            firstAnswered++;
            firstMaxMs = Math.max(firstMaxMs, performance.now() - request.t0);
          }
          completed++;
          previousId = request.id;
          if (recordLatency) {
            if (latencyCount === latencies.length) {
              const grown = new Float64Array(latencies.length * 2);
              grown.set(latencies);
              latencies = grown;
            }
            latencies[latencyCount++] = performance.now() - request.t0;
          }
          if (closeAfter) {
            finish(true);
            return;
          }
          if (!measuring) held.push(sendNext);
          else sendNext();
        }
      });
      socket.on('error', (error: Error & { code?: string }) => {
        if (!connected && error.code === 'ECONNREFUSED') {
          refused++;
          inFlight = null;
          // The listener is gone: no point reconnecting.
          finished = true;
          clearTimeout(timer);
          done();
          return;
        }
        fail(error.code === 'ECONNRESET' || error.code === 'EPIPE' ? 'reset' : 'error', error.code);
        finish(reconnectOnFailure);
      });
      socket.on('close', () => {
        // Closed by the server with a request in flight: truncated (or never answered).
        fail(buffer.length > 0 ? 'truncated' : 'closed before a response');
        finish(closeAfter || reconnectOnFailure);
      });
    });

  const batch = options.connectBatch ?? 100;
  const lanes: Promise<void>[] = [];
  const opening = (async () => {
    for (let i = 0; i < options.connections; i += batch) {
      const launched = Math.min(options.connections, i + batch);
      for (let j = i; j < launched; j++) lanes.push(lane(true));
      // Let the batch be accepted and answered before the next one: a burst of a thousand
      // connects overflows the listen backlog (511), and the kernel then drops handshakes that
      // the client already thinks complete, to be retransmitted seconds later.
      const deadline = performance.now() + 5_000;
      while (
        firstAnswered + refused + failures.length < launched &&
        performance.now() < deadline &&
        !stopping()
      ) {
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    if (!measuring) {
      // Every connection is open and has been answered once: start the clock, from zero.
      measuring = true;
      clockStart = performance.now();
      ok = 0;
      issued = 0;
      latencyCount = 0;
      for (const key of Object.keys(statuses)) delete statuses[Number(key)];
      for (const next of held.splice(0)) next();
    }
  })();
  return opening
    .then(() => Promise.all(lanes))
    .then(() => ({
      ok,
      statuses,
      refused,
      reconnects,
      failures,
      latencies: latencies.subarray(0, latencyCount),
      elapsedMs: performance.now() - clockStart,
      peakOpen,
      firstMaxMs,
    }));
}

/** Summary figures of a load result (latencies in ms). */
export function summarize(result: LoadResult): Record<string, number> {
  const latencies = Float64Array.from(result.latencies);
  const round = (n: number): number => Math.round(n * 100) / 100;
  return {
    requests: result.ok + result.failures.length,
    ok: result.ok,
    failures: result.failures.length,
    refused: result.refused,
    reconnects: result.reconnects,
    peakConnections: result.peakOpen,
    seconds: round(result.elapsedMs / 1000),
    rps: Math.round(((result.ok + result.failures.length) / result.elapsedMs) * 1000),
    p50ms: round(percentile(latencies, 50)),
    p99ms: round(percentile(latencies, 99)),
    maxms: round(latencies.length > 0 ? (latencies[latencies.length - 1] as number) : Number.NaN),
    firstRequestMaxMs: round(result.firstMaxMs),
  };
}
