import type { Static, TObject, TSchema } from '@sinclair/typebox';

/**
 * What a request must look like and what the verb answers, for one verb of a handler class:
 * TypeBox schemas (plain JSON Schema underneath) for each part of the request and for the body of
 * each response status. Declare it with {@link route} and list it in the class's `static schema`.
 */
export interface RouteSchema {
  /** The route's path parameters by name, as captured by its template (strings, coerced). */
  readonly params?: TObject;
  /** Query arguments by name; a property whose schema is an array takes every value. */
  readonly query?: TObject;
  /** Request headers by lower-case name. */
  readonly headers?: TObject;
  /** The JSON body. Declared: a body that is not JSON is a 415, malformed JSON a 400. */
  readonly body?: TSchema;
  /** The body of each response status, serialized by {@link ApiHandler.reply}. */
  readonly responses?: Readonly<Record<number, TSchema>>;
  /**
   * Body properties the schema does not declare: `strip` (default) drops them before the verb
   * sees the body; `refuse` answers 422 with a pointer to each.
   */
  readonly unknownProperties?: 'strip' | 'refuse';
  /** One line for the API document. */
  readonly summary?: string;
  /** More words for the API document. */
  readonly description?: string;
  /** Groups in the API document; default: the handler's class name. */
  readonly tags?: readonly string[];
}

/** A handler class's schemas by verb function name (`get`, `post`, …). */
export type HandlerSchemas = Partial<
  Record<'get' | 'head' | 'post' | 'put' | 'patch' | 'delete' | 'options', RouteSchema>
>;

type StaticOr<S, K extends keyof RouteSchema, Fallback> = S extends {
  readonly [P in K]: infer T extends TSchema;
}
  ? Static<T>
  : Fallback;

/** The validated (and coerced) request of a verb declared with `S`, as the verb reads it. */
export interface RouteInput<S extends RouteSchema> {
  readonly params: StaticOr<S, 'params', Readonly<Record<string, string>>>;
  readonly query: StaticOr<S, 'query', Readonly<Record<string, never>>>;
  readonly headers: StaticOr<S, 'headers', Readonly<Record<string, never>>>;
  readonly body: StaticOr<S, 'body', undefined>;
}

/** The statuses `S` declares a response body for. */
export type ResponseStatus<S extends RouteSchema> = S extends {
  readonly responses: infer R;
}
  ? keyof R & number
  : never;

/** The value a response of `status` must be, as `S` declares it. */
export type ResponseValue<S extends RouteSchema, C extends number> = S extends {
  readonly responses: infer R;
}
  ? C extends keyof R
    ? R[C] extends TSchema
      ? Static<R[C]>
      : never
    : never
  : never;

/**
 * Declares the schema of one verb. It returns `schema` as it is, typed precisely, so that the verb
 * can read its input (`this.input(Post)`) and answer (`this.reply(Post, 201, value)`) typed from it.
 *
 * @example
 * const Post = route({
 *   body: Type.Object({ text: Type.String({ minLength: 1 }) }),
 *   responses: { 201: Message },
 * });
 */
export function route<const S extends RouteSchema>(schema: S): S {
  return schema;
}
