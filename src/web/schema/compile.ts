import type { TSchema } from '@sinclair/typebox';
import type { Ajv, ErrorObject, Options, ValidateFunction } from 'ajv';
import type fastJson from 'fast-json-stringify';
import type { HandlerSchemas, RouteSchema } from './define.js';
import { precompiledSchemas, validationLibraries } from './vendor.js';

// Validators and serializers are compiled once per declared schema (when the application adds the
// route) and kept by schema object and by handler class: a request only looks them up. Those that
// `npm run build` compiled ahead of time (Ajv's and fast-json-stringify's standalone code, in
// dist/vendor/schemas-precompiled.cjs) are taken from there by their schema's text and options:
// the service then starts without loading Ajv at all. A schema changed since the build, or one
// the build did not see, is compiled at start-up as before.

/** A compiled validator of one part of the request; `null` when the part is not declared. */
export type PartValidator = ValidateFunction | null;

/** A validator that only says yes or no (its failures are listed by another). */
export type FirstFailureValidator = ((value: unknown) => boolean) | null;

/** What a request of one verb is checked and answered with. */
export interface CompiledSchema {
  readonly schema: RouteSchema;
  readonly params: PartValidator;
  readonly query: PartValidator;
  readonly headers: PartValidator;
  readonly body: PartValidator;
  /**
   * The same four validators stopping at the first failure. A request is checked with these; the
   * ones above (which list every failure, up to Ajv's `allErrors`) run only on a request that
   * fails, for its answer's `errors` member: collecting every error costs each valid request too.
   */
  readonly firstFailure: {
    readonly params: FirstFailureValidator;
    readonly query: FirstFailureValidator;
    readonly headers: FirstFailureValidator;
    readonly body: FirstFailureValidator;
  };
  /** Query properties whose schema is an array (they take every value of the argument). */
  readonly queryArrays: ReadonlySet<string>;
  /** The declared query and header names, in the order validation reads them. */
  readonly queryNames: readonly string[];
  readonly headerNames: readonly string[];
  /** Status → compiled serializer of that response's body. */
  readonly serializers: ReadonlyMap<number, (value: unknown) => string>;
}

/** A handler class's compiled schemas by verb function name; `null`: it declares none. */
export type CompiledSchemas = ReadonlyMap<string, CompiledSchema> | null;

// `validateSchema: false`: checking each schema against the JSON Schema meta-schema first costs
// some 50 ms of start-up (compiling the meta-schema); strict mode still refuses unknown keywords,
// formats and types when a schema compiles.
const COMMON: Options = { useDefaults: true, strict: true, validateSchema: false };
/** Ajv instances by kind ('url', 'strip', 'refuse') and whether they collect every error. */
const instances = new Map<string, Ajv>();

/** How a part of the request is validated: coerced from text, stripped or refused. */
export type ValidatorKind = 'url' | 'strip' | 'refuse';

/**
 * Ajv's options for validators of `kind` (with ajv-formats' formats added): the build compiles
 * ahead of time with these same options.
 */
export function ajvOptions(kind: ValidatorKind, allErrors: boolean): Options {
  const options: Options = { ...COMMON, allErrors };
  // Path parameters, query arguments and headers are text: coerced to what the schema says.
  if (kind === 'url') options.coerceTypes = 'array';
  if (kind === 'strip') options.removeAdditional = 'all';
  return options;
}

function ajvFor(kind: ValidatorKind, allErrors: boolean): Ajv {
  const key = `${kind} ${allErrors}`;
  let ajv = instances.get(key);
  if (ajv === undefined) {
    const { Ajv: AjvClass, addFormats } = validationLibraries();
    ajv = new AjvClass(ajvOptions(kind, allErrors));
    addFormats(ajv); // `date-time`, `email`, `uri`, `uuid`… as JSON Schema defines them
    instances.set(key, ajv);
  }
  return ajv;
}

/** What was compiled at run time (not found precompiled), for the build to compile ahead. */
export type CompiledAtRunTime =
  | {
      readonly key: string;
      readonly kind: ValidatorKind;
      readonly allErrors: boolean;
      readonly schema: unknown;
    }
  | { readonly key: string; readonly kind: 'serializer'; readonly schema: unknown };

const compiledAtRunTime: CompiledAtRunTime[] = [];

/** The validators and serializers this process compiled itself, in order. */
export function schemasCompiledAtRunTime(): readonly CompiledAtRunTime[] {
  return compiledAtRunTime;
}

/**
 * What a compiled validator or serializer is found by among the precompiled ones: what it is
 * and its schema's JSON text (TypeBox's symbol-keyed markers are not part of it, and Ajv does
 * not read them either). `undefined` for a schema with no JSON text (a cycle, a BigInt).
 */
export function schemaKey(kind: ValidatorKind | 'serializer', allErrors: boolean, schema: unknown) {
  try {
    return `${kind}${kind === 'serializer' ? '' : ` ${allErrors}`} ${JSON.stringify(schema)}`;
  } catch {
    return undefined;
  }
}

function validator(kind: ValidatorKind, allErrors: boolean, schema: TSchema): ValidateFunction {
  const key = schemaKey(kind, allErrors, schema);
  const ready = key === undefined ? undefined : precompiledSchemas()?.validators.get(key);
  if (ready !== undefined) return ready;
  if (key !== undefined) compiledAtRunTime.push({ key, kind, allErrors, schema });
  return ajvFor(kind, allErrors).compile(schema);
}

function serializer(schema: unknown): (value: unknown) => string {
  const key = schemaKey('serializer', false, schema);
  const ready = key === undefined ? undefined : precompiledSchemas()?.serializers.get(key);
  if (ready !== undefined) return ready;
  if (key !== undefined) compiledAtRunTime.push({ key, kind: 'serializer', schema });
  return validationLibraries().fastJson(schema as fastJson.AnySchema) as (v: unknown) => string;
}

/** One part's validators: stopping at the first failure, and listing every failure. */
function compilePart(
  kind: ValidatorKind,
  schema: TSchema | undefined,
): [first: PartValidator, all: PartValidator] {
  if (schema === undefined) return [null, null];
  return [validator(kind, false, schema), validator(kind, true, schema)];
}

/**
 * The body's validators when unknown properties are stripped. Ajv's stripping (`removeAdditional:
 * 'all'`) looks up every key of every object in the schema's `properties` (a `hasOwnProperty`
 * call each, past 8 properties), on each request; most bodies have nothing to strip. When the
 * top object is the only place Ajv would strip (see {@link unknownPropertyTest}), a body without
 * undeclared keys is checked by the same schema compiled without stripping, which then has
 * nothing to do: same outcome, same (unchanged) value. Failures are listed by the stripping one.
 */
function compileStrippedBody(schema: TSchema): [first: FirstFailureValidator, all: PartValidator] {
  const [strip, all] = compilePart('strip', schema);
  const hasUnknown = unknownPropertyTest(schema);
  if (hasUnknown === null || strip === null) return [strip, all];
  const plain = validator('refuse', false, schema); // that instance does not strip
  return [(value) => (hasUnknown(value) ? strip(value) : plain(value)), all];
}

/** Keywords under which Ajv's `removeAdditional: 'all'` would strip, or might (a reference). */
const STRIPS_BELOW = ['properties', 'additionalProperties', '$ref', '$dynamicRef', '$recursiveRef'];

/** Whether a (sub)schema, or anything inside it, holds one of {@link STRIPS_BELOW}. */
function mayStrip(schema: unknown): boolean {
  if (typeof schema !== 'object' || schema === null) return false;
  if (Array.isArray(schema)) return schema.some(mayStrip);
  if (STRIPS_BELOW.some((keyword) => Object.hasOwn(schema, keyword))) return true;
  return Object.values(schema).some(mayStrip);
}

/**
 * For a schema whose top object declares `properties` (no `additionalProperties`) and nothing
 * below it that strips: a test of whether a value may have a property Ajv would strip (a key of an
 * object at the top not in `properties`). A valid object with no more keys than the declared
 * required ones has exactly those; otherwise its keys are looked up. `null`: no such schema.
 */
function unknownPropertyTest(schema: TSchema): ((value: unknown) => boolean) | null {
  const { properties, required, additionalProperties } = schema as {
    properties?: unknown;
    required?: unknown;
    additionalProperties?: unknown;
  };
  if (typeof properties !== 'object' || properties === null || additionalProperties !== undefined) {
    return null;
  }
  if (STRIPS_BELOW.some((keyword) => keyword !== 'properties' && Object.hasOwn(schema, keyword))) {
    return null;
  }
  const rest = Object.entries(schema).filter(([keyword]) => keyword !== 'properties');
  if (mayStrip(rest.map(([, value]) => value)) || mayStrip(Object.values(properties))) return null;
  const declared = new Set(Object.keys(properties));
  // Required and declared, without a default: a valid plain object has each of them as a key of
  // its own (a default fills in what a body lacks, a required name not declared is itself
  // stripped, and Object.prototype could answer for `toString` and the like).
  const byName = properties as Record<string, unknown>;
  const requiredDeclared = new Set(
    (Array.isArray(required) ? required : []).filter(
      (name) =>
        declared.has(name) &&
        !(name in Object.prototype) &&
        !Object.hasOwn(byName[name] as object, 'default'),
    ),
  ).size;
  return (value) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
    // Not what JSON.parse makes (a class instance checked by `validateBody`, say): Ajv strips.
    if (Object.getPrototypeOf(value) !== Object.prototype) return true;
    let count = 0;
    for (const _ in value) count++;
    if (count <= requiredDeclared) return false;
    for (const key in value) if (!declared.has(key)) return true;
    return false;
  };
}

/** A copy of `schema` in which every object without its own rule refuses undeclared properties. */
function closeObjects(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (typeof schema !== 'object' || schema === null) return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = closeObjects(value);
  if (copy.type === 'object' && copy.additionalProperties === undefined) {
    copy.additionalProperties = false;
  }
  return copy;
}

function propertyNames(schema: TSchema | undefined): string[] {
  const properties = (schema as { properties?: Record<string, unknown> } | undefined)?.properties;
  return properties === undefined ? [] : Object.keys(properties);
}

const compiledBySchema = new WeakMap<RouteSchema, CompiledSchema>();

/** Compiles one verb's schema (once per schema object; later calls return the same result). */
export function compileSchema(schema: RouteSchema): CompiledSchema {
  let compiled = compiledBySchema.get(schema);
  if (compiled !== undefined) return compiled;
  const queryArrays = new Set<string>();
  const queryProps = (schema.query as { properties?: Record<string, { type?: unknown }> })
    ?.properties;
  for (const [name, prop] of Object.entries(queryProps ?? {})) {
    if (prop.type === 'array') queryArrays.add(name);
  }
  const mode = schema.unknownProperties ?? 'strip';
  const serializers = new Map<number, (value: unknown) => string>();
  for (const [status, body] of Object.entries(schema.responses ?? {})) {
    serializers.set(Number(status), serializer(body));
  }
  const params = compilePart('url', schema.params);
  const query = compilePart('url', schema.query);
  const headers = compilePart('url', schema.headers);
  const body =
    schema.body === undefined
      ? compilePart(mode, undefined)
      : mode === 'refuse'
        ? compilePart(mode, closeObjects(schema.body) as TSchema)
        : compileStrippedBody(schema.body);
  compiled = {
    schema,
    params: params[1],
    query: query[1],
    headers: headers[1],
    body: body[1],
    firstFailure: { params: params[0], query: query[0], headers: headers[0], body: body[0] },
    queryArrays,
    queryNames: propertyNames(schema.query),
    headerNames: propertyNames(schema.headers).map((name) => name.toLowerCase()),
    serializers,
  };
  compiledBySchema.set(schema, compiled);
  return compiled;
}

const compiledByClass = new WeakMap<object, CompiledSchemas>();
const VERBS = new Set(['get', 'head', 'post', 'put', 'patch', 'delete', 'options']);

/** The schemas a handler class declares (`static schema`), compiled on first call. */
export function compiledSchemasOf(klass: object): CompiledSchemas {
  let compiled = compiledByClass.get(klass);
  if (compiled === undefined) {
    const declared = (klass as { schema?: HandlerSchemas }).schema;
    if (declared === undefined || declared === null) {
      compiled = null;
    } else {
      const byVerb = new Map<string, CompiledSchema>();
      const proto = (klass as { prototype?: Record<string, unknown> }).prototype ?? {};
      for (const [verb, schema] of Object.entries(declared)) {
        if (schema === undefined) continue;
        // A misspelt verb would otherwise leave the real one unchecked, silently.
        if (!VERBS.has(verb) || typeof proto[verb] !== 'function') {
          const name = (klass as { name?: string }).name ?? 'handler';
          throw new TypeError(`${name}.schema.${verb}: the class has no ${verb}() verb method`);
        }
        byVerb.set(verb, compileSchema(schema));
      }
      compiled = byVerb.size === 0 ? null : byVerb;
    }
    compiledByClass.set(klass, compiled);
  }
  return compiled;
}

/** Most entries in an answer's `errors` member. */
export const MAX_REPORTED_ERRORS = 10;

/** One failure, as reported in a problem's `errors` member. */
export interface ValidationFailure {
  /** JSON Pointer into the request: `/body/text`, `/query/timeout`, `/headers/x-token`. */
  readonly pointer: string;
  readonly detail: string;
}

function escapePointer(name: string): string {
  return name.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Ajv's errors as pointers into the request part `part`, without schema internals. */
export function failuresOf(part: string, errors: readonly ErrorObject[]): ValidationFailure[] {
  const failures: ValidationFailure[] = [];
  for (const error of errors) {
    if (failures.length === MAX_REPORTED_ERRORS) break;
    let pointer = `/${part}${error.instancePath}`;
    let detail = error.message ?? 'is not valid';
    const params = error.params as Record<string, unknown>;
    if (error.keyword === 'required') {
      pointer += `/${escapePointer(String(params.missingProperty))}`;
      detail = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      pointer += `/${escapePointer(String(params.additionalProperty))}`;
      detail = 'is not allowed';
    } else if (error.keyword === 'pattern' || error.keyword === 'format') {
      detail = 'does not have the expected format';
    }
    failures.push({ pointer, detail });
  }
  return failures;
}
