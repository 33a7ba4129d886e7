/**
 * W3C Trace Context (level 1) for the server side of a request: the incoming `traceparent` and
 * `tracestate` headers are parsed; a request without a valid `traceparent` starts a new trace.
 * Always on and cheap: no exporter is needed for the ids to reach the logs and outgoing calls.
 */
import { nodeCrypto } from './builtins.js';

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

/**
 * A new trace's ids as pino renders them in a log line, prepared in bulk: `,"trace_id":"<32
 * hex>","span_id":"<16 hex>","trace_flags":"00"` (94 characters). The ids start at
 * {@link TRACE_ID_AT} and {@link SPAN_ID_AT}.
 */
const FIELDS_LENGTH = 94;
const TRACE_ID_AT = 13;
const SPAN_ID_AT = 58;
const FIELDS_HEAD = ',"trace_id":"';
const FIELDS_MIDDLE = '","span_id":"';
const FIELDS_TAIL = '","trace_flags":"00"';
/** Fields prepared per refill: one `randomFillSync` of 6 KiB every 256 new traces. */
const POOL_FIELDS = 256;
const ID_BYTES = 24;
const random = Buffer.allocUnsafe(POOL_FIELDS * ID_BYTES);
/** {@link POOL_FIELDS} fields, one after the other: a request's are a substring of it. */
let pool = '';
let poolNext = POOL_FIELDS;

/** Renders the next {@link POOL_FIELDS} fields from fresh random bytes. */
function refillPool(): void {
  const { randomFillSync } = nodeCrypto();
  randomFillSync(random);
  for (let at = 0; at < random.length; at += ID_BYTES) {
    // All-zero ids are invalid (a chance of 2^-64 for the span id): such bytes are drawn again.
    while (isZero(at, 16) || isZero(at + 16, 8)) randomFillSync(random, at, ID_BYTES);
  }
  const hex = random.toString('hex');
  let fields = '';
  for (let at = 0; at < hex.length; at += 2 * ID_BYTES) {
    fields +=
      FIELDS_HEAD +
      hex.slice(at, at + 32) +
      FIELDS_MIDDLE +
      hex.slice(at + 32, at + 48) +
      FIELDS_TAIL;
  }
  pool = fields;
  poolNext = 0;
}

function isZero(at: number, length: number): boolean {
  for (let i = at; i < at + length; i += 4) if (random.readUInt32LE(i) !== 0) return false;
  return true;
}

/**
 * A new trace's log fields, `,"trace_id":"…","span_id":"…","trace_flags":"00"`: random, never
 * all-zero ids, as one string (a substring of a pool rendered for 256 traces at a time, so that a
 * request makes one string and no call into the runtime). {@link TraceContext} reads its ids
 * from them.
 */
export function newTraceFields(): string {
  if (poolNext === POOL_FIELDS) refillPool();
  const at = poolNext++ * FIELDS_LENGTH;
  return pool.slice(at, at + FIELDS_LENGTH);
}

/** `bytes` random bytes as lowercase hex, never all zero. */
export function randomHexId(bytes: 8 | 16): string {
  const fields = newTraceFields();
  return bytes === 16
    ? fields.slice(TRACE_ID_AT, TRACE_ID_AT + 32)
    : fields.slice(SPAN_ID_AT, SPAN_ID_AT + 16);
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

  /** {@link logFields} as last rendered, and the flags they were rendered for. */
  #fields: string | null;
  #fieldsFlags: number;

  /**
   * `fields` (internal): the log fields of a new trace from {@link newTraceFields}, when the
   * request's access line already carries them; a new trace takes its ids from them.
   */
  constructor(
    parent: TraceParent | null,
    traceState: string | undefined,
    fields: string = newTraceFields(),
  ) {
    this.spanId = fields.slice(SPAN_ID_AT, SPAN_ID_AT + 16);
    if (parent === null) {
      this.traceId = fields.slice(TRACE_ID_AT, TRACE_ID_AT + 32);
      this.parentId = null;
      this.traceFlags = 0;
      this.traceState = undefined;
      this.#fields = fields;
    } else {
      this.traceId = parent.traceId;
      this.parentId = parent.parentId;
      this.traceFlags = parent.traceFlags;
      this.traceState = traceState;
      this.#fields = null;
    }
    this.#fieldsFlags = 0;
  }

  /**
   * Reads the request's `traceparent` and `tracestate` headers; invalid ones start a new trace
   * (with the ids of `fields` when given: see the constructor).
   */
  static fromHeaders(
    headers: Readonly<Record<string, string | string[] | undefined>>,
    fields?: string,
  ): TraceContext {
    const header = headers.traceparent;
    const parent = typeof header === 'string' ? parseTraceparent(header) : null;
    return new TraceContext(
      parent,
      parent === null ? undefined : keptTracestate(headers.tracestate),
      fields,
    );
  }

  /**
   * The context's log fields as pino renders them, for a line written by hand:
   * `,"trace_id":"…","span_id":"…","trace_flags":"…"`.
   */
  get logFields(): string {
    if (this.#fields === null || this.#fieldsFlags !== this.traceFlags) {
      this.#fields = `,"trace_id":"${this.traceId}","span_id":"${this.spanId}","trace_flags":"${this.traceFlagsHex}"`;
      this.#fieldsFlags = this.traceFlags;
    }
    return this.#fields;
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
