import type { IncomingMessage } from 'node:http';
import type { ValidateFunction } from 'ajv';
import { pickUrlEncoded } from '../arguments.js';
import { parseJsonBody } from '../body.js';
import { HttpError } from '../errors.js';
import {
  type CompiledSchema,
  compileSchema,
  type FirstFailureValidator,
  failuresOf,
} from './compile.js';
import type { RouteInput, RouteSchema } from './define.js';

/** What validation reads of a handler. */
export interface SchemaSubject {
  readonly request: IncomingMessage;
  readonly pathArgs: readonly string[];
  readonly route: { readonly paramNames: readonly string[] } | null;
  readonly queryString: string;
  readonly application: { readonly settings: { readonly maxParams: number } };
  readonly body: Buffer;
}

/** A request's parts once validated (and coerced, defaults filled in, unknowns stripped). */
export interface ValidatedInput {
  /** The declaration it was checked against. */
  readonly schema: RouteSchema;
  readonly params: Record<string, unknown>;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, unknown>;
  readonly body: unknown;
}

/** A validator stopping at the first failure: yes or no, its failures listed by another. */
type FirstFailure = NonNullable<FirstFailureValidator>;

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * The problem for a request that breaks its schema: 400 when the URL or headers do not fit (the
 * request is malformed for this route), 422 when a well-formed body does not.
 */
export function validationError(
  part: string,
  validate: ValidateFunction,
  status = part === 'body' ? 422 : 400,
): HttpError {
  const errors = failuresOf(part, validate.errors ?? []);
  const first = errors[0];
  const detail =
    first === undefined ? `the ${part} is not valid` : `${first.pointer} ${first.detail}`;
  return new HttpError(status, detail, { extensions: { errors } });
}

/**
 * Checks `value` with `first` (stops at the first failure); on a failure, `all` lists every one
 * for the answer. Validation only coerces, fills in defaults and strips, all idempotent, so the
 * second pass sees the same failures (and were it to pass, the value does fit the schema).
 */
function check(part: string, first: FirstFailure, all: ValidateFunction, value: unknown): void {
  if (!first(value) && !all(value)) throw validationError(part, all);
}

function paramsOf(h: SchemaSubject): Record<string, unknown> {
  const names = h.route?.paramNames ?? [];
  const params: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) {
    const name = names[i] as string;
    if (name !== '') params[name] = h.pathArgs[i];
  }
  return params;
}

function queryOf(h: SchemaSubject, c: CompiledSchema): Record<string, unknown> {
  // Only the declared names are read (and nothing is kept on the handler: `queryArguments`
  // parses them all, if a handler asks): a request held open keeps only its validated input.
  const query: Record<string, unknown> = {};
  const names = c.queryNames;
  const slots = pickUrlEncoded(
    h.queryString,
    h.application.settings.maxParams,
    names,
    c.queryArrays,
  );
  if (slots === null) return query;
  for (let i = 0; i < names.length; i++) {
    const value = slots[i];
    if (value !== undefined && value !== '') query[names[i] as string] = value;
  }
  return query;
}

function headersOf(h: SchemaSubject, c: CompiledSchema): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  for (const name of c.headerNames) {
    const value = h.request.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

/**
 * Reads and checks the request's declared parts, in the order path, headers, query, body; the
 * first part that fails answers (as an {@link HttpError} thrown). Synchronous: the body has been
 * read already.
 */
export function validateRequest(h: SchemaSubject, c: CompiledSchema): ValidatedInput {
  const first = c.firstFailure;
  const params = c.params === null ? EMPTY : paramsOf(h);
  if (c.params !== null) check('params', first.params as FirstFailure, c.params, params);
  const headers = c.headers === null ? EMPTY : headersOf(h, c);
  if (c.headers !== null) check('headers', first.headers as FirstFailure, c.headers, headers);
  const query = c.query === null ? EMPTY : queryOf(h, c);
  if (c.query !== null) check('query', first.query as FirstFailure, c.query, query);
  let body: unknown;
  if (c.body !== null) {
    body = parseJsonBody(h.body, h.request.headers['content-type']);
    check('body', first.body as FirstFailure, c.body, body);
  }
  return { schema: c.schema, params, query, headers, body };
}

/**
 * Checks a value that arrived otherwise (a WebSocket message, say) against the body schema of
 * `schema`, with the validator its route uses: the value typed (unknown properties stripped,
 * defaults filled in), or a 422 {@link HttpError} with the `errors` member.
 */
export function validateBody<S extends RouteSchema>(
  schema: S,
  value: unknown,
): RouteInput<S>['body'] {
  const compiled = compileSchema(schema);
  if (compiled.body === null) throw new TypeError('this schema declares no body');
  check('body', compiled.firstFailure.body as FirstFailure, compiled.body, value);
  return value as RouteInput<S>['body'];
}
