/**
 * `npm run build` compiles the service's validators and serializers ahead of time
 * (scripts/precompile-schemas.mjs → dist/vendor/schemas-precompiled.cjs): they must behave exactly
 * as the ones Ajv and fast-json-stringify compile at start-up (which is what runs from src/, here),
 * be found by the key the framework computes, and carry the licences of what they bundle.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PollMessages, PostMessage } from '../../../src/app/chat-handlers.js';
import {
  compileSchema,
  schemaKey,
  schemasCompiledAtRunTime,
  type ValidatorKind,
} from '../../../src/web/schema/compile.js';
import type { RouteSchema } from '../../../src/web/schema/define.js';
import type { PrecompiledSchemas } from '../../../src/web/schema/vendor.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const FILE = path.join(ROOT, 'dist/vendor/schemas-precompiled.cjs');
const precompiled = createRequire(import.meta.url)(FILE) as PrecompiledSchemas;

type Validate = ((data: unknown) => boolean) & { errors?: unknown };

/** Runs `validate` on a copy of `input`: its verdict, the data as it left it, its errors. */
function outcome(validate: Validate, input: unknown) {
  const data = structuredClone(input);
  const valid = validate(data);
  return { valid, data, errors: valid ? null : validate.errors };
}

const queries = [
  {},
  { after: '3' },
  { after: '3', timeout: '10' },
  { after: ['3'], timeout: '0.5' },
  { after: '-1' },
  { after: 'x', timeout: 'abc' },
  { after: '9007199254740992' },
  { after: '1.5' },
  { timeout: '-2' },
  { after: '', timeout: '' },
  { after: ['1', '2'] },
  { other: 'kept or not' },
];
const bodies = [
  { text: 'hi' },
  { text: 'hi', extra: 1, nested: { a: 1 } },
  { text: '' },
  { text: 'x'.repeat(1001) },
  { text: 42 },
  {},
  { tex: 'hi' },
  [],
  'text',
  null,
  { text: '😀'.repeat(500) },
];

describe('precompiled validators', () => {
  const cases: [string, ValidatorKind, RouteSchema, 'query' | 'body', unknown[]][] = [
    ['GET /chat/messages query', 'url', PollMessages, 'query', queries],
    ['POST /chat/messages body', 'strip', PostMessage, 'body', bodies],
  ];
  it.each(cases)(
    '%s: the same verdicts, data and errors as compiled at start-up',
    (_, kind, schema, part, inputs) => {
      const compiled = compileSchema(schema);
      const declared = schema[part];
      for (const allErrors of [false, true]) {
        const key = schemaKey(kind, allErrors, declared) as string;
        const ahead = precompiled.validators.get(key) as Validate | undefined;
        expect(ahead, `precompiled ${key.slice(0, 40)}…`).toBeTypeOf('function');
        const atStart = (allErrors ? compiled[part] : compiled.firstFailure[part]) as Validate;
        for (const input of inputs) {
          const expected = outcome(atStart, input);
          const got = outcome(ahead as Validate, input);
          // A first-failure validator answers yes or no (the failures come from the other one),
          // and a stripped body's may be two validators (compile.ts, compileStrippedBody).
          if (!allErrors) expected.errors = got.errors = null;
          expect(got, JSON.stringify(input)).toEqual(expected);
        }
      }
    },
  );

  it('compiled at start-up from src/ (no build output there), and listed for the build', () => {
    compileSchema(PostMessage);
    const keys = schemasCompiledAtRunTime().map((entry) => entry.key);
    expect(keys).toContain(schemaKey('strip', false, PostMessage.body));
    expect(keys).toContain(schemaKey('strip', true, PostMessage.body));
    expect(keys).toContain(schemaKey('serializer', false, PostMessage.responses?.[201]));
  });
});

describe('precompiled serializers', () => {
  const message = { id: 7, text: 'a "quoted" \u0001 line\n', at: '2026-12-07T08:00:00.000Z' };
  const cases: [string, RouteSchema, number, unknown[]][] = [
    ['201 of POST', PostMessage, 201, [message, { ...message, secret: 'dropped' }]],
    [
      '200 of GET',
      PollMessages,
      200,
      [{ messages: [] }, { messages: [message, { ...message, id: 8, internal: true }] }],
    ],
    ['204 of GET', PollMessages, 204, [null]],
  ];
  it.each(cases)('%s: the same text as compiled at start-up', (_, schema, status, values) => {
    const key = schemaKey('serializer', false, schema.responses?.[status]) as string;
    const ahead = precompiled.serializers.get(key);
    expect(ahead).toBeTypeOf('function');
    const atStart = compileSchema(schema).serializers.get(status) as (v: unknown) => string;
    for (const value of values) {
      const text = (ahead as (v: unknown) => string)(value);
      expect(text).toBe(atStart(value));
      expect(text).not.toContain('secret');
    }
  });
});

describe('dist/vendor/schemas-precompiled.cjs', () => {
  it('starts with the licence of every package it bundles', () => {
    const text = readFileSync(FILE, 'utf8');
    const header = text.slice(0, text.indexOf('*/'));
    for (const name of ['ajv', 'fast-json-stringify']) {
      const { version } = JSON.parse(
        readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8'),
      );
      expect(header).toContain(`\n${name} ${version} (`);
    }
  });
});
