/**
 * A body validator that strips unknown properties skips Ajv's stripping pass when a body has
 * nothing to strip (src/web/schema/compile.ts, `compileStrippedBody`). Whatever the body, it must
 * answer and leave the value exactly as Ajv's `removeAdditional: 'all'` does.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileSchema } from '../../../src/web/schema/compile.js';
import { route } from '../../../src/web/schema/define.js';
import { Type, validationLibraries } from '../../../src/web/schema/vendor.js';

const validation = validationLibraries();

const reference = validation.addFormats(
  new validation.Ajv({
    useDefaults: true,
    strict: true,
    validateSchema: false,
    removeAdditional: 'all',
  }),
);

const Tags = Type.Array(Type.String({ maxLength: 3 }), { maxItems: 2 });
const schemas = {
  // All required, more than 8 (Ajv's `hasOwnProperty` lookups): the bench's shape.
  required: Type.Object({
    a: Type.String(),
    b: Type.Integer({ minimum: 0 }),
    c: Type.Boolean(),
    d: Type.Number(),
    e: Type.String({ maxLength: 2 }),
    f: Tags,
    g: Type.String(),
    h: Type.String(),
    i: Type.String(),
  }),
  // Optional properties, one with a default.
  optional: Type.Object({
    a: Type.String(),
    b: Type.Optional(Type.Integer()),
    c: Type.Integer({ default: 7 }),
    d: Type.Optional(Tags),
  }),
  // A nested object: Ajv strips inside it too, so every body goes through Ajv's stripping.
  nested: Type.Object({ a: Type.String(), n: Type.Object({ x: Type.Integer() }) }),
  // Keys matching a pattern are not unknown to Ajv.
  patterns: Type.Object(
    { a: Type.String() },
    { patternProperties: { '^x-': Type.String() }, minProperties: 1 },
  ),
} as const;

const keys = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'n', 'x', 'x-1', 'zz');
const leaf = fc.oneof(
  fc.string({ maxLength: 4 }),
  fc.integer({ min: -2, max: 9 }),
  fc.double({ noNaN: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }),
);
const value = fc.oneof(
  leaf,
  fc.dictionary(keys, leaf, { maxKeys: 3 }),
  fc.array(fc.dictionary(keys, leaf), { maxLength: 2 }),
);
/** Bodies: mostly objects with declared, undeclared and nested keys; sometimes not objects. */
const body = fc.oneof(
  { weight: 6, arbitrary: fc.dictionary(keys, value, { maxKeys: 12 }) },
  { weight: 1, arbitrary: value },
);

describe('body validation with unknown properties stripped', () => {
  for (const [name, schema] of Object.entries(schemas)) {
    it(`answers and strips as Ajv's removeAdditional 'all' (${name})`, () => {
      const first = compileSchema(route({ body: schema })).firstFailure.body;
      const all = compileSchema(route({ body: schema })).body;
      const expected = reference.compile(schema);
      fc.assert(
        fc.property(body, (input) => {
          const ours = structuredClone(input);
          const theirs = structuredClone(input);
          const valid = expected(theirs);
          expect(first?.(ours)).toBe(valid);
          if (valid) expect(ours).toStrictEqual(theirs);
          else expect(all?.(structuredClone(input))).toBe(false);
        }),
        { numRuns: 3000 },
      );
    });
  }

  it('strips a valid body with an undeclared key and keeps one without', () => {
    const first = compileSchema(route({ body: schemas.optional })).firstFailure.body;
    const extra = { a: 'x', zz: 1 };
    expect(first?.(extra)).toBe(true);
    expect(extra).toStrictEqual({ a: 'x', c: 7 });
    const declared = { a: 'x', b: 2, c: 3 };
    expect(first?.(declared)).toBe(true);
    expect(declared).toStrictEqual({ a: 'x', b: 2, c: 3 });
  });

  it('strips what only looks complete: inherited required properties', () => {
    // `toString` is required and any value fits: Object.prototype's answers for it.
    const Inherited = Type.Object({ toString: Type.Unknown() });
    const first = compileSchema(route({ body: Inherited })).firstFailure.body;
    const plain = { zz: 1 };
    expect(first?.(plain)).toBe(true);
    expect(plain).toStrictEqual({});
    // A class instance whose getter answers for a required property.
    class Message {
      zz = 1;
      get a(): string {
        return 'x';
      }
    }
    const OnlyA = Type.Object({ a: Type.String() });
    const instance = new Message();
    const expected = reference.compile(OnlyA);
    const theirs = new Message();
    expect(compileSchema(route({ body: OnlyA })).firstFailure.body?.(instance)).toBe(
      expected(theirs),
    );
    expect(Object.keys(instance)).toEqual(Object.keys(theirs));
    expect(Object.keys(instance)).toEqual([]);
  });
});
