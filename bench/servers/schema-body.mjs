// The validated JSON POST of bench/schema.mjs: a ~10-field body and the answer, as TypeBox
// schemas shared by every contender (the framework with and without schema, fastify).
import { Type } from '@sinclair/typebox';

const fields = {
  name: Type.String({ minLength: 1, maxLength: 100 }),
  email: Type.String({ maxLength: 200 }),
  age: Type.Integer({ minimum: 0, maximum: 150 }),
  active: Type.Boolean(),
  score: Type.Number({ minimum: 0 }),
  tags: Type.Array(Type.String({ maxLength: 20 }), { maxItems: 10 }),
  country: Type.String({ minLength: 2, maxLength: 2 }),
  city: Type.String({ maxLength: 100 }),
  zip: Type.String({ pattern: '^[0-9]{5}$' }),
  note: Type.String({ maxLength: 500 }),
};

export const Body = Type.Object(fields);
export const Answer = Type.Object({ id: Type.Integer(), ...fields });

export const SAMPLE = {
  name: 'Ada Lovelace',
  email: 'ada@example.org',
  age: 36,
  active: true,
  score: 98.5,
  tags: ['math', 'engines', 'poetry'],
  country: 'GB',
  city: 'London',
  zip: '12345',
  note: 'Notes on the analytical engine.',
};

/** The answer every contender gives: the body with an id (and nothing else). */
export const answerOf = (body) => ({ id: 1, ...body });
