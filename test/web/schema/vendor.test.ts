/**
 * The built service takes the schema libraries from the bundles `npm run build` makes
 * (scripts/bundle-vendor.mjs, loaded by src/web/schema/vendor.ts), not from the packages' ~700
 * files; the bundles carry every bundled package's licence and behave as the packages do.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Type as PackageType } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import type { ValidationLibraries } from '../../../src/web/schema/vendor.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const VENDOR = path.join(ROOT, 'dist/vendor');

describe('schema library bundles', () => {
  it.each([
    ['typebox-type.cjs', ['@sinclair/typebox']],
    ['schema-validation.cjs', ['ajv', 'ajv-formats', 'fast-json-stringify', 'fast-uri']],
    ['service-packages.cjs', ['pino', 'sonic-boom', 'negotiator', 'secure-json-parse']],
  ])('%s starts with the licence of every package in it', (file, packages) => {
    const text = readFileSync(path.join(VENDOR, file), 'utf8');
    const header = text.slice(0, text.indexOf('*/'));
    for (const name of packages) {
      const { version } = JSON.parse(
        readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8'),
      );
      expect(header).toContain(`\n${name} ${version} (`);
    }
    expect(header).toContain('Permission is hereby granted, free of charge');
  });

  it('are what dist/ loads, and the packages are not loaded', () => {
    // A schema no build compiled ahead: Ajv and fast-json-stringify load to compile it.
    const script = `import('./dist/web/schema/index.js').then(({ Type, compileSchema }) => {
      compileSchema({ body: Type.Object({ n: Type.Integer() }), responses: { 200: Type.Null() } });
      console.log(JSON.stringify(Object.keys(require.cache)));
    })`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
    const loaded = (JSON.parse(out) as string[]).map((f) => path.relative(ROOT, f));
    expect(loaded).toContain('dist/vendor/typebox-type.cjs');
    expect(loaded).toContain('dist/vendor/schema-validation.cjs');
    const bundled = /^node_modules\/(@sinclair\/typebox|ajv|ajv-formats|fast-json-stringify)\//;
    expect(loaded.filter((f) => bundled.test(f))).toEqual([]);
  });

  it('TypeBox from the bundle builds the same schemas as the package', async () => {
    const { Type } = (await import(path.join(VENDOR, 'typebox-type.cjs'))) as {
      Type: typeof PackageType;
    };
    const build = (T: typeof PackageType) =>
      T.Object(
        {
          text: T.String({ minLength: 1, maxLength: 10 }),
          tags: T.Optional(T.Array(T.Union([T.Literal('a'), T.Literal('b')]))),
          at: T.Integer({ minimum: 0 }),
        },
        { additionalProperties: false },
      );
    const fromBundle = build(Type);
    const fromPackage = build(PackageType);
    expect(JSON.stringify(fromBundle)).toBe(JSON.stringify(fromPackage));
    const kinds = (schema: object) =>
      Object.getOwnPropertySymbols(schema).map((s) => [String(s), (schema as never)[s]]);
    expect(kinds(fromBundle)).toEqual(kinds(fromPackage));
  });

  it('Ajv, its formats and fast-json-stringify from the bundle work', async () => {
    const { Ajv, addFormats, fastJson } = (await import(
      path.join(VENDOR, 'schema-validation.cjs')
    )) as ValidationLibraries;
    const ajv = new Ajv({ allErrors: true });
    addFormats(ajv);
    const validate = ajv.compile({
      type: 'object',
      properties: { mail: { type: 'string', format: 'email' }, n: { type: 'integer' } },
      required: ['mail'],
    });
    expect(validate({ mail: 'a@example.com', n: 1 })).toBe(true);
    expect(validate({ mail: 'nope', n: 1.5 })).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath)).toEqual(['/mail', '/n']);
    const serialize = fastJson({ type: 'object', properties: { a: { type: 'string' } } });
    expect(serialize({ a: 'x', secret: 1 })).toBe('{"a":"x"}');
  });
});
