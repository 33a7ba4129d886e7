/**
 * The schema libraries, from the bundles `npm run build` makes in dist/vendor/
 * (scripts/bundle-vendor.mjs), else from their packages.
 *
 * TypeBox, Ajv (with ajv-formats) and fast-json-stringify are some 700 small CommonJS files; on
 * Node 24 loading them file by file took ~130 ms and ~25 MiB of the service's start-up, as one
 * file each a fraction of that (bench/analysis.md, "Start-up"). The bundles are the packages'
 * own code, unchanged (same functions, same schemas: TypeBox's markers are `Symbol.for`
 * symbols); types come from the packages. Run from src/ (Vitest), where there are no bundles, the
 * packages are loaded instead.
 */
import { createRequire } from 'node:module';
import type * as TypeBox from '@sinclair/typebox';
import type { Ajv, ValidateFunction } from 'ajv';
import type fastJson from 'fast-json-stringify';

/** The bundles, from dist/web/schema/. */
export const BUNDLES = {
  typebox: '../../vendor/typebox-type.cjs',
  validation: '../../vendor/schema-validation.cjs',
  precompiled: '../../vendor/schemas-precompiled.cjs',
} as const;

const require = createRequire(import.meta.url);

function load<T>(bundle: string, fromPackages: () => T): T {
  try {
    return require(bundle) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    return fromPackages();
  }
}

/** TypeBox's schema builders (`Type.Object`, `Type.String`, …). */
export const Type: typeof TypeBox.Type = load<typeof TypeBox>(
  BUNDLES.typebox,
  () => require('@sinclair/typebox') as typeof TypeBox,
).Type;

/** What the validation bundle exports (scripts/bundle-vendor.mjs writes its entry). */
export interface ValidationLibraries {
  readonly Ajv: typeof Ajv;
  /** ajv-formats' plugin: adds `date-time`, `email`, `uri`, … to an Ajv. */
  readonly addFormats: (ajv: Ajv) => Ajv;
  readonly fastJson: typeof fastJson;
}

let validation: ValidationLibraries | undefined;

/**
 * Ajv, ajv-formats and fast-json-stringify (which uses that same Ajv), loaded on first call: a
 * service whose schemas were all compiled by `npm run build` (see {@link precompiledSchemas})
 * never loads them.
 */
export function validationLibraries(): ValidationLibraries {
  validation ??= load<ValidationLibraries>(BUNDLES.validation, () => ({
    Ajv: require('ajv').Ajv,
    addFormats: require('ajv-formats').default,
    fastJson: require('fast-json-stringify'),
  }));
  return validation;
}

/** Validators and serializers compiled ahead of time, by key (see compile.ts's `schemaKey`). */
export interface PrecompiledSchemas {
  readonly validators: ReadonlyMap<string, ValidateFunction>;
  readonly serializers: ReadonlyMap<string, (value: unknown) => string>;
}

let precompiled: PrecompiledSchemas | null | undefined;

/**
 * The validators and serializers `npm run build` compiled from the example's routes
 * (scripts/precompile-schemas.mjs, Ajv's and fast-json-stringify's standalone code), or `null` where
 * there are none (running from src/, or a build without them).
 */
export function precompiledSchemas(): PrecompiledSchemas | null {
  precompiled ??= load<PrecompiledSchemas | null>(BUNDLES.precompiled, () => null);
  return precompiled;
}
