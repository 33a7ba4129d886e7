import { createServer } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from '../support/otlp.js';
import { fixture, type LogLine, startService, stopGracefully } from '../support/process.js';
import { freePort } from '../support/socket.js';
import { within } from '../support/wait.js';
import { TestSocket } from '../support/websocket.js';

const TRACED = fixture('traced-service.mjs');
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
const SERVER = 2;
const STATUS_ERROR = 2;

function exportEnv(receiver: OtlpReceiver, more: Record<string, string> = {}) {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '50',
    OTEL_SERVICE_NAME: 'traced',
    ...more,
  };
}

const named = (name: string) => (spans: ReceivedSpan[]) => spans.some((s) => s.name === name);

describe('span export over OTLP/HTTP', () => {
  it.each([
    ['http/protobuf', 'protobuf'],
    ['http/json', 'json'],
  ] as const)('exports a SERVER span per request (%s)', async (protocol, encoding) => {
    const receiver = await startOtlpReceiver();
    const service = await startService(
      exportEnv(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: protocol }),
      { script: TRACED },
    );
    const res = await service.fetch('/items/42', {
      headers: { traceparent: TRACEPARENT, tracestate: 'rojo=1', 'user-agent': 'tracing-test' },
    });
    expect(res.status).toBe(200);
    await service.fetch('/nowhere');
    const spans = await receiver.waitFor((s) => named('GET /items/{id}')(s) && named('GET')(s));
    const span = spans.find((s) => s.name === 'GET /items/{id}') as ReceivedSpan;
    expect(span).toMatchObject({
      encoding,
      traceId: TRACE_ID,
      parentSpanId: PARENT_ID,
      traceState: 'rojo=1',
      kind: SERVER,
      statusCode: 0,
    });
    expect(span.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/items/{id}',
      'http.response.status_code': 200,
      'url.path': '/items/42',
      'url.scheme': 'http',
      'server.address': '127.0.0.1',
      'server.port': service.port,
      'client.address': '127.0.0.1',
      'user_agent.original': 'tracing-test',
      'network.protocol.version': '1.1',
    });
    expect(span.resource).toMatchObject({ 'service.name': 'traced', 'service.version': '0.1.0' });
    expect(span.resource['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(receiver.requests.every((t) => t.includes(encoding === 'json' ? 'json' : 'protobuf')));
    const unmatched = spans.find((s) => s.name === 'GET') as ReceivedSpan;
    expect(unmatched.attributes['http.response.status_code']).toBe(404);
    expect(unmatched.attributes).not.toHaveProperty('http.route');
    expect(unmatched.parentSpanId).toBe('');

    // The span's ids are the ones in the request's log lines, and its outgoing calls name it.
    const access = await service.waitUntil(() =>
      service.logLines.find((l) => l.url === '/items/42' && 'statusCode' in l),
    );
    const inside = service.logLines.find((l) => l.msg === 'item served') as LogLine;
    for (const line of [access, inside]) {
      expect(line).toMatchObject({ trace_id: TRACE_ID, span_id: span.spanId, trace_flags: '01' });
    }
  });

  it('marks 5xx and thrown handlers as errors, the exception as an event', async () => {
    const receiver = await startOtlpReceiver();
    const service = await startService(exportEnv(receiver), { script: TRACED });
    expect((await service.fetch('/boom')).status).toBe(500);
    expect((await service.fetch('/unavailable')).status).toBe(503);
    const spans = await receiver.waitFor(
      (s) => named('GET /boom')(s) && named('GET /unavailable')(s),
    );
    const boom = spans.find((s) => s.name === 'GET /boom') as ReceivedSpan;
    expect(boom.statusCode).toBe(STATUS_ERROR);
    expect(boom.attributes['http.response.status_code']).toBe(500);
    expect(boom.events).toContainEqual({
      name: 'exception',
      attributes: expect.objectContaining({
        'exception.type': 'Error',
        'exception.message': 'kaput',
      }),
    });
    const down = spans.find((s) => s.name === 'GET /unavailable') as ReceivedSpan;
    expect(down).toMatchObject({ statusCode: STATUS_ERROR, events: [] });
    // A new trace: the sampler's decision (sampled) is in the propagated flags.
    const outgoing = (await (await service.fetch('/outgoing')).json()) as { traceparent: string };
    expect(outgoing.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('ends a long poll’s span when its answer is sent', async () => {
    const receiver = await startOtlpReceiver();
    const service = await startService(exportEnv(receiver), { script: TRACED });
    const held = service.fetch('/wait');
    await service.waitUntil(() => service.logLines.find((l) => l.msg === 'waiting'));
    await service.fetch('/items/1');
    await receiver.waitFor(named('GET /items/{id}'));
    expect(receiver.spans.some((s) => s.name === 'GET /wait')).toBe(false);
    await service.fetch('/release', { method: 'POST' });
    expect((await held).status).toBe(200);
    await receiver.waitFor(named('GET /wait'));
  });

  it('ends a WebSocket’s span at the 101, while the socket stays open', async () => {
    const receiver = await startOtlpReceiver();
    const service = await startService(exportEnv(receiver)); // the real entry: the chat socket
    const socket = new TestSocket(`ws://127.0.0.1:${service.port}/chat/socket`, [], {
      origin: service.origin,
      headers: { traceparent: TRACEPARENT },
    });
    await within(socket.opened, 5_000, 'the socket to open');
    const spans = await receiver.waitFor(named('GET /chat/socket'));
    const span = spans.find((s) => s.name === 'GET /chat/socket') as ReceivedSpan;
    expect(span).toMatchObject({ traceId: TRACE_ID, parentSpanId: PARENT_ID, statusCode: 0 });
    expect(span.attributes['http.response.status_code']).toBe(101);
    expect(socket.ws.readyState).toBe(socket.ws.OPEN);
    socket.ws.close();
  });

  it('exports from every worker with WORKERS=2', async () => {
    const receiver = await startOtlpReceiver();
    const service = await startService(exportEnv(receiver, { WORKERS: '2' })); // the real entry
    const instances = () => new Set(receiver.spans.map((s) => s.resource['service.instance.id']));
    for (let i = 0; i < 200 && instances().size < 2; i++) {
      await service.fetch('/', { headers: { connection: 'close' } });
      if (i % 20 === 19) await receiver.waitFor((s) => s.length >= i + 1);
    }
    expect(instances().size).toBe(2);
    expect(receiver.spans.every((s) => s.name === 'GET /')).toBe(true);
  });

  it('with the sampler off, exports nothing but the logs still carry the ids', async () => {
    const receiver = await startOtlpReceiver();
    const service = await startService(exportEnv(receiver, { OTEL_TRACES_SAMPLER: 'always_off' }), {
      script: TRACED,
    });
    await service.fetch('/items/1', { headers: { traceparent: TRACEPARENT } });
    const line = await service.waitUntil(() => service.logLines.find((l) => l.url === '/items/1'));
    expect(line).toMatchObject({ trace_id: TRACE_ID, trace_flags: '00' });
    expect(line.span_id).toMatch(/^[0-9a-f]{16}$/);
    await stopGracefully(service); // the shutdown flush: whatever was pending is sent by now
    expect(receiver.spans).toEqual([]);
  });
});

describe('an unreachable collector', () => {
  it('costs requests nothing and counts the dropped spans', async () => {
    const port = await freePort();
    const service = await startService(
      { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_BSP_SCHEDULE_DELAY: '50' },
      { script: TRACED },
    );
    for (let i = 0; i < 20; i++) expect((await service.fetch(`/items/${i}`)).status).toBe(200);
    await service.waitUntil(async () => {
      const text = await (await service.fetch('/metrics')).text();
      const dropped = /^otel_spans_dropped_total (\d+)/m.exec(text);
      return dropped && Number(dropped[1]) >= 20 ? true : undefined;
    });
    await stopGracefully(service);
  });

  it('never holds shutdown past its deadline', async () => {
    // Accepts connections and never answers.
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const { port } = silent.address() as import('node:net').AddressInfo;
    const service = await startService(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_BSP_SCHEDULE_DELAY: '10000',
        SHUTDOWN_TIMEOUT_MS: '1000',
      },
      { script: TRACED },
    );
    expect((await service.fetch('/items/1')).status).toBe(200);
    const started = performance.now();
    await stopGracefully(service);
    expect(performance.now() - started).toBeLessThan(4_000);
    expect(sockets.size).toBeGreaterThan(0); // the flush did try
  });
});
