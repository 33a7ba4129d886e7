import { withCode } from '../errors.js';
import { RequestHandler } from '../handler.js';
import { handlerInfoOf } from '../handler-info.js';
import { INPUT_DROPPED, kFlags, kInput } from '../handler-state.js';
import { putHeader } from '../response.js';
import { compileSchema } from './compile.js';
import type { ResponseStatus, ResponseValue, RouteInput, RouteSchema } from './define.js';
import { type ValidatedInput, validateRequest } from './validate.js';

/**
 * A {@link RequestHandler} for JSON APIs: its verbs read their request as declared in the class's
 * `static schema` (validated and coerced before the verb runs; a request that does not fit never
 * reaches it) and answer through the declared response schemas.
 *
 * @example
 * const Post = route({ body: Type.Object({ text: Type.String() }), responses: { 201: Message } });
 * class Messages extends ApiHandler {
 *   static schema = { post: Post };
 *   override post() {
 *     const { body } = this.input(Post); // { text: string }
 *     this.reply(Post, 201, store(body.text)); // a value that is not a Message does not compile
 *   }
 * }
 */
export class ApiHandler<O = undefined, U = unknown> extends RequestHandler<O, U> {
  /**
   * The validated request of the running verb, typed from `schema`: the one the class's
   * `static schema` lists for this verb (any other throws, `ERR_SCHEMA_MISMATCH`). A verb that
   * holds its request (`holdRequest()`) lets it go when it returns, so that a held request keeps
   * no copy: read later (when the request is released, say), the request is validated again,
   * to the same values (changes made to the first object are not in the new one).
   */
  input<S extends RouteSchema>(schema: S): RouteInput<S> {
    const input = this[kInput] ?? revalidated(this);
    if (input === null || input.schema !== schema) {
      throw withCode(
        new Error(`${this.constructor.name}: this verb's static schema is not the one given`),
        'ERR_SCHEMA_MISMATCH',
      );
    }
    return input as unknown as RouteInput<S>;
  }

  /**
   * Answers `status` with `value` as JSON, serialized by the compiled serializer of that status
   * in `schema`: properties the schema does not declare are left out (204 and 304 go out without
   * a body). Finishes the response.
   */
  reply<S extends RouteSchema, C extends ResponseStatus<S>>(
    schema: S,
    status: C,
    value: ResponseValue<S, C>,
  ): void {
    const serialize = compileSchema(schema).serializers.get(status);
    if (serialize === undefined) {
      throw withCode(new Error(`no response schema for status ${status}`), 'ERR_SCHEMA_MISMATCH');
    }
    this.setStatus(status);
    if (status === 204 || status === 304) {
      this.finish(); // no body: the declaration (`Type.Null()`) is for the API document
      return;
    }
    // A constant, checked already: straight into the pending headers, as `write(value)` sets it.
    putHeader(this.response, 'Content-Type', 'application/json; charset=utf-8');
    this.finish(serialize(value));
  }
}

/** The input dropped when the verb returned holding the request, validated again; or `null`. */
function revalidated(h: ApiHandler<unknown, unknown>): ValidatedInput | null {
  if ((h[kFlags] & INPUT_DROPPED) === 0) return null;
  const info = handlerInfoOf(h);
  const verb = info.verbs.get(h.method);
  const compiled = verb === undefined || info.schemas === null ? undefined : info.schemas.get(verb);
  if (compiled === undefined) return null;
  h[kInput] = validateRequest(h, compiled);
  return h[kInput];
}
