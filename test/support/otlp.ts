/**
 * A real OTLP/HTTP trace receiver for tests: an HTTP server on loopback taking
 * `POST /v1/traces` in protobuf (decoded here from the wire format, independently of the
 * exporter's encoder) or JSON, and keeping every span it received in one normalised shape.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { onTestFinished } from 'vitest';
import { until } from './wait.js';

type Value = string | number | boolean | null;

/** A span as received, whichever encoding carried it. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly traceState: string;
  readonly name: string;
  /** OTLP `SpanKind`: 2 is SERVER. */
  readonly kind: number;
  readonly attributes: Record<string, Value>;
  readonly events: { name: string; attributes: Record<string, Value> }[];
  /** OTLP `Status.code`: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly resource: Record<string, Value>;
  /** `protobuf` or `json`: how it came. */
  readonly encoding: 'protobuf' | 'json';
}

/** One protobuf field: its number and its value (a varint, fixed bytes or a length-delimited slice). */
interface Field {
  readonly no: number;
  readonly int: bigint;
  readonly bytes: Buffer;
}

/** Splits a protobuf message into its fields (wire types 0, 1, 2 and 5). */
function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[at++] as number;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, int: varint(), bytes: Buffer.alloc(0) });
    else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      const bytes = buf.subarray(at, at + size);
      at += size;
      out.push({
        no,
        int: wire === 1 ? bytes.readBigUInt64LE() : BigInt(bytes.readUInt32LE()),
        bytes,
      });
    } else if (wire === 2) {
      const length = Number(varint());
      out.push({ no, int: 0n, bytes: buf.subarray(at, at + length) });
      at += length;
    } else throw new Error(`unexpected protobuf wire type ${wire}`);
  }
  return out;
}

const all = (fs: Field[], no: number) => fs.filter((f) => f.no === no);
const one = (fs: Field[], no: number) => fs.find((f) => f.no === no);

function anyValue(buf: Buffer): Value {
  const f = fields(buf)[0];
  if (f === undefined) return null;
  if (f.no === 1) return f.bytes.toString('utf8');
  if (f.no === 2) return f.int !== 0n;
  if (f.no === 3) return Number(BigInt.asIntN(64, f.int));
  if (f.no === 4) return f.bytes.readDoubleLE();
  return f.bytes.toString('hex');
}

function protoAttributes(fs: Field[], no: number): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const kv of all(fs, no)) {
    const parts = fields(kv.bytes);
    const key = one(parts, 1)?.bytes.toString('utf8') ?? '';
    const value = one(parts, 2);
    out[key] = value === undefined ? null : anyValue(value.bytes);
  }
  return out;
}

function fromProtobuf(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of all(fields(body), 1)) {
    const rsf = fields(rs.bytes);
    const resourceField = one(rsf, 1);
    const resource = resourceField ? protoAttributes(fields(resourceField.bytes), 1) : {};
    for (const ss of all(rsf, 2)) {
      for (const s of all(fields(ss.bytes), 2)) {
        const sf = fields(s.bytes);
        const text = (no: number) => one(sf, no)?.bytes.toString('utf8') ?? '';
        const hex = (no: number) => one(sf, no)?.bytes.toString('hex') ?? '';
        const status = one(sf, 15);
        spans.push({
          traceId: hex(1),
          spanId: hex(2),
          traceState: text(3),
          parentSpanId: hex(4),
          name: text(5),
          kind: Number(one(sf, 6)?.int ?? 0n),
          attributes: protoAttributes(sf, 9),
          events: all(sf, 11).map((e) => {
            const ef = fields(e.bytes);
            return {
              name: one(ef, 2)?.bytes.toString('utf8') ?? '',
              attributes: protoAttributes(ef, 3),
            };
          }),
          statusCode: status ? Number(one(fields(status.bytes), 3)?.int ?? 0n) : 0,
          resource,
          encoding: 'protobuf',
        });
      }
    }
  }
  return spans;
}

interface JsonKeyValue {
  key: string;
  value: Record<string, unknown>;
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const { key, value } of list ?? []) {
    if ('stringValue' in value) out[key] = value.stringValue as string;
    else if ('intValue' in value) out[key] = Number(value.intValue);
    else if ('boolValue' in value) out[key] = value.boolValue as boolean;
    else if ('doubleValue' in value) out[key] = Number(value.doubleValue);
    else out[key] = null;
  }
  return out;
}

function fromJson(body: Buffer): ReceivedSpan[] {
  // biome-ignore lint/suspicious/noExplicitAny: the OTLP/JSON document as sent
  const doc = JSON.parse(body.toString('utf8')) as any;
  const spans: ReceivedSpan[] = [];
  for (const rs of doc.resourceSpans ?? []) {
    const resource = jsonAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: s.traceId,
          spanId: s.spanId,
          traceState: s.traceState ?? '',
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: s.kind,
          attributes: jsonAttributes(s.attributes),
          events: (s.events ?? []).map((e: { name: string; attributes?: JsonKeyValue[] }) => ({
            name: e.name,
            attributes: jsonAttributes(e.attributes),
          })),
          statusCode: s.status?.code ?? 0,
          resource,
          encoding: 'json',
        });
      }
    }
  }
  return spans;
}

/** A running receiver. */
export interface OtlpReceiver {
  /** `http://127.0.0.1:PORT`: the value for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  readonly endpoint: string;
  /** Every span received so far. */
  readonly spans: ReceivedSpan[];
  /** Export requests received so far, with their content types. */
  readonly requests: string[];
  /** Waits until `predicate` holds for the received spans (`within` ms), returns them. */
  waitFor(predicate: (spans: ReceivedSpan[]) => boolean, within?: number): Promise<ReceivedSpan[]>;
}

/** Starts a receiver on a free loopback port until the end of the calling test. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const type = req.headers['content-type'] ?? '';
      requests.push(type);
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const json = type.startsWith('application/json');
      spans.push(...(json ? fromJson(body) : fromProtobuf(body)));
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    requests,
    async waitFor(predicate, within = 10_000) {
      await until(
        () => predicate(spans),
        () => `${spans.length} spans so far`,
        {
          timeoutMs: within,
        },
      );
      return spans;
    },
  };
}
