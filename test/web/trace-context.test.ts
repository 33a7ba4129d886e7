import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  keptTracestate,
  newTraceFields,
  parseTraceparent,
  RequestHandler,
  randomHexId,
  TraceContext,
  url,
} from '../../src/web/index.js';
import { serveRoutes } from '../support/servers.js';

const hex = (length: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length });
const nonZero = (length: number) => hex(length).filter((s) => /[^0]/.test(s));
const VALID = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('parseTraceparent', () => {
  it('reads every well-formed version 00 value back into its fields', () => {
    fc.assert(
      fc.property(nonZero(32), nonZero(16), fc.integer({ min: 0, max: 255 }), (t, p, flags) => {
        const f = flags.toString(16).padStart(2, '0');
        expect(parseTraceparent(`00-${t}-${p}-${f}`)).toEqual({
          traceId: t,
          parentId: p,
          traceFlags: flags & 1,
        });
      }),
      { numRuns: 2_000 },
    );
  });

  it('never throws and accepts nothing outside the grammar', () => {
    const grammar = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$/s;
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (value) => {
        const parsed = parseTraceparent(value);
        if (parsed !== null) {
          expect(value).toMatch(grammar);
          expect(value.startsWith('ff')).toBe(false);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('rejects any single-character corruption of a valid value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: VALID.length - 1 }),
        fc.constantFrom(...'G-zX .A'),
        (at, char) => {
          fc.pre(VALID[at] !== char);
          const corrupted = VALID.slice(0, at) + char + VALID.slice(at + 1);
          expect(parseTraceparent(corrupted)).toBeNull();
        },
      ),
    );
  });

  it('rejects all-zero ids, uppercase hex, version ff, and a version 00 of another length', () => {
    expect(parseTraceparent(VALID)).not.toBeNull();
    expect(parseTraceparent(`00-${'0'.repeat(32)}-b7ad6b7169203331-01`)).toBeNull();
    expect(parseTraceparent(`00-0af7651916cd43dd8448eb211c80319c-${'0'.repeat(16)}-01`)).toBeNull();
    expect(parseTraceparent(VALID.toUpperCase())).toBeNull();
    expect(parseTraceparent(`ff${VALID.slice(2)}`)).toBeNull();
    expect(parseTraceparent(`${VALID}-extra`)).toBeNull();
    expect(parseTraceparent(`${VALID} `)).toBeNull();
    expect(parseTraceparent(VALID.slice(0, -1))).toBeNull();
    expect(parseTraceparent(undefined)).toBeNull();
    expect(parseTraceparent('')).toBeNull();
  });

  it('reads a later version for its first fields, when what follows starts with a dash', () => {
    const later = `cc${VALID.slice(2)}`;
    expect(parseTraceparent(later)?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(parseTraceparent(`${later}-what-comes-next`)?.parentId).toBe('b7ad6b7169203331');
    expect(parseTraceparent(`${later}x`)).toBeNull();
  });
});

describe('keptTracestate', () => {
  it('keeps the members as sent, joining several header lines', () => {
    expect(keptTracestate('congo=t61rcWkgMzE, rojo=00f067aa0ba902b7')).toBe(
      'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    );
    expect(keptTracestate(['a=1', 'b=2,,'])).toBe('a=1,b=2');
    expect(keptTracestate(' , ')).toBeUndefined();
    expect(keptTracestate(undefined)).toBeUndefined();
  });

  it('cuts at a member boundary to at most 32 members and 512 characters', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 60 }), { maxLength: 60 }), (xs) => {
        const members = xs.map((x, i) => `k${i}=${x.replace(/[,\s]/g, 'v')}`);
        const kept = keptTracestate(members.join(','));
        const list = kept === undefined ? [] : kept.split(',');
        expect(list.length).toBeLessThanOrEqual(32);
        expect((kept ?? '').length).toBeLessThanOrEqual(512);
        expect(list).toEqual(members.slice(0, list.length));
      }),
    );
  });
});

describe('TraceContext', () => {
  it('continues a valid traceparent with a new span id, keeping tracestate', () => {
    const ctx = TraceContext.fromHeaders({ traceparent: VALID, tracestate: 'rojo=1' });
    expect(ctx.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(ctx.parentId).toBe('b7ad6b7169203331');
    expect(ctx.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(ctx.spanId).not.toBe(ctx.parentId);
    expect(ctx.sampled).toBe(true);
    expect(ctx.traceparent()).toBe(`00-${ctx.traceId}-${ctx.spanId}-01`);
    expect(ctx.headers()).toEqual({ traceparent: ctx.traceparent(), tracestate: 'rojo=1' });
  });

  it('starts a new, unsampled trace for a missing or invalid traceparent, dropping tracestate', () => {
    for (const traceparent of [undefined, 'garbage', VALID.toUpperCase(), [VALID, VALID]]) {
      const ctx = TraceContext.fromHeaders({ traceparent, tracestate: 'rojo=1' });
      expect(ctx.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(ctx.traceId).not.toBe('0af7651916cd43dd8448eb211c80319c');
      expect(ctx.parentId).toBeNull();
      expect(ctx.traceFlagsHex).toBe('00');
      expect(ctx.headers()).toEqual({ traceparent: ctx.traceparent() });
    }
  });

  it('makes distinct random ids across pool refills', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 2_000; i++) ids.add(randomHexId(16)).add(randomHexId(8));
    expect(ids.size).toBe(4_000);
  });
});

describe('the log fields of a trace context', () => {
  /** What pino writes for the same fields, after the line's opening brace. */
  const pino = (ctx: TraceContext) =>
    `,${JSON.stringify({ trace_id: ctx.traceId, span_id: ctx.spanId, trace_flags: ctx.traceFlagsHex }).slice(1, -1)}`;

  it('are pino’s rendering for a new trace, a continued one, and after the sampler’s decision', () => {
    const fresh = TraceContext.fromHeaders({});
    const continued = TraceContext.fromHeaders({ traceparent: VALID });
    for (const ctx of [fresh, continued]) {
      expect(ctx.logFields).toBe(pino(ctx));
      ctx.traceFlags = ctx.traceFlags ^ 1;
      expect(ctx.logFields).toBe(pino(ctx));
    }
    expect(continued.logFields).toContain('"trace_id":"0af7651916cd43dd8448eb211c80319c"');
  });

  it('of a new trace carry random, distinct, non-zero ids across pool refills', () => {
    const traces = new Set<string>();
    const spans = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const fields = newTraceFields();
      const match =
        /^,"trace_id":"([0-9a-f]{32})","span_id":"([0-9a-f]{16})","trace_flags":"00"$/.exec(fields);
      expect(match, fields).not.toBeNull();
      const [, traceId, spanId] = match as RegExpExecArray;
      expect(traceId).not.toMatch(/^0+$/);
      expect(spanId).not.toMatch(/^0+$/);
      traces.add(traceId as string);
      spans.add(spanId as string);
    }
    expect(traces.size).toBe(2_000);
    expect(spans.size).toBe(2_000);
  });

  it('give a context made later the same ids, unless a valid traceparent continues a trace', () => {
    const fields = newTraceFields();
    const later = TraceContext.fromHeaders({ traceparent: 'garbage' }, fields);
    expect(later.logFields).toBe(fields);
    expect(later.traceparent()).toBe(`00-${fields.slice(13, 45)}-${fields.slice(58, 74)}-00`);
    const continued = TraceContext.fromHeaders({ traceparent: VALID }, fields);
    expect(continued.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(continued.parentId).toBe('b7ad6b7169203331');
  });
});

describe('a handler’s trace context', () => {
  class Echo extends RequestHandler {
    override async get(): Promise<void> {
      this.log.info({ note: 'inside' }, 'handled');
      this.write({ ...this.traceContext.headers(), spanId: this.traceContext.spanId });
    }
  }

  it('continues the caller’s trace, logs its ids and propagates this span', async () => {
    const { srv, logs } = await serveRoutes([url('/', Echo)]);
    const res = await srv.fetch('/', { headers: { traceparent: VALID, tracestate: 'rojo=1' } });
    const body = (await res.json()) as Record<string, string>;
    expect(body.traceparent).toBe(`00-0af7651916cd43dd8448eb211c80319c-${body.spanId}-01`);
    expect(body.tracestate).toBe('rojo=1');
    const line = logs.find((e) => e.msg === 'handled');
    expect(line?.obj).toMatchObject({
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      span_id: body.spanId,
      trace_flags: '01',
    });
  });

  it('ignores a malformed traceparent without an error, starting a new trace', async () => {
    const { srv, logs } = await serveRoutes([url('/', Echo)]);
    const res = await srv.fetch('/', {
      headers: { traceparent: `00-${'0'.repeat(32)}-b7ad6b7169203331-01` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, string>;
    expect(body.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(body.traceparent).not.toContain('0'.repeat(32));
    expect(logs.find((e) => e.msg === 'handled')?.obj.trace_flags).toBe('00');
  });
});
