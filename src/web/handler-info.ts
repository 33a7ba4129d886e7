import { type CompiledSchemas, compiledSchemasOf } from './schema/compile.js';

/** A verb function's name: the lower-case HTTP method it answers. */
export type Verb = 'get' | 'head' | 'post' | 'put' | 'patch' | 'delete' | 'options';

/** The HTTP methods a handler can implement, each by the method of the same name in lower case. */
export const HANDLER_METHODS: readonly string[] = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'PATCH',
  'DELETE',
  'OPTIONS',
];

/**
 * The statics a handler class may set. They are not declared on `RequestHandler`: a subclass
 * would then have to mark them `override`, which existing handler classes do not.
 */
export interface HandlerStatics {
  /** `true`: the body goes to `dataReceived` piece by piece instead of being buffered. */
  readonly streamRequestBody?: boolean;
  /** `false`: the body is left unread, for someone else (`FallbackHandler`). */
  readonly readsBody?: boolean;
  /** This class's body limit; default: the application's `maxBodyBytes` setting. */
  readonly maxBodyBytes?: number;
}

/** Per-class facts, worked out once per handler class. */
export interface HandlerInfo {
  /** Method → name of the verb function that answers it (HEAD falls back to `get`). */
  readonly verbs: ReadonlyMap<string, Verb>;
  /** The `Allow` header value. */
  readonly allow: string;
  /** Whether the class overrides `onConnectionClose`, which needs a `close` listener. */
  readonly watchesClose: boolean;
  /** Whether the class overrides `onShutdown`, which needs the request tracked while it runs. */
  readonly watchesShutdown: boolean;
  /** Whether the class sets `static streamRequestBody = true`. */
  readonly streamsBody: boolean;
  /** False when the class sets `static readsBody = false` (the body is left to someone else). */
  readonly readsBody: boolean;
  /** The class's compiled schemas by verb function name (`static schema`); `null`: none. */
  readonly schemas: CompiledSchemas;
}

/** Where a class keeps its facts: an own static property (a WeakMap lookup cost more per request). */
const kInfo = Symbol('handlerInfo');
type WithInfo = { [kInfo]?: HandlerInfo & { readonly owner: unknown } };
/** The facts of classes that cannot take the property (frozen ones). */
const frozenClasses = new WeakMap<object, HandlerInfo>();

/** The statics of a handler's class. */
export function staticsOf(handler: object): HandlerStatics {
  return handler.constructor as unknown as HandlerStatics;
}

/** Whether the class of `proto` overrides `hook`, defined first by the root of its class chain. */
function overrides(proto: object, hook: string): boolean {
  let root: object | null = null;
  for (let p: object | null = proto; p !== null && p !== Object.prototype; ) {
    if (Object.hasOwn(p, hook)) root = p;
    p = Object.getPrototypeOf(p) as object | null;
  }
  if (root === null) return false;
  return (proto as Record<string, unknown>)[hook] !== (root as Record<string, unknown>)[hook];
}

/** Works out (once per class) which verbs a handler class answers and which hooks it uses. */
export function handlerInfoOf(handler: object): HandlerInfo {
  const klass = handler.constructor as typeof handler.constructor & WithInfo;
  const known = klass[kInfo]; // a subclass sees its parent's through the prototype chain: owner
  if (known !== undefined && known.owner === klass) return known;
  const frozen = frozenClasses.get(klass);
  if (frozen !== undefined) return frozen;
  const verbs = new Map<string, Verb>();
  const functions = handler as Partial<Record<Verb, unknown>>;
  for (const method of HANDLER_METHODS) {
    const name = method.toLowerCase() as Verb;
    if (typeof functions[name] === 'function') verbs.set(method, name);
  }
  if (!verbs.has('HEAD') && verbs.has('GET')) verbs.set('HEAD', 'get');
  const allowed = new Set(verbs.keys());
  allowed.add('OPTIONS');
  const proto = Object.getPrototypeOf(handler) as object;
  const statics = staticsOf(handler);
  const info = {
    owner: klass,
    verbs,
    allow: HANDLER_METHODS.filter((m) => allowed.has(m)).join(', '),
    watchesClose: overrides(proto, 'onConnectionClose'),
    watchesShutdown: overrides(proto, 'onShutdown'),
    streamsBody: statics.streamRequestBody === true,
    readsBody: statics.readsBody !== false,
    schemas: compiledSchemasOf(klass),
  };
  if (Object.isExtensible(klass)) Object.defineProperty(klass, kInfo, { value: info });
  else frozenClasses.set(klass, info);
  return info;
}
