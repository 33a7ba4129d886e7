/**
 * W3C Trace Context (level 1) for the server side of a request: the incoming `traceparent` and
 * `tracestate` headers are parsed; a request without a valid `traceparent` starts a new trace.
 * Always on and cheap: no exporter is needed for the ids to reach the logs and outgoing calls.
 */
import { randomFillSync } from 'node:crypto';

/** The `sampled` bit of `trace-flags`. */
export const TRACE_FLAG_SAMPLED = 0x01;

/** `traceparent` of version 00: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`. */
const TRACEPARENT_LENGTH = 55;
const HEX = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
/** The spec asks to propagate at least 512 characters of `tracestate`; longer lists are cut. */
const TRACESTATE_MAX = 512;
/** At most 32 list members in a `tracestate`. */
const TRACESTATE_MEMBERS = 32;

/** A parsed, valid `traceparent`. */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** The caller's span id: 16 lowercase hex digits, not all zero. */
  readonly parentId: string;
  /** The `trace-flags` byte (bit 0: sampled). */
  readonly traceFlags: number;
}

/**
 * Parses a `traceparent` header value, or returns `null` when it is missing or invalid (never
 * throws): version `ff`, uppercase hex, an all-zero trace or parent id, or a version 00 value of
 * another length are invalid. A later version is read for its first four fields, as level 1 says.
 */
export function parseTraceparent(value: string | undefined): TraceParent | null {
  if (value === undefined || value.length < TRACEPARENT_LENGTH) return null;
  let head = value;
  if (value.length > TRACEPARENT_LENGTH) {
    if (value.startsWith('00') || value.charCodeAt(TRACEPARENT_LENGTH) !== 0x2d) return null;
    head = value.slice(0, TRACEPARENT_LENGTH);
  }
  if (!HEX.test(head) || head.startsWith('ff')) return null;
  const traceId = head.slice(3, 35);
  const parentId = head.slice(36, 52);
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_SPAN_ID) return null;
  // Flags other than `sampled` are undefined in level 1 and must not be passed on.
  const traceFlags = Number.parseInt(head.slice(53, 55), 16) & TRACE_FLAG_SAMPLED;
  return { traceId, parentId, traceFlags };
}

/**
 * The `tracestate` to keep from a request: the header's list members as sent (several header
 * lines joined with commas), empty members dropped, cut to 32 members and 512 characters at a
 * member boundary; `undefined` when nothing is left. Members are not otherwise validated: they
 * belong to other vendors and are passed on.
 */
export function keptTracestate(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const joined = typeof value === 'string' ? value : value.join(',');
  const kept: string[] = [];
  let length = 0;
  for (const raw of joined.split(',')) {
    const member = raw.trim();
    if (member === '') continue;
    const next = length + (kept.length > 0 ? 1 : 0) + member.length;
    if (next > TRACESTATE_MAX || kept.length === TRACESTATE_MEMBERS) break;
    kept.push(member);
    length = next;
  }
  return kept.length === 0 ? undefined : kept.join(',');
}

/** `00` to `ff`, so that a log line does not format its flags. */
const FLAGS_HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
/** The pool as hex, two characters a byte: an id is a substring of it. */
let poolHex = '';
let poolOffset = POOL_SIZE;

/**
 * `bytes` random bytes as lowercase hex, never all zero: a slice of a pooled buffer's hex, the
 * buffer refilled by one `randomFillSync` every few hundred requests, so that a request makes its
 * id strings and no call into the runtime.
 */
export function randomHexId(bytes: 8 | 16): string {
  for (;;) {
    if (poolOffset + bytes > POOL_SIZE) {
      randomFillSync(pool);
      poolHex = pool.toString('hex');
      poolOffset = 0;
    }
    const id = poolHex.slice(poolOffset * 2, (poolOffset + bytes) * 2);
    poolOffset += bytes;
    if (id !== ZERO_SPAN_ID && id !== ZERO_TRACE_ID) return id;
  }
}

/**
 * The trace context of one request, as seen by the server span: the trace it belongs to, the
 * caller's span (`parentId`, `null` when the request started the trace) and this server span's
 * own id (`spanId`), which the request's log lines carry and outgoing calls name as their parent.
 */
export class TraceContext {
  /** The trace id: the caller's, or a new random one. */
  readonly traceId: string;
  /** The server span's own id (random, 16 hex digits). */
  readonly spanId: string;
  /** The caller's span id from `traceparent`, or `null` for a new trace. */
  readonly parentId: string | null;
  /**
   * The `trace-flags` byte: the caller's, `0` for a new trace; an exporter's sampler sets it when
   * the request starts (`TRACE_FLAG_SAMPLED` when the span is recorded).
   */
  traceFlags: number;
  /** The caller's `tracestate`, passed on unchanged on outgoing calls; `undefined` when none. */
  readonly traceState: string | undefined;

  constructor(parent: TraceParent | null, traceState: string | undefined) {
    this.traceId = parent === null ? randomHexId(16) : parent.traceId;
    this.spanId = randomHexId(8);
    this.parentId = parent === null ? null : parent.parentId;
    this.traceFlags = parent === null ? 0 : parent.traceFlags;
    this.traceState = parent === null ? undefined : traceState;
  }

  /** Reads the request's `traceparent` and `tracestate` headers; invalid ones start a new trace. */
  static fromHeaders(
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): TraceContext {
    const header = headers.traceparent;
    const parent = typeof header === 'string' ? parseTraceparent(header) : null;
    return new TraceContext(
      parent,
      parent === null ? undefined : keptTracestate(headers.tracestate),
    );
  }

  /** Whether the server span is sampled (recorded by an exporter). */
  get sampled(): boolean {
    return (this.traceFlags & TRACE_FLAG_SAMPLED) !== 0;
  }

  /** `trace-flags` as two lowercase hex digits, the form of logs and headers. */
  get traceFlagsHex(): string {
    return FLAGS_HEX[this.traceFlags & 0xff] as string;
  }

  /**
   * The `traceparent` for an outgoing call made while handling this request: this trace, the
   * server span as the parent, this span's flags.
   */
  traceparent(): string {
    return `00-${this.traceId}-${this.spanId}-${this.traceFlagsHex}`;
  }

  /**
   * The headers that carry this context on an outgoing call: `traceparent`, and `tracestate`
   * when the caller sent one. Spread them into `fetch`'s headers.
   */
  headers(): Record<string, string> {
    const headers: Record<string, string> = { traceparent: this.traceparent() };
    if (this.traceState !== undefined) headers.tracestate = this.traceState;
    return headers;
  }
}
